"""Fixtures of the storage tests: a real PostgreSQL server (see tests/pg.py) and its databases.

The server starts once per run, on first use. Without PostgreSQL binaries
the tests that need it skip, except under ``CI=true``, where they fail: CI
must never pass by not testing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pg import PostgresServer, PostgresUnavailable


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole run, stopped and deleted at its end."""
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as error:
        message = f"PostgreSQL cannot be started: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """The URL of a new, empty PostgreSQL schema, the only one its connections see."""
    return postgres.create_schema()
