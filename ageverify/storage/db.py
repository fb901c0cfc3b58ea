"""Engine, schema and transactions.

Two databases are supported: SQLite, the embedded default, and PostgreSQL
(``postgresql+psycopg://...``, psycopg 3) for production.

SQLite connections are tuned here: WAL journal (readers never wait for the
writer) with ``synchronous=NORMAL``, foreign keys enforced, a busy timeout,
and real transactions. Python's sqlite3 driver opens transactions lazily and
only before data changes, which makes a read followed by a write racy; we
turn that off and emit ``BEGIN`` ourselves (the recipe in the SQLAlchemy
SQLite dialect documentation). Transactions opened by ``transaction()`` take
the write lock up front (``BEGIN IMMEDIATE``), because a WAL reader that
later writes fails at once if another writer got in between.

PostgreSQL runs at READ COMMITTED, where two transactions may both read a
row and then both write it. ``transaction()`` keeps SQLite's promise there
by first taking one transaction-scoped advisory lock, the writers' lock
(:func:`lock_writers`); the transparency log takes the same lock before it
counts its entries. A PostgreSQL lock wait gives up after
``LOCK_TIMEOUT_MS``, as SQLite's busy timeout does, so that a mistake shows
as an error instead of a hang. PostgreSQL text cannot hold a NUL character:
such a parameter, which only a caller can have sent, is refused as
``invalid-request`` before it reaches the driver.

Pooled connections are not pinged before use: a ping is a round trip on
every request. When the server has dropped them (it restarted), the first
request to use one fails with the driver's disconnect error, answered 503
``unavailable``, and the dropped connection is discarded: the next request
opens a new one. A sync gunicorn worker holds one pooled connection at a
time, and keeps one more for issuance (:class:`KeptConnection`), so a server
restart costs each worker about one failed request of each kind.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Connection, CursorResult, Engine, create_engine, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.expression import Executable, bindparam

from ageverify.errors import AgeVerifyError, ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 10_000
# How long a PostgreSQL statement waits for a lock (row or advisory) before failing.
LOCK_TIMEOUT_MS = 10_000

# The writers' advisory lock on PostgreSQL: the bytes "ageverif" read as a
# number, a key no other application sharing the database is likely to use.
WRITER_LOCK_KEY = int.from_bytes(b"ageverif", "big")
_LOCK_WRITERS = text("SELECT pg_advisory_xact_lock(:key)").bindparams(
    bindparam("key", WRITER_LOCK_KEY, type_=BigInteger)
)

# Execution option read by the SQLite ``begin`` hook; ignored by other dialects.
SQLITE_BEGIN = "ageverify_sqlite_begin"
_SQLITE_BEGIN_STATEMENTS = {
    None: "BEGIN DEFERRED",
    "DEFERRED": "BEGIN DEFERRED",
    "IMMEDIATE": "BEGIN IMMEDIATE",
}

_DATABASE_URL_HELP = (
    "AGEVERIFY_DATABASE_URL must name SQLite (sqlite:///path/to/file.db) or "
    "PostgreSQL (postgresql+psycopg://user:password@host/database)"
)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; ``kwargs`` go to ``sqlalchemy.create_engine``.

    ``postgresql://`` without a driver means psycopg 3. SQLite connections are
    configured as the module docstring says; an in-memory database shares one
    connection so that every session sees the same data. Any other database
    raises ``ConfigurationError``.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(_DATABASE_URL_HELP) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        connect_args = dict(kwargs.pop("connect_args", {}))
        # Added to the server options the URL or the caller give, unless they set their own.
        options = str(connect_args.get("options", parsed.query.get("options", "")))
        if "lock_timeout" not in options:
            connect_args["options"] = f"{options} -c lock_timeout={LOCK_TIMEOUT_MS}".strip()
        try:
            engine = create_engine(parsed, connect_args=connect_args, **kwargs)
        except ImportError as error:
            raise ConfigurationError(
                f"AGEVERIFY_DATABASE_URL names PostgreSQL, whose driver is missing ({error}): "
                "install psycopg 3 (pip install 'psycopg[binary]')"
            ) from None
        event.listen(engine, "before_cursor_execute", _refuse_nul_text)
        return engine
    if backend != "sqlite":
        raise ConfigurationError(f"{_DATABASE_URL_HELP}, not {backend}")
    # Here only: a PostgreSQL worker does without the SQLite library (~1 MB).
    import sqlite3

    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    in_memory = parsed.database in (None, "", ":memory:")
    if in_memory:
        kwargs.setdefault("poolclass", StaticPool)
    engine = create_engine(parsed, connect_args=connect_args, **kwargs)

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
        statement = _SQLITE_BEGIN_STATEMENTS[conn.get_execution_options().get(SQLITE_BEGIN)]
        # Straight to the driver: every transaction starts here, and a
        # statement through SQLAlchemy's execution path costs several times
        # the BEGIN itself. Errors are wrapped as SQLAlchemy would wrap them.
        try:
            conn.connection.driver_connection.execute(statement)
        except sqlite3.Error as error:
            raise DBAPIError.instance(statement, (), error, sqlite3.Error) from None

    return engine


def _refuse_nul_text(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, executemany: bool
) -> None:
    """Refuse a text parameter holding a NUL character, which PostgreSQL cannot take.

    Such text only ever comes from a caller (an attestation's ``iss``, a key
    id in a path); SQLite looks it up and finds nothing, PostgreSQL raises a
    driver error that would be answered as the server's fault. Refused here
    as the caller's, on every query.
    """
    for row in parameters if executemany else (parameters,):
        values = row.values() if isinstance(row, Mapping) else (row or ())
        if any(isinstance(value, str) and "\x00" in value for value in values):
            raise AgeVerifyError("invalid-request", "Text holding a NUL character is not accepted.")


def create_schema(engine: Engine, *, upgrade: bool = False) -> None:
    """Make sure the database of ``engine`` has the schema this release needs.

    An empty database is brought to the latest revision through the schema
    migrations; one at the latest revision is left alone. One at an older
    revision is upgraded with ``upgrade=True``, and otherwise refused with a
    ``ConfigurationError`` saying to run ``ageverify db upgrade``: a running
    service does not change a production schema behind its operator's back.
    Safe to call from several processes at once.
    """
    if _at_head(engine):
        return  # the usual start, without importing Alembic
    # Imported here: Alembic is needed only when the schema must change.
    from ageverify.storage import schema

    schema.prepare(engine, upgrade_older=upgrade)


def _at_head(engine: Engine) -> bool:
    """Whether the database records the newest revision (False when unsure)."""
    from ageverify.storage.migrations import HEAD

    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no version table yet: the full check decides
        return False
    return found == [(HEAD,)]


# PostgreSQL channel on which a transaction that appends to the transparency
# log announces itself: NOTIFY is transactional, sent when it commits.
LOG_CHANNEL = "ageverify_log"


# Appends announced by this process: its own readers need no notification
# to know (one made before the commit only makes a reader ask once more).
_announced = [0]


def announce_log_append(connection: Connection) -> None:
    """On PostgreSQL, have the server notify :data:`LOG_CHANNEL` when this transaction commits."""
    if connection.dialect.name == "postgresql":
        _announced[0] += 1
        connection.exec_driver_sql(f"NOTIFY {LOG_CHANNEL}")


class _Kept(threading.local):
    # A thread's kept driver connection and the process that opened it.
    pid: int | None = None
    connection: Any = None


def _close_kept(held: _Kept) -> None:
    """Close the thread's kept connection, if it has one this process opened."""
    connection, pid = held.connection, held.pid
    held.connection, held.pid = None, None
    # One opened before a fork is the parent's to close.
    if connection is not None and pid == os.getpid():
        with contextlib.suppress(Exception):
            connection.close()


