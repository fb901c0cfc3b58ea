"""GET /v1/stats: aggregate issuance counts for auditors, small cells suppressed."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from presenting import HeldCredential, MovableClock

from ageverify import create_app
from ageverify.config import Settings
from ageverify.demo import DEMO_METHOD, DemoVerifier, register_demo_verifier
from ageverify.errors import ConfigurationError
from ageverify.issuer.stats import issuance_stats

STATS = "/v1/stats"
# Small enough to reach in a test; the default (10) is checked below.
MIN_COUNT = 3
# Noon UTC, so that a test's issuances never straddle midnight.
NOON = datetime.datetime(2026, 11, 20, 12, tzinfo=datetime.UTC)
DAY = 86_400
ISSUE_DAY = NOON.date().isoformat()
NEXT_DAY = (NOON.date() + datetime.timedelta(days=1)).isoformat()


@pytest.fixture
def clock() -> MovableClock:
    """The app's clock, at noon UTC on a fixed day."""
    return MovableClock(NOON.timestamp())


@pytest.fixture
def app(instance: Path, clock: MovableClock) -> Iterator[Flask]:
    """The development issuer of tests/conftest.py, suppressing cells under MIN_COUNT."""
    application = create_app(
        {"env": "development", "instance_path": instance, "stats_min_count": MIN_COUNT},
        clock=clock,
    )
    state = application.extensions["ageverify"]
    register_demo_verifier(state.sessions, DemoVerifier.load_or_create(instance), now=clock())
    yield application
    state.close()


def _issue_many(issue: Callable[..., list[HeldCredential]], times: int, age: int) -> None:
    for _ in range(times):
        issue(count=1, age=age)


def _cells(body: dict[str, object]) -> dict[tuple[str, str, int, bool], int]:
    days = body["days"]
    assert isinstance(days, list)
    return {(c["day"], c["method"], c["threshold"], c["over"]): c["count"] for c in days}


def test_counts_of_real_issuances_appear_once_the_day_is_over(
    client: FlaskClient, issue: Callable[..., list[HeldCredential]], clock: MovableClock
) -> None:
    _issue_many(issue, MIN_COUNT, age=30)
    # The day is not over: nothing of it is shown yet, not even as suppressed.
    today = client.get(STATS, query_string={"from": ISSUE_DAY, "to": ISSUE_DAY}).json
    assert (today["days"], today["suppressed"]) == ([], 0)

    clock.advance(DAY)
    response = client.get(STATS)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    body = response.json
    assert (body["to"], body["minimum_count"], body["suppressed"]) == (ISSUE_DAY, MIN_COUNT, 0)
    thresholds = client.application.extensions["ageverify"].settings.thresholds
    # A batch counts once, whatever its size: one count per attested age fact.
    assert _cells(body) == {(ISSUE_DAY, DEMO_METHOD, t, True): MIN_COUNT for t in thresholds}


def test_a_cell_under_the_minimum_is_left_out_and_counted_as_suppressed(
    client: FlaskClient, issue: Callable[..., list[HeldCredential]], clock: MovableClock
) -> None:
    # MIN_COUNT people aged 30 and MIN_COUNT - 1 aged 16: over 18 is true
    # MIN_COUNT times (shown) and false MIN_COUNT - 1 times (suppressed).
    _issue_many(issue, MIN_COUNT, age=30)
    _issue_many(issue, MIN_COUNT - 1, age=16)
    clock.advance(DAY)
    body = client.get(STATS).json
    cells = _cells(body)
    assert cells[(ISSUE_DAY, DEMO_METHOD, 18, True)] == MIN_COUNT
    assert cells[(ISSUE_DAY, DEMO_METHOD, 16, True)] == 2 * MIN_COUNT - 1
    # Over 18 false and over 21 false: MIN_COUNT - 1 each, never shown, not even as 0.
    assert (ISSUE_DAY, DEMO_METHOD, 18, False) not in cells
    assert (ISSUE_DAY, DEMO_METHOD, 21, False) not in cells
    assert body["suppressed"] == 2
    assert all(count >= MIN_COUNT for count in cells.values())

    # One more sixteen-year-old on the same day brings both cells to the minimum.
    clock.advance(-DAY)
    issue(count=1, age=16)
    clock.advance(DAY)
    body = client.get(STATS).json
    cells = _cells(body)
    assert cells[(ISSUE_DAY, DEMO_METHOD, 18, False)] == MIN_COUNT
    assert cells[(ISSUE_DAY, DEMO_METHOD, 21, False)] == MIN_COUNT
    assert body["suppressed"] == 0


def test_from_and_to_select_days(
    client: FlaskClient, issue: Callable[..., list[HeldCredential]], clock: MovableClock
) -> None:
    _issue_many(issue, MIN_COUNT, age=30)
    clock.advance(DAY)
    _issue_many(issue, MIN_COUNT, age=30)
    clock.advance(DAY)

    def days(**query: str) -> set[str]:
        response = client.get(STATS, query_string=query)
        assert response.status_code == 200, response.json
        return {cell["day"] for cell in response.json["days"]}

    assert days() == {ISSUE_DAY, NEXT_DAY}
    assert days(to=ISSUE_DAY) == {ISSUE_DAY}
    assert days(**{"from": NEXT_DAY}) == {NEXT_DAY}
    assert days(**{"from": NEXT_DAY, "to": NEXT_DAY}) == {NEXT_DAY}
    assert days(**{"from": "2026-11-01", "to": "2026-11-19"}) == set()
    # A one-day range is allowed, and so are 366 days.
    body = client.get(STATS, query_string={"from": "2025-11-20", "to": ISSUE_DAY}).json
    assert (body["from"], body["to"]) == ("2025-11-20", ISSUE_DAY)
    assert {cell["day"] for cell in body["days"]} == {ISSUE_DAY}


