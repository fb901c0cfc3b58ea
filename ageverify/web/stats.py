"""``GET /v1/stats``: issuance counts per UTC day, method and age fact, for auditors.

Public and cacheable like the other documents auditors read. The answer is
aggregate only: cells under ``AGEVERIFY_STATS_MIN_COUNT`` and days not yet
over are left out (see :mod:`ageverify.issuer.stats` for why).

Query parameters, both optional, each at most once and nothing else:
``from`` and ``to``, UTC days as YYYY-MM-DD, both included, at most
:data:`~ageverify.issuer.stats.MAX_DAYS` days apart. Without ``to`` the range
ends :data:`~ageverify.issuer.stats.MAX_DAYS` days after ``from``, or
yesterday when ``from`` is missing too; without ``from`` it starts
:data:`~ageverify.issuer.stats.MAX_DAYS` days before ``to`` ends.
"""

from __future__ import annotations

import datetime
import logging
import re

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from ageverify.errors import AgeVerifyError
from ageverify.issuer.stats import MAX_DAYS, IssuanceStats, issuance_stats
from ageverify.web.runtime import runtime

bp = Blueprint("stats", __name__)
log = logging.getLogger("ageverify.web")

STATS_PATH = "/v1/stats"
CACHE_CONTROL = "public, max-age=300"
PARAMETERS = ("from", "to")
# Exactly YYYY-MM-DD in ASCII digits: date.fromisoformat alone also takes
# 20261127, 2026-W48-5 and non-ASCII digits.
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SPAN = datetime.timedelta(days=MAX_DAYS - 1)


def _refuse(description: str) -> AgeVerifyError:
    return AgeVerifyError("invalid-request", description)


def _day(name: str) -> datetime.date | None:
    values = request.args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise _refuse(f"`{name}` is given more than once.")
    if not _DAY.fullmatch(values[0]):
        raise _refuse(f"`{name}` must be a day written YYYY-MM-DD.")
    try:
        return datetime.date.fromisoformat(values[0])
    except ValueError:
        raise _refuse(f"`{name}` is not a calendar day.") from None


def _range(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    unknown = sorted(set(request.args) - set(PARAMETERS))
    if unknown:
        raise _refuse("Unknown query parameter; only `from` and `to` are accepted.")
    first, last = _day("from"), _day("to")
    try:
        if last is None:
            last = first + _SPAN if first is not None else today - datetime.timedelta(days=1)
        if first is None:
            first = last - _SPAN
    except OverflowError:  # a default that would fall outside years 1 to 9999
        raise _refuse(
            "Give both `from` and `to` for a range this close to year 1 or 9999."
        ) from None
    if last < first:
        raise _refuse("`from` is after `to`.")
    if last - first > _SPAN:
        raise _refuse(f"A range covers at most {MAX_DAYS} days.")
    return first, last


def _document(stats: IssuanceStats) -> dict[str, object]:
    return {
        "from": stats.first_day.isoformat(),
        "to": stats.last_day.isoformat(),
        "minimum_count": stats.minimum_count,
        "days": [
            {
                "day": cell.day.isoformat(),
                "method": cell.method,
                "threshold": cell.threshold,
                "over": cell.over,
                "count": cell.count,
            }
            for cell in stats.cells
        ],
        "suppressed": stats.suppressed,
    }


@bp.get(STATS_PATH)
def stats() -> Response:
    """Issuance counts per day x method x threshold x over, small cells suppressed."""
    state = runtime()
    today = datetime.datetime.fromtimestamp(state.clock(), datetime.UTC).date()
    first, last = _range(today)
    try:
        with state.sessions() as session:
            result = issuance_stats(
                session,
                first_day=first,
                last_day=last,
                today=today,
                minimum_count=state.settings.stats_min_count,
            )
    except SQLAlchemyError as error:  # a busy database is a 503, not a 500
        log.warning("stats: issuance counts unavailable: %s", type(error).__name__)
        raise AgeVerifyError("unavailable") from None
    response = jsonify(_document(result))
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