class _Held(_Kept):
    # Besides the connection: the last value read, whether a notification
    # came since, and when it was read.
    value: Any = None
    stale: bool = True
    read_at: float = 0.0
    announced: int = -1


class ScalarReader:
    """One plain SQL query asked on every request, on a connection kept for it.

    A SQLAlchemy connection checks a connection out of the pool and back in
    for each read, and the pool resets it on the way back: on PostgreSQL a
    second round trip, on SQLite several times the cost of the query. Each
    thread here keeps a driver connection of its own, in autocommit mode, so
    that a read is the query alone and sees every commit made before it.

    On PostgreSQL with ``channel``, the connection also LISTENs there, and
    the writers NOTIFY it in every transaction that changes what ``sql``
    reads (:func:`announce_log_append`). A read then asks the database only
    when a notification arrived since the last query, when this process
    announced an append itself, or when that query is older than ``max_age``
    seconds (a bound that holds even if a notification was lost): otherwise
    it only looks at the socket, with no round trip.

    A listening connection found dropped is replaced at once. A failed query
    drops the connection (the next read opens another) and raises the
    driver's error as SQLAlchemy's ``DBAPIError``, as the rest of the storage
    layer does. An in-memory SQLite database is reachable through its single
    pooled connection only, so it is read through the pool.
    """

    def __init__(
        self, engine: Engine, sql: str, *, channel: str | None = None, max_age: float = 1.0
    ) -> None:
        self._engine = engine
        self._sql = sql
        self._channel = channel if engine.dialect.name == "postgresql" else None
        self._max_age = max_age
        self._held = _Held()
        self._pooled_only = isinstance(engine.pool, StaticPool)

    def read(self) -> Any:
        """The first column of the first row (None: no row)."""
        if self._pooled_only:
            with self._engine.connect() as pooled:
                return pooled.exec_driver_sql(self._sql).scalar()
        dbapi = self._engine.dialect.loaded_dbapi
        held = self._held
        try:
            connection = self._connection()
            if self._channel is not None:
                try:
                    moved = self._moved(connection)
                except dbapi.Error:
                    # The listening connection is gone (the server restarted):
                    # a new one, and a query, answer this read.
                    self.close()
                    connection, moved = self._connection(), True
                if not moved:
                    return held.value
                # Cleared before the query: a notification that arrives
                # while it runs marks the value stale again.
                held.stale = False
                held.read_at = time.monotonic()
                held.announced = _announced[0]
            cursor = connection.cursor()
            try:
                cursor.execute(self._sql)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except dbapi.Error as error:
            wrapped = _as_sqlalchemy_error(error, self._engine.dialect, held.connection, self._sql)
            self.close()
            raise wrapped from None
        held.value = None if row is None else row[0]
        return held.value

    def close(self) -> None:
        """Close this thread's connection, if it has one."""
        self._held.stale = True
        _close_kept(self._held)

    def _moved(self, connection: Any) -> bool:
        """Whether to query: notified since the last query, or that query is too old."""
        held = self._held
        # Reads what the server has sent, without waiting; a connection the
        # server closed raises here.
        connection.pgconn.consume_input()
        while connection.pgconn.notifies() is not None:
            held.stale = True
        return (
            held.stale
            or held.announced != _announced[0]
            or time.monotonic() - held.read_at >= self._max_age
        )

    def _connection(self) -> Any:
        held = self._held
        # A connection opened before a fork belongs to the parent: never shared.
        if held.connection is None or held.pid != os.getpid():
            driver = _open_kept(self._engine)
            try:
                if self._channel is not None:
                    # Notifications met while a query runs come here.
                    driver.add_notify_handler(lambda _notification: setattr(held, "stale", True))
                    driver.execute(f"LISTEN {self._channel}")
            except BaseException:
                with contextlib.suppress(Exception):
                    driver.close()
                raise
            held.connection, held.pid, held.stale = driver, os.getpid(), True
        return held.connection


