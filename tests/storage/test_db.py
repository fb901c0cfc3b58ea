"""Engine, schema and transaction behaviour of the storage layer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.schema import CreateTable

from ageverify.errors import ConfigurationError
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
from ageverify.storage.db import (
    LOCK_TIMEOUT_MS,
    CompiledStatement,
    KeptConnection,
    ScalarReader,
    announce_log_append,
    lock_writers,
)


def _sessions(url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(url)
    create_schema(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database: a SQLite file, then one on the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on ``database_url`` with the schema."""
    yield from _sessions(database_url)


@pytest.fixture
def sqlite_sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """Sessions on a SQLite file with the schema."""
    yield from _sessions(f"sqlite:///{tmp_path / 'test.db'}")


def _verifier(verifier_id: str = "v1") -> Verifier:
    return Verifier(id=verifier_id, name="V", methods=["bank"], status="active", created_at=1)


def test_sqlite_connections_use_wal_and_foreign_keys(sqlite_sessions):
    sessions = sqlite_sessions
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


def test_a_sqlite_writer_lock_not_granted_is_a_sqlalchemy_operational_error(tmp_path):
    """BEGIN IMMEDIATE goes straight to the driver; its failure still arrives wrapped.

    The web layer answers sqlalchemy's OperationalError with 503
    ``unavailable``; the driver's own sqlite3.OperationalError would be a 500.
    """
    import sqlite3

    path = tmp_path / "busy.db"
    engine = make_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    create_schema(engine)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA busy_timeout=50")
        with pytest.raises(OperationalError) as raised, transaction(session_factory(engine)):
            pass  # pragma: no cover - BEGIN IMMEDIATE fails first
        assert isinstance(raised.value.orig, sqlite3.OperationalError)
        assert "locked" in str(raised.value.orig)
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()


def test_scalar_reader_raises_driver_errors_as_sqlalchemy_errors(database_url):
    engine = make_engine(database_url)
    reader = ScalarReader(engine, "SELECT count(*) FROM no_such_table")
    try:
        with pytest.raises(DBAPIError) as raised:
            reader.read()
        assert not raised.value.connection_invalidated
        # The next read opens a connection again and answers.
        assert ScalarReader(engine, "SELECT 41 + 1").read() == 42
        with pytest.raises(DBAPIError):
            reader.read()
    finally:
        reader.close()
        engine.dispose()


def test_scalar_reader_sees_each_commit_at_once(database_url):
    engine = make_engine(database_url)
    create_schema(engine)
    reader = ScalarReader(engine, "SELECT count(*) FROM verifiers")
    try:
        assert reader.read() == 0
        with transaction(session_factory(engine)) as session:
            session.add(_verifier())
        # No transaction left open on the kept connection: the commit shows.
        assert reader.read() == 1
    finally:
        reader.close()
        engine.dispose()


def test_scalar_reader_replaces_a_connection_the_server_dropped(pg_url):
    engine = make_engine(pg_url)
    reader = ScalarReader(engine, "SELECT pg_backend_pid()")
    try:
        backend = reader.read()
        assert reader.read() == backend  # the same connection, kept
        killer = make_engine(pg_url)
        with killer.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        killer.dispose()
        with pytest.raises(OperationalError) as raised:
            reader.read()
        assert raised.value.connection_invalidated
        assert reader.read() != backend
    finally:
        reader.close()
        engine.dispose()


