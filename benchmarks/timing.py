"""Median timing that tolerates a shared, noisy machine."""

from __future__ import annotations

import gc
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


def paired_seconds(
    measured: Callable[[], object],
    floor: Callable[[], object],
    *,
    number: int,
    floor_number: int | None = None,
    rounds: int = 7,
    per: int = 1,
) -> tuple[float, float, float]:
    """Time ``measured`` and its ``floor`` in alternating rounds: (measured, floor, ratio).

    Each round runs ``measured`` ``number`` times and ``floor``
    ``floor_number`` times (default ``number``), one right after the other,
    the first of the two alternating; ``per`` divides a ``measured`` call
    (a batch of ``per`` items). Returns the median per-item time of each and
    the median of the rounds' ratios: a round that another process slowed
    down slows both halves alike, so the ratio holds where the times drift.

    The garbage collector runs first: the set-up's leftovers are not
    collected in some round at the expense of whichever half it interrupts.
    It stays enabled, so a measured call that leaves objects behind still
    pays for the collections it causes.
    """
    floor_number = floor_number or number
    gc.collect()

    def timed(call: Callable[[], object], count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            call()
        return (time.perf_counter() - start) / count

    pairs = []
    for index in range(rounds):
        if index % 2:
            floor_time = timed(floor, floor_number)
            measured_time = timed(measured, number) / per
        else:
            measured_time = timed(measured, number) / per
            floor_time = timed(floor, floor_number)
        pairs.append((measured_time, floor_time))
    return (
        statistics.median(m for m, _ in pairs),
        statistics.median(f for _, f in pairs),
        statistics.median(m / f for m, f in pairs),
    )


Row = tuple[str, float, float, float | None] | tuple[str, float, float, float | None, float]


def report(rows: list[Row]) -> str:
    """Format (name, measured s, floor s, target ratio or None[, ratio]) rows as a table.

    The ratio is measured / floor unless the row gives its own (the median
    of paired rounds, see :func:`paired_seconds`). A row without a target is
    reported only: no verdict is made up for it.
    """
    lines = [f"{'figure':<52} {'measured':>10} {'floor':>10} {'ratio':>6} {'target':>7}"]
    for row in rows:
        name, measured, floor, target = row[:4]
        ratio = row[4] if len(row) == 5 else measured / floor
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
