"""Engine, schema and transaction behaviour of the storage layer."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateTable

from ageverify.storage import (
    Base,
    Verifier,
    VerifierKey,
    create_schema,
    make_engine,
    session_factory,
    transaction,
)


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    create_schema(engine)
    yield session_factory(engine)
    engine.dispose()


def _verifier(verifier_id: str = "v1") -> Verifier:
    return Verifier(id=verifier_id, name="V", methods=["bank"], status="active", created_at=1)


def test_sqlite_connections_use_wal_and_foreign_keys(sessions):
    with sessions() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert session.execute(text("PRAGMA busy_timeout")).scalar() >= 1000


def test_transaction_commits(sessions):
    with transaction(sessions) as session:
        session.add(_verifier())
    with sessions() as session:
        assert session.get(Verifier, "v1").methods == ["bank"]


def test_transaction_rolls_back_everything_on_error(sessions):
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        session.add(_verifier())
        session.flush()
        raise RuntimeError("boom")
    with sessions() as session:
        assert session.scalars(select(Verifier)).all() == []


def test_foreign_keys_are_enforced(sessions):
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        session.add(VerifierKey(verifier_id="nobody", kid="k", alg="ES256", jwk={}))


def test_status_check_constraint(sessions):
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        session.add(Verifier(id="v", name="V", methods=[], status="maybe", created_at=1))


def test_write_transactions_are_serialised(sessions):
    """A read-then-write transaction never fails because another writer got in between."""
    with transaction(sessions) as session:
        session.add(_verifier())
    errors: list[BaseException] = []

    def bump(name: str) -> None:
        try:
            with transaction(sessions) as session:
                verifier = session.get(Verifier, "v1")
                time.sleep(0.05)  # widen the window between the read and the write
                verifier.name = verifier.name + name
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=(str(i),)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with sessions() as session:
        assert sorted(session.get(Verifier, "v1").name[1:]) == ["0", "1", "2", "3"]


def test_in_memory_database_is_shared_between_sessions():
    engine = make_engine("sqlite://")
    create_schema(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        session.add(_verifier())
    with sessions() as session:
        assert session.get(Verifier, "v1") is not None


def test_create_schema_is_idempotent(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'again.db'}")
    create_schema(engine)
    create_schema(engine)


@pytest.mark.parametrize("table", sorted(Base.metadata.tables))
def test_schema_compiles_for_postgresql(table):
    """No SQLite-only types: every table has valid PostgreSQL DDL."""
    ddl = str(CreateTable(Base.metadata.tables[table]).compile(dialect=postgresql.dialect()))
    assert "CREATE TABLE" in ddl