def _as_sqlalchemy_error(
    error: Any, dialect: Dialect, connection: Any, statement: str | None = None
) -> Exception:
    """The driver's ``error`` as SQLAlchemy raises it (``IntegrityError`` for a constraint).

    ``connection_invalidated`` tells whether ``connection`` (None: none was
    open yet) was lost with it.
    """
    lost = connection is not None and dialect.is_disconnect(error, connection, None)
    return DBAPIError.instance(
        statement, (), error, dialect.loaded_dbapi.Error, connection_invalidated=lost
    )


def _open_kept(engine: Engine) -> Any:
    """A driver connection of ``engine`` taken out of its pool, in autocommit mode.

    Made by the pool, so that the engine's connect hooks (SQLite's pragmas,
    PostgreSQL's lock timeout) have run. SQLite's driver is in autocommit
    already (the connect hook turns its own transactions off).
    """
    pooled = engine.raw_connection()
    pooled.detach()
    driver: Any = pooled.dbapi_connection
    if engine.dialect.name == "postgresql":
        try:
            driver.autocommit = True
        except BaseException:
            with contextlib.suppress(Exception):
                driver.close()
            raise
    return driver


class KeptConnection:
    """A driver connection per thread, kept open for the statements of a hot path.

    Issuance runs a few statements on every request. Through a session, each
    one pays for a pool checkout and the reset on return, a transaction
    object, and SQLAlchemy's set-up of a result: on SQLite many times the
    statement itself. Here each thread keeps a driver connection in
    autocommit mode, and :class:`CompiledStatement` runs its SQL, compiled
    once per dialect, on it. A process forked after a connection was opened
    opens its own.

    A driver error drops the connection (the next block opens another) and
    leaves as SQLAlchemy's ``DBAPIError`` (``IntegrityError`` for a
    constraint), as the rest of the storage layer does. An in-memory SQLite
    database is reachable through its single pooled connection only, so it
    is used through the pool.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.dialect = engine.dialect
        self._held = _Kept()
        self._pooled_only = isinstance(engine.pool, StaticPool)

    @contextmanager
    def cursor(self, *, transaction: bool = False) -> Iterator[Any]:
        """A driver cursor on this thread's connection, each statement committing on its own.

        With ``transaction=True`` the block runs in one transaction, which
        takes SQLite's write lock at once (``BEGIN IMMEDIATE``), commits when
        the block ends and rolls back if it raises.
        """
        if self._pooled_only:
            pooled = self._engine.raw_connection()
            try:
                with self._driver_errors(pooled.dbapi_connection, drop=False):
                    yield from self._run(pooled.dbapi_connection, transaction)
            finally:
                pooled.close()
            return
        held = self._held
        if held.connection is None or held.pid != os.getpid():
            with self._driver_errors(None, drop=False):
                held.connection, held.pid = _open_kept(self._engine), os.getpid()
        with self._driver_errors(held.connection, drop=True):
            yield from self._run(held.connection, transaction)

    def _run(self, connection: Any, transaction: bool) -> Iterator[Any]:
        cursor = connection.cursor()
        try:
            if not transaction:
                yield cursor
                return
            cursor.execute("BEGIN IMMEDIATE" if self.dialect.name == "sqlite" else "BEGIN")
            try:
                yield cursor
            except BaseException:
                # A ROLLBACK that fails (the connection went with the
                # transaction) must not hide why the block failed; a
                # connection left unusable fails its next statement and is
                # dropped then.
                with contextlib.suppress(Exception):
                    cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")
        finally:
            cursor.close()

    @contextmanager
    def _driver_errors(self, connection: Any, *, drop: bool) -> Iterator[None]:
        try:
            yield
        except self.dialect.loaded_dbapi.Error as error:
            wrapped = _as_sqlalchemy_error(error, self.dialect, connection)
            if drop:
                self.close()
            raise wrapped from None

    def close(self) -> None:
        """Close this thread's connection, if it has one."""
        _close_kept(self._held)


