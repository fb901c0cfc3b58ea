"""Engine, schema and transaction behaviour of the storage layer."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateTable

from ageverify.storage import (
    Base,
    IssuanceCount,
    Verifier,
    VerifierKey,
    create_schema,
    make_engine,
    session_factory,
    transaction,
)
from ageverify.storage.db import CompiledStatement


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


_COUNTS = Base.metadata.tables[IssuanceCount.__tablename__]


def test_compiled_statement_runs_like_core(sessions):
    record = CompiledStatement(insert(_COUNTS))
    # The literal 1 of "count + 1" is a bind of the compiled SQL as well.
    bump = CompiledStatement(
        update(_COUNTS)
        .where(_COUNTS.c.day == bindparam("k_day"), _COUNTS.c.over == bindparam("k_over"))
        .values(count=_COUNTS.c.count + 1)
        .returning(_COUNTS.c.threshold, _COUNTS.c.over)
    )
    row = {"day": "2026-01-01", "method": "bank", "threshold": 18, "over": True, "count": 1}
    with transaction(sessions) as session:
        record.execute(session.connection(), row)
        found = bump.execute(session.connection(), {"k_day": "2026-01-01", "k_over": True})
        assert [(threshold, bool(over)) for threshold, over in found] == [(18, True)]
        with pytest.raises(IntegrityError):
            record.execute(session.connection(), row)
    with sessions() as session:
        assert session.scalar(select(IssuanceCount.count)) == 2


def test_compiled_statement_uses_the_dialect_parameter_style():
    statement = select(_COUNTS.c.count).where(
        _COUNTS.c.method == "bank", _COUNTS.c.day == bindparam("day")
    )
    compiled = statement.compile(dialect=postgresql.dialect())
    assert "%(day)s" in compiled.string and not compiled.positional
    calls = []

    class Recorder:
        dialect = postgresql.dialect()

        def exec_driver_sql(self, sql, arguments):
            calls.append((sql, arguments))

    CompiledStatement(statement).execute(Recorder(), {"day": "2026-01-01"})  # type: ignore[arg-type]
    ((sql, arguments),) = calls
    assert "%(day)s" in sql
    assert arguments["day"] == "2026-01-01" and "bank" in arguments.values()