@pytest.fixture
def counter(pg_url):
    """An engine on ``pg_url`` with a one-row table ``counter(n)`` holding 1."""
    engine = make_engine(pg_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE counter (n integer)")
        connection.exec_driver_sql("INSERT INTO counter VALUES (1)")
    yield engine
    engine.dispose()


def _set_counter(url: str, n: int, *, notify: str | None = None) -> None:
    """Another process's write: its own engine, optionally with a NOTIFY at commit."""
    other = make_engine(url)
    with other.begin() as connection:
        connection.execute(text("UPDATE counter SET n = :n"), {"n": n})
        if notify:
            connection.exec_driver_sql(f"NOTIFY {notify}")
    other.dispose()


def test_scalar_reader_on_a_channel_asks_again_only_when_notified(counter, pg_url):
    reader = ScalarReader(counter, "SELECT n FROM counter", channel="counter_moved", max_age=60)
    try:
        assert reader.read() == 1
        _set_counter(pg_url, 2)  # no notification: the kept value is answered
        assert reader.read() == 1
        _set_counter(pg_url, 3, notify="counter_moved")
        deadline = time.monotonic() + 5
        while (value := reader.read()) != 3:
            assert value == 1 and time.monotonic() < deadline
            time.sleep(0.001)
    finally:
        reader.close()


def test_scalar_reader_on_a_channel_asks_again_after_max_age(counter, pg_url):
    reader = ScalarReader(counter, "SELECT n FROM counter", channel="counter_moved", max_age=0.2)
    try:
        assert reader.read() == 1
        _set_counter(pg_url, 2)  # a notification lost, say
        assert reader.read() == 1
        time.sleep(0.25)
        assert reader.read() == 2
    finally:
        reader.close()


def test_scalar_reader_knows_at_once_of_an_append_this_process_announced(counter):
    reader = ScalarReader(counter, "SELECT n FROM counter", channel="counter_moved", max_age=60)
    try:
        assert reader.read() == 1
        with counter.begin() as connection:
            connection.exec_driver_sql("UPDATE counter SET n = 5")
            announce_log_append(connection)
        assert reader.read() == 5  # no waiting for the notification
    finally:
        reader.close()


def test_scalar_reader_on_a_channel_replaces_a_listener_the_server_dropped(counter, pg_url):
    """A restart drops the listening connection: reads go on, from a new one, without error."""
    reader = ScalarReader(counter, "SELECT pg_backend_pid()", channel="counter_moved", max_age=60)
    try:
        backend = reader.read()
        killer = make_engine(pg_url)
        with killer.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        killer.dispose()
        time.sleep(0.1)  # the server's goodbye reaches the socket
        # The first look reads the goodbye, the next one finds the socket closed.
        answers = [reader.read() for _ in range(3)]
        assert answers[0] in (backend, answers[-1])
        assert answers[-1] != backend
    finally:
        reader.close()


def _read_once(engine):
    reader = ScalarReader(engine, "SELECT 1")
    return reader, lambda: reader.read()


def _run_once(engine):
    connection = KeptConnection(engine)

    def use() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    return connection, use


@pytest.mark.parametrize("keeper", [_read_once, _run_once], ids=["ScalarReader", "KeptConnection"])
def test_a_kept_connection_is_never_one_opened_before_a_fork(keeper, tmp_path, monkeypatch):
    import ageverify.storage.db as db

    engine = make_engine(f"sqlite:///{tmp_path / 'forked.db'}")
    kept, use = keeper(engine)
    try:
        use()
        parent = kept._held.connection
        monkeypatch.setattr(db.os, "getpid", lambda: -1)  # as in a forked child
        use()
        assert kept._held.connection is not parent
    finally:
        kept.close()
        engine.dispose()


def test_scalar_reader_reads_an_in_memory_database_through_its_one_connection():
    engine = make_engine("sqlite://")
    create_schema(engine)
    with transaction(session_factory(engine)) as session:
        session.add(_verifier())
    reader = ScalarReader(engine, "SELECT count(*) FROM verifiers")
    assert reader.read() == 1
    engine.dispose()


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
# One fact counted once, every column given (CompiledStatement fills in no default).
_COUNT_ROW = {
    "day": "2026-01-01",
    "method": "bank",
    "threshold": 18,
    "over": True,
    "count": 1,
    "shard": 0,
}


def test_compiled_statement_runs_like_core(sessions):
    record = CompiledStatement(insert(_COUNTS))
    # The literal 1 of "count + 1" is a bind of the compiled SQL as well.
    bump = CompiledStatement(
        update(_COUNTS)
        .where(_COUNTS.c.day == bindparam("k_day"), _COUNTS.c.over == bindparam("k_over"))
        .values(count=_COUNTS.c.count + 1)
        .returning(_COUNTS.c.threshold, _COUNTS.c.over)
    )
    with transaction(sessions) as session:
        record.execute(session.connection(), _COUNT_ROW)
        found = bump.execute(session.connection(), {"k_day": "2026-01-01", "k_over": True})
        assert [(threshold, bool(over)) for threshold, over in found] == [(18, True)]
        # In a savepoint, as the issuer does: PostgreSQL aborts the whole
        # transaction on an error, SQLite only the statement.
        with pytest.raises(IntegrityError), session.begin_nested():
            record.execute(session.connection(), _COUNT_ROW)
    with sessions() as session:
        assert session.scalar(select(IssuanceCount.count)) == 2


@pytest.fixture
def kept(database_url: str) -> Iterator[tuple[KeptConnection, sessionmaker[Session]]]:
    """A KeptConnection and sessions on ``database_url``, with the schema."""
    engine = make_engine(database_url)
    create_schema(engine)
    connection = KeptConnection(engine)
    yield connection, session_factory(engine)
    connection.close()
    engine.dispose()


_RECORD_COUNT = CompiledStatement(insert(_COUNTS))


def test_kept_connection_commits_each_statement_or_the_transaction(kept):
    connection, sessions = kept
    with connection.cursor() as cursor:
        assert _RECORD_COUNT.run(cursor, connection.dialect, _COUNT_ROW).rowcount == 1
    with connection.cursor(transaction=True) as cursor:
        _RECORD_COUNT.run(cursor, connection.dialect, {**_COUNT_ROW, "threshold": 21})
    with sessions() as session:
        assert sorted(session.scalars(select(IssuanceCount.threshold))) == [18, 21]


def test_kept_connection_rolls_a_failed_transaction_back_whole(kept):
    connection, sessions = kept
    with pytest.raises(IntegrityError), connection.cursor(transaction=True) as cursor:
        _RECORD_COUNT.run(cursor, connection.dialect, _COUNT_ROW)
        _RECORD_COUNT.run(cursor, connection.dialect, _COUNT_ROW)  # the same key again
    with pytest.raises(RuntimeError), connection.cursor(transaction=True) as cursor:
        _RECORD_COUNT.run(cursor, connection.dialect, _COUNT_ROW)
        raise RuntimeError("signing failed")
    with sessions() as session:
        assert session.scalars(select(IssuanceCount.threshold)).all() == []
    # The connection is usable again: nothing was left open on it.
    with connection.cursor() as cursor:
        _RECORD_COUNT.run(cursor, connection.dialect, _COUNT_ROW)
    with sessions() as session:
        assert session.scalars(select(IssuanceCount.threshold)).all() == [18]


def test_kept_connection_reads_rows_converted_as_sqlalchemy_would(kept):
    connection, sessions = kept
    with transaction(sessions) as session:
        session.add(_verifier())
    read = CompiledStatement(
        select(Verifier.methods, Verifier.status, Verifier.id == "v1").where(
            Verifier.id == bindparam("id")
        )
    )
    with connection.cursor() as cursor:
        # JSON text decoded, and a boolean a boolean, on SQLite as on PostgreSQL.
        assert read.first(cursor, connection.dialect, {"id": "v1"}) == (["bank"], "active", True)
        assert read.first(cursor, connection.dialect, {"id": "v2"}) is None


def test_kept_connection_raises_driver_errors_as_sqlalchemy_errors(kept):
    connection, _ = kept
    with pytest.raises(DBAPIError) as raised, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM no_such_table")
    assert not raised.value.connection_invalidated
    assert connection._held.connection is None  # dropped: the next block opens another
    with connection.cursor() as cursor:
        cursor.execute("SELECT 41 + 1")
        assert cursor.fetchone()[0] == 42


def test_kept_connection_answers_a_dropped_connection_once_with_an_error(pg_url):
    engine = make_engine(pg_url)
    connection = KeptConnection(engine)
    try:
        with connection.cursor() as cursor:
            backend = cursor.execute("SELECT pg_backend_pid()").fetchone()[0]
        killer = make_engine(pg_url)
        with killer.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        killer.dispose()
        with pytest.raises(OperationalError) as raised, connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        assert raised.value.connection_invalidated
        with connection.cursor() as cursor:
            assert cursor.execute("SELECT pg_backend_pid()").fetchone()[0] != backend
    finally:
        connection.close()
        engine.dispose()


def test_kept_connection_raises_the_blocks_error_when_its_rollback_fails_too(pg_url):
    engine = make_engine(pg_url)
    connection = KeptConnection(engine)
    killer = make_engine(pg_url)
    try:
        failing = pytest.raises(RuntimeError, match="signing failed")
        with failing, connection.cursor(transaction=True) as cursor:
            backend = cursor.execute("SELECT pg_backend_pid()").fetchone()[0]
            with killer.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
            raise RuntimeError("signing failed")
        # The dead connection fails its next statement, is dropped, and replaced.
        with pytest.raises(OperationalError), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        with connection.cursor() as cursor:
            assert cursor.execute("SELECT 1").fetchone()[0] == 1
    finally:
        killer.dispose()
        connection.close()
        engine.dispose()


def test_kept_connection_uses_an_in_memory_database_through_its_one_connection():
    engine = make_engine("sqlite://")
    create_schema(engine)
    connection = KeptConnection(engine)
    with connection.cursor(transaction=True) as cursor:
        _RECORD_COUNT.run(cursor, connection.dialect, _COUNT_ROW)
    with session_factory(engine)() as session:
        assert session.scalars(select(IssuanceCount.threshold)).all() == [18]
    engine.dispose()


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


# --- engines ------------------------------------------------------------------------


def test_postgresql_without_a_driver_means_psycopg_3():
    engine = make_engine("postgresql://issuer@db.example/ageverify")
    assert engine.url.drivername == "postgresql+psycopg"
    assert engine.dialect.driver == "psycopg"


@pytest.mark.parametrize(
    "url", ["mysql://issuer@db.example/ageverify", "oracle://db.example", "not a url"]
)
def test_other_databases_are_refused_saying_what_to_set(url):
    with pytest.raises(ConfigurationError, match="AGEVERIFY_DATABASE_URL must name SQLite"):
        make_engine(url)


def test_postgresql_lock_waits_give_up_instead_of_hanging(pg_url):
    """A transaction waiting for the writers' lock fails after the lock timeout."""
    holder = make_engine(pg_url)
    # The default LOCK_TIMEOUT_MS, shortened for the test through the same setting.
    impatient = make_engine(pg_url, connect_args={"options": "-c lock_timeout=200"})
    try:
        with holder.connect() as first, first.begin():
            lock_writers(first)
            configured = text("SELECT setting FROM pg_settings WHERE name = 'lock_timeout'")
            assert first.execute(configured).scalar() == str(LOCK_TIMEOUT_MS)
            started = time.monotonic()
            with (
                pytest.raises(OperationalError, match="lock timeout"),
                impatient.connect() as second,
                second.begin(),
            ):
                lock_writers(second)
            assert 0.15 < time.monotonic() - started < 5
    finally:
        holder.dispose()
        impatient.dispose()