def lock_writers(connection: Connection) -> None:
    """Wait until no other transaction holds the writers' lock, then hold it until this one ends.

    On PostgreSQL a transaction-scoped advisory lock, taken again harmlessly
    by a transaction that holds it. On SQLite nothing: a database has one
    writer at a time, and ``transaction()`` takes its lock at ``BEGIN``.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK_WRITERS)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A ``sessionmaker`` bound to ``engine``; objects stay usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(sessions: sessionmaker[Session], *, serialised: bool = True) -> Iterator[Session]:
    """Run the block in one database transaction: commit on success, roll back on error.

    The transactions of ``sessions`` run one at a time, so one that reads and
    then writes never works on rows another changed in between: SQLite takes
    its write lock at the start (waiting up to the busy timeout), PostgreSQL
    the writers' lock. ``serialised=False`` leaves that lock out on
    PostgreSQL, for a block whose every write is safe against concurrent
    ones (a single UPDATE of a counter, an INSERT a key refuses twice);
    SQLite serialises writers regardless.
    """
    with sessions() as session:
        connection = session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
        try:
            if serialised:
                lock_writers(connection)
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class CompiledStatement:
    """A Core ``statement`` compiled once per dialect and run as that dialect's SQL.

    For the few statements every issuance or verification runs:
    ``Connection.execute`` spends more time per statement (cache key,
    parameter processing, result set-up) than the database does, and SQL
    compiled by SQLAlchemy for the connection's dialect stays as portable as
    the statement it came from. Nothing converts parameters on the way, and
    no column default is filled in (give every column a value): use
    it only for statements whose parameters are plain strings, integers and
    booleans (or, on PostgreSQL, lists of them), which every driver passes
    through, and without expanding ("IN list") parameters. Rows read from a
    driver cursor with :meth:`first` are converted as SQLAlchemy would (JSON
    text decoded); those of :meth:`execute` come as the driver gives them (a
    boolean may come back as 0 or 1).
    """

    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        self._compiled: dict[Dialect, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect)
        if compiled is None:
            sql = self._statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            order = tuple(sql.positiontup) if sql.positional else None
            columns = getattr(self._statement, "selected_columns", ())
            processors = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in columns
            )
            # Literals in the statement (the 1 of "count + 1") are binds too.
            compiled = self._compiled[dialect] = _Compiled(
                sql.string, order, dict(sql.params), processors
            )
        return compiled

    def _arguments(self, compiled: _Compiled, parameters: Mapping[str, Any]) -> Any:
        values = {**compiled.literals, **parameters}
        return values if compiled.order is None else tuple(values[name] for name in compiled.order)

    def execute(
        self, connection: Connection, parameters: Mapping[str, Any]
    ) -> CursorResult[*tuple[Any, ...]]:
        """Run the statement on ``connection`` with ``parameters`` (bind name -> value)."""
        compiled = self._for(connection.dialect)
        return connection.exec_driver_sql(compiled.sql, self._arguments(compiled, parameters))

    def run(self, cursor: Any, dialect: Dialect, parameters: Mapping[str, Any]) -> Any:
        """Run the statement on a driver ``cursor`` of ``dialect`` (a :class:`KeptConnection`'s).

        Returns the cursor, for its ``rowcount`` or rows.
        """
        compiled = self._for(dialect)
        cursor.execute(compiled.sql, self._arguments(compiled, parameters))
        return cursor

    def first(
        self, cursor: Any, dialect: Dialect, parameters: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """Run the statement as :meth:`run` does; its first row, converted (None: no row)."""
        row = self.run(cursor, dialect, parameters).fetchone()
        if row is None:
            return None
        processors = self._for(dialect).processors
        return tuple(
            value if process is None or value is None else process(value)
            for value, process in zip(row, processors or (None,) * len(row), strict=True)
        )


class _Compiled(NamedTuple):
    sql: str
    order: tuple[str, ...] | None
    literals: dict[str, Any]
    processors: tuple[Any, ...]