def test_default_range_ends_yesterday_and_covers_366_days(client: FlaskClient) -> None:
    body = client.get(STATS).json
    assert (body["from"], body["to"]) == ("2025-11-19", "2026-11-19")
    assert (body["days"], body["suppressed"]) == ([], 0)


@pytest.mark.parametrize(
    ("query", "defect"),
    [
        ("from=2026-1-05", "month without its leading zero"),
        ("from=20261120", "basic ISO format"),
        ("from=2026-W47-5", "week date"),
        ("to=2026-11-20T00:00:00", "a time as well"),
        ("to=2026-02-30", "no such calendar day"),
        ("to=2026-13-01", "no such month"),
        ("from=%EF%BC%92026-11-20", "a non-ASCII digit"),
        ("from=", "empty"),
        ("from=+2026-11-20", "a sign"),
        ("from=2026-11-20&from=2026-11-21", "repeated"),
        ("from=2026-11-21&to=2026-11-20", "from after to"),
        ("from=2025-11-18&to=2026-11-19", "367 days"),
        ("day=2026-11-20", "unknown parameter"),
        ("from=2026-11-20&min_count=1", "an attempt to lower the minimum"),
        ("from=9999-12-31", "a default end after year 9999"),
        ("to=0001-01-01", "a default start before year 1"),
    ],
)
def test_bad_parameters_are_refused_with_invalid_request(
    client: FlaskClient, query: str, defect: str
) -> None:
    response = client.get(f"{STATS}?{query}")
    assert response.status_code == 400, defect
    assert response.json["code"] == "invalid-request", defect
    assert set(response.json) == {"code", "description"}


def test_response_holds_nothing_but_the_aggregate_fields(
    client: FlaskClient, issue: Callable[..., list[HeldCredential]], clock: MovableClock
) -> None:
    _issue_many(issue, MIN_COUNT, age=30)
    _issue_many(issue, 1, age=16)
    clock.advance(DAY)
    body = client.get(STATS).json
    assert set(body) == {"from", "to", "minimum_count", "days", "suppressed"}
    assert body["days"]
    for cell in body["days"]:
        assert set(cell) == {"day", "method", "threshold", "over", "count"}
        assert isinstance(cell["threshold"], int) and isinstance(cell["count"], int)
        assert isinstance(cell["over"], bool)
    assert body["suppressed"] > 0


def test_domain_function_needs_no_app(app: Flask) -> None:
    state = app.extensions["ageverify"]
    day = NOON.date()
    with state.sessions() as session:
        stats = issuance_stats(
            session, first_day=day, last_day=day, today=day, minimum_count=MIN_COUNT
        )
        assert (stats.cells, stats.suppressed) == ((), 0)
        with pytest.raises(ValueError, match="366"):
            issuance_stats(
                session,
                first_day=day - datetime.timedelta(days=366),
                last_day=day,
                today=day,
                minimum_count=MIN_COUNT,
            )


def test_a_cell_is_the_sum_of_its_shards_and_the_minimum_applies_to_the_sum(
    app: Flask, client: FlaskClient, clock: MovableClock
) -> None:
    from ageverify.storage.models import IssuanceCount

    def rows(threshold: int, over: bool, counts: dict[int, int]) -> list[IssuanceCount]:
        return [
            IssuanceCount(
                day=ISSUE_DAY, method="bank", threshold=threshold, over=over, shard=s, count=c
            )
            for s, c in counts.items()
        ]

    state = app.extensions["ageverify"]
    with state.sessions.begin() as session:
        # Each shard under the minimum, their sum over it: shown, as the sum.
        session.add_all(rows(18, True, {0: MIN_COUNT - 1, 7: 1, 31: MIN_COUNT - 1}))
        # Spread over two shards and under the minimum in all: one cell suppressed.
        session.add_all(rows(18, False, {3: 1, 4: MIN_COUNT - 2}))
        # Rows of 0 (as an upsert may leave) add nothing.
        session.add_all(rows(21, True, {0: 0, 1: 0}))
    clock.advance(DAY)
    body = client.get(STATS).json
    assert _cells(body) == {(ISSUE_DAY, "bank", 18, True): 2 * MIN_COUNT - 1}
    assert body["suppressed"] == 1


def test_minimum_count_setting() -> None:
    base = {"env": "production", "issuer_url": "https://age.example", "key_passphrase": "x"}
    assert Settings.load({}, **base).stats_min_count == 10
    assert Settings.load({"AGEVERIFY_STATS_MIN_COUNT": "25"}, **base).stats_min_count == 25
    # A minimum of 1 would publish single issuances.
    with pytest.raises(ConfigurationError, match="AGEVERIFY_STATS_MIN_COUNT"):
        Settings.load({"AGEVERIFY_STATS_MIN_COUNT": "1"}, **base)
