"""Schema migrations (Alembic): how a database gets, and later changes, its tables.

``models.py`` declares the schema. The revisions in ``migrations/versions``
build it step by step, and the tests prove on SQLite and PostgreSQL that a
database migrated from empty matches the models exactly. Every database gets
its tables through these revisions, an empty one included, so no database is
ever in a state the revisions did not produce, and a later revision that
moves data runs everywhere.

An upgrade runs in one transaction holding the writers' lock
(:func:`ageverify.storage.db.lock_writers`; on SQLite the write lock), so
processes starting together on an empty database migrate it once, and a
failed upgrade leaves nothing behind: SQLite and PostgreSQL both roll back
DDL.

A database whose tables were created before the migrations existed (they
are the first revision's, with no version recorded) is marked as being at
that revision before it is upgraded.

To write a new revision, change ``models.py``, then let Alembic compare the
models with a database at the latest revision (here a fresh SQLite file)::

    python -c 'from alembic import command; from ageverify.storage import make_engine, schema
    url = "sqlite:////tmp/ageverify-migrations.db"
    schema.upgrade(make_engine(url))
    command.revision(schema.alembic_config(url=url), message="what changes",
                     autogenerate=True, rev_id="0002")'

and read the file it writes before committing it: Alembic does not see
renames or changes to CHECK constraints.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from ageverify.errors import ConfigurationError
from ageverify.storage.db import SQLITE_BEGIN, lock_writers, make_engine
from ageverify.storage.models import Base

__all__ = [
    "BASELINE",
    "MIGRATIONS",
    "alembic_config",
    "current_revision",
    "head_revision",
    "prepare",
    "run_migrations",
    "upgrade",
]

# The folder holding env.py and the revisions.
MIGRATIONS = Path(__file__).with_name("migrations")
# The first revision: the schema as it was when migrations were introduced.
BASELINE = "0001"


def alembic_config(connection: Connection | None = None, *, url: str | None = None) -> Config:
    """Alembic settings for ageverify's migrations, run on ``connection`` or else at ``url``.

    ``connection`` is used as it is, in the transaction the caller opened;
    with ``url`` Alembic's own commands open a connection and a locked
    transaction of their own.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Passed as attributes, not options: the options' parser reads "%" in a
    # URL (percent-encoded passwords) as interpolation.
    if connection is not None:
        config.attributes["connection"] = connection
    if url is not None:
        config.attributes["url"] = url
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The latest revision: the one ``models.py`` describes."""
    head = _scripts().get_current_head()
    if head is None:  # pragma: no cover - the package ships its revisions
        raise RuntimeError(f"no schema revisions in {MIGRATIONS}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database of ``connection`` is at; None for a database never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def _known(revision: str) -> bool:
    return any(script.revision == revision for script in _scripts().walk_revisions())


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction holding the writers' lock, committed at the end."""
    with engine.connect() as connection:
        connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        with connection.begin():
            lock_writers(connection)
            yield connection


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the database of ``engine`` to the latest revision; return (before, after).

    ``before`` is None for a database never migrated. A database at a
    revision this release does not know raises ``ConfigurationError``.
    """
    with _locked(engine) as connection:
        before = current_revision(connection)
        if before is not None and not _known(before):
            raise ConfigurationError(
                f"the database schema is at revision {before}, which this release of "
                "ageverify does not know: was it upgraded by a newer release?"
            )
        if before is None and _has_unversioned_tables(connection):
            command.stamp(alembic_config(connection), BASELINE)
        command.upgrade(alembic_config(connection), "head")
        after = current_revision(connection)
    assert after is not None
    return before, after


def _has_unversioned_tables(connection: Connection) -> bool:
    existing = set(inspect(connection).get_table_names())
    return bool(existing & set(Base.metadata.tables))


def prepare(engine: Engine, *, upgrade_older: bool = False) -> None:
    """Check at start-up that the database of ``engine`` has the latest schema.

    A database never migrated is upgraded (an empty one gets every table);
    one at an older revision is upgraded only with ``upgrade_older``, and
    otherwise refused with a ``ConfigurationError`` saying what to run.
    """
    head = head_revision()
    with engine.connect() as connection:
        current = current_revision(connection)
    if current == head:
        return
    if current is None or upgrade_older or not _known(current):
        upgrade(engine)
        return
    raise ConfigurationError(
        f"the database schema is at revision {current} and this release needs {head}: "
        "run `ageverify db upgrade` (back up the database first)"
    )


def run_migrations() -> None:
    """Run what Alembic was asked to (``migrations/env.py`` calls this).

    On the connection of :func:`alembic_config`, else on one opened to its
    URL in a transaction holding the writers' lock.
    """
    from alembic import context

    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(context, connection)
        return
    url = config.attributes.get("url")
    if not url:
        raise ConfigurationError("no database to migrate: pass a connection or a URL")
    engine = make_engine(url)
    try:
        with _locked(engine) as own:
            _run(context, own)
    finally:
        engine.dispose()


def _run(context: Any, connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite changes a table by copying it: later revisions need batch mode there.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
