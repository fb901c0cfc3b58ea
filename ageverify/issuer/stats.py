"""Issuance statistics for auditors: how many issuances attested which age fact, per day.

The issuer keeps no record per person, only :class:`IssuanceCount` rows (UTC
day x verification method x age threshold x over true/false -> count, each
cell spread over a few rows that are added up here, with the rows of
:class:`IssuanceCountBefore0003`). Even these can single out a person:
someone known to have verified on a given day with a rarely used method is
the one issuance in a cell of 1, and that cell tells their age band. So a
cell counting fewer than a minimum is left out and only the number of cells
left out is told, never as a count of 0; a day that is not over yet is never
shown, since its counts grow one issuance at a time and watching them would
date each one.

What this does not hide: cells of one day and method that are each above the
minimum can still be subtracted from one another (over 13 minus over 16 is
the number of people aged 13 to 15 that day). Deployments with few issuances
per day should raise the minimum accordingly.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session

from ageverify.storage.models import IssuanceCount, IssuanceCountBefore0003

# The longest range one query may cover, first and last day included.
MAX_DAYS = 366


@dataclass(frozen=True)
class IssuanceCell:
    """Issuances on ``day`` by ``method`` attesting ``age_over_<threshold>`` = ``over``."""

    day: datetime.date
    method: str
    threshold: int
    over: bool
    count: int


@dataclass(frozen=True)
class IssuanceStats:
    """The cells of a day range that reach ``minimum_count``, and how many did not."""

    first_day: datetime.date
    last_day: datetime.date
    minimum_count: int
    cells: tuple[IssuanceCell, ...]
    suppressed: int


def issuance_stats(
    session: Session,
    *,
    first_day: datetime.date,
    last_day: datetime.date,
    today: datetime.date,
    minimum_count: int,
) -> IssuanceStats:
    """Issuance counts from ``first_day`` to ``last_day`` (UTC days, both included).

    Days from ``today`` on are left out: they are not over. A cell counting
    fewer than ``minimum_count`` issuances is not returned but counted in
    ``suppressed``. Cells come ordered by day, method, threshold and over.
    Raises ``ValueError`` when the range is empty, longer than
    :data:`MAX_DAYS` or ``minimum_count`` is below 1.
    """
    if minimum_count < 1:
        raise ValueError("minimum_count must be at least 1")
    if last_day < first_day:
        raise ValueError("last_day is before first_day")
    if (last_day - first_day).days + 1 > MAX_DAYS:
        raise ValueError(f"a range covers at most {MAX_DAYS} days")
    before = min(last_day + datetime.timedelta(days=1), today)
    # A cell is the sum of its rows (see IssuanceCount): the minimum applies to the sum.
    rows = union_all(
        *(
            select(table.day, table.method, table.threshold, table.over, table.count)
            # Days are stored as YYYY-MM-DD, so text order is date order.
            .where(table.day >= first_day.isoformat(), table.day < before.isoformat())
            for table in (IssuanceCount, IssuanceCountBefore0003)
        )
    ).subquery()
    cell = (rows.c.day, rows.c.method, rows.c.threshold, rows.c.over)
    total = func.sum(rows.c.count)
    query = select(*cell, total).group_by(*cell).having(total > 0).order_by(*cell)
    cells: list[IssuanceCell] = []
    suppressed = 0
    for day, method, threshold, over, count in session.execute(query):
        if count < minimum_count:
            suppressed += 1
            continue
        cells.append(
            IssuanceCell(
                day=datetime.date.fromisoformat(day),
                method=method,
                threshold=int(threshold),
                over=bool(over),
                count=int(count),
            )
        )
    return IssuanceStats(
        first_day=first_day,
        last_day=last_day,
        minimum_count=minimum_count,
        cells=tuple(cells),
        suppressed=suppressed,
    )
