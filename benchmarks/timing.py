"""Median timing that tolerates a shared, noisy machine."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(call: Callable[[], object], *, number: int, rounds: int = 7) -> float:
    """Run ``call`` ``number`` times per round for ``rounds`` rounds; the median per-call time.

    The median of rounds, not the mean, so that another process stealing the
    CPU for one round does not move the figure.
    """
    per_call = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            call()
        per_call.append((time.perf_counter() - start) / number)
    return statistics.median(per_call)


def report(rows: list[tuple[str, float, float, float | None]]) -> str:
    """Format (name, measured s, floor s, target ratio or None) rows as a table.

    A row without a target is reported only: no verdict is made up for it.
    """
    lines = [f"{'figure':<52} {'measured':>10} {'floor':>10} {'ratio':>6} {'target':>7}"]
    for name, measured, floor, target in rows:
        ratio = measured / floor
        if target is None:
            bound, verdict = "-", ""
        else:
            bound = "<=" + format(target, ".1f")
            verdict = "ok" if ratio <= target else "OVER"
        lines.append(
            f"{name:<52} {measured * 1e6:>8.1f}us {floor * 1e6:>8.1f}us "
            f"{ratio:>6.2f} {bound:>6} {verdict}"
        )
    return "\n".join(lines)
