"""Engine, schema and transactions.

SQLite is the embedded default, so its connections are tuned here: WAL
journal (readers never wait for the writer) with ``synchronous=NORMAL``,
foreign keys enforced, a busy timeout, and real transactions. Python's
sqlite3 driver opens transactions lazily and only before data changes, which
makes a read followed by a write racy; we turn that off and emit ``BEGIN``
ourselves (the recipe in the SQLAlchemy SQLite dialect documentation).
Transactions opened by ``transaction()`` take the write lock up front
(``BEGIN IMMEDIATE``), because a WAL reader that later writes fails at once if
another writer got in between.
Other databases get the plain engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.expression import Executable

from ageverify.storage.models import Base

SQLITE_BUSY_TIMEOUT_MS = 10_000

# Execution option read by the SQLite ``begin`` hook; ignored by other dialects.
_SQLITE_BEGIN = "ageverify_sqlite_begin"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; ``kwargs`` go to ``sqlalchemy.create_engine``.

    For SQLite the connections are configured as described in the module
    docstring; an in-memory database shares one connection so that every
    session sees the same data.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)

    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    in_memory = parsed.database in (None, "", ":memory:")
    if in_memory:
        kwargs.setdefault("poolclass", StaticPool)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
        # Stop the driver from issuing its own BEGIN/COMMIT; see "begin" below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                # With WAL, NORMAL keeps every commit atomic and the database
                # consistent through crashes; only a power loss can undo the
                # last commits. It saves an fsync per transaction, which
                # otherwise costs more than signing a batch of credentials.
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_sqlite(conn: Any) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet (idempotent)."""
    Base.metadata.create_all(engine)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A ``sessionmaker`` bound to ``engine``; objects stay usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """Run the block in one database transaction: commit on success, roll back on error.

    On SQLite the write lock is taken at the start, so a transaction that
    reads and then writes never fails half-way because another writer got in
    first; it waits for the busy timeout instead.
    """
    with sessions() as session:
        session.connection(execution_options={_SQLITE_BEGIN: "IMMEDIATE"})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class CompiledStatement:
    """A Core ``statement`` compiled once per dialect and run as that dialect's SQL.

    For the few statements every issuance runs: ``Connection.execute`` spends
    more time per statement (cache key, parameter processing, result set-up)
    than the database does, and SQL compiled by SQLAlchemy for the
    connection's dialect stays as portable as the statement it came from.
    Nothing converts types on the way: use it only for statements whose
    parameters and result columns are plain strings, integers and booleans,
    which every driver passes through (a boolean may come back as 0 or 1),
    and without expanding ("IN list") parameters.
    """

    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        self._compiled: dict[Dialect, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def execute(
        self, connection: Connection, parameters: Mapping[str, Any]
    ) -> CursorResult[*tuple[Any, ...]]:
        """Run the statement on ``connection`` with ``parameters`` (bind name -> value)."""
        dialect = connection.dialect
        compiled = self._compiled.get(dialect)
        if compiled is None:
            sql = self._statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            order = tuple(sql.positiontup) if sql.positional else None
            # Literals in the statement (the 1 of "count + 1") are binds too.
            compiled = self._compiled[dialect] = (sql.string, order, dict(sql.params))
        text, order, literals = compiled
        values = {**literals, **parameters}
        arguments = values if order is None else tuple(values[name] for name in order)
        return connection.exec_driver_sql(text, arguments)  # type: ignore[arg-type]
