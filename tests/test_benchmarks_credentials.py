"""The credentials benchmark and its timing, without judging any figure.

``python -m benchmarks.credentials --quick`` runs here in full (a few
seconds): every row is printed with its floor, ratio and target. The paired
timing is checked on calls whose cost is known.
"""

from __future__ import annotations

import gc
import re
import sys

import pytest

from benchmarks import credentials, timing

ROW = re.compile(
    r"^(?P<name>.+?)\s+(?P<measured>[\d.]+)us\s+(?P<floor>[\d.]+)us\s+"
    r"(?P<ratio>[\d.]+)\s+<=(?P<target>[\d.]+) (?:ok|OVER)$"
)


def test_quick_run_prints_every_row(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["credentials", "--quick"])
    credentials.main()
    lines = capsys.readouterr().out.strip().splitlines()
    rows = [ROW.match(line) for line in lines[1:]]
    assert all(rows), lines
    assert [row["name"] for row in rows if row] == [
        "issuance per credential, batch of 30 (Issuer, with DB)",
        "issuance per credential, batch of 30 (signing core)",
        "verification, first visit (Verifier.verify)",
        "verification, returning visitor (Verifier.verify)",
    ]
    assert [float(row["target"]) for row in rows if row] == [2.0, 2.0, 1.6, 1.6]
    assert all(float(row["measured"]) > 0 and float(row["floor"]) > 0 for row in rows if row)


def test_paired_timing_divides_by_items_and_collects_garbage_first() -> None:
    calls = {"measured": 0, "floor": 0}
    collections = []

    def measured() -> None:
        calls["measured"] += 1

    def floor() -> None:
        calls["floor"] += 1

    def on_collect(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            collections.append(dict(calls))

    gc.callbacks.append(on_collect)
    try:
        result = timing.paired_seconds(measured, floor, number=4, floor_number=8, rounds=3, per=2)
    finally:
        gc.callbacks.remove(on_collect)
    assert calls == {"measured": 12, "floor": 24}
    # A full collection before the first round: none of the set-up's garbage is left to it.
    assert collections[0] == {"measured": 0, "floor": 0}
    measured_time, floor_time, _ = result
    assert measured_time > 0 and floor_time > 0
