"""Schema migrations: the revisions build exactly the schema models.py declares, on every database.

Each test runs on a new SQLite file and on a new database of the test
PostgreSQL server (tests/pg.py).
"""

from __future__ import annotations

import datetime
import threading
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

from ageverify.errors import ConfigurationError
from ageverify.storage import (
    Base,
    Verifier,
    create_schema,
    make_engine,
    migrations,
    schema,
)
from ageverify.storage.db import session_factory

TABLES = set(Base.metadata.tables)


@pytest.fixture(params=["sqlite", "postgresql"])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_database(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """``new_database()`` -> the URL of another new, empty database of ``dialect``."""
    names = iter(range(1, 100))

    def create() -> str:
        if dialect == "sqlite":
            return f"sqlite:///{tmp_path / f'empty-{next(names)}.db'}"
        return str(request.getfixturevalue("postgres").create_schema())

    return create


@pytest.fixture
def engine(new_database: Any) -> Any:
    """An engine on a new, empty database."""
    engine = make_engine(new_database())
    yield engine
    engine.dispose()


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return schema.current_revision(connection)


def _snapshot(engine: Engine) -> dict[str, Any]:
    """What reflection tells of each table of the models, in a form that compares."""
    inspector = inspect(engine)
    tables: dict[str, Any] = {}
    for table in sorted(TABLES):
        tables[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table)
            ],
            "primary key": inspector.get_pk_constraint(table),
            "foreign keys": sorted(
                (fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), i["unique"])
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "checks": sorted(
                (c["name"], c["sqltext"]) for c in inspector.get_check_constraints(table)
            ),
        }
    return tables


def test_migrations_build_the_schema_models_py_declares(engine: Engine, new_database: Any) -> None:
    assert schema.upgrade(engine) == (None, schema.head_revision())

    # Alembic finds nothing to change between the migrated database and the models...
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, Base.metadata) == []
    # ...and what it does not compare (primary keys, CHECK constraints) is
    # the same as in a database the models create directly.
    direct = make_engine(new_database())
    try:
        Base.metadata.create_all(direct)
        assert _snapshot(engine) == _snapshot(direct)
    finally:
        direct.dispose()
    assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
    # The tables have their named CHECK constraints, e.g. on a verifier's status.
    assert tuple(c["name"] for c in inspect(engine).get_check_constraints("verifiers")) == (
        "ck_verifiers_status",
    )


def test_upgrading_again_changes_nothing(engine: Engine) -> None:
    head = schema.head_revision()
    schema.upgrade(engine)
    assert schema.upgrade(engine) == (head, head)
    assert _revision(engine) == head


def test_downgrade_to_base_removes_every_table(engine: Engine) -> None:
    schema.upgrade(engine)
    with engine.begin() as connection:
        command.downgrade(schema.alembic_config(connection), "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    assert _revision(engine) is None


def test_a_failed_upgrade_leaves_the_database_as_it_was(engine: Engine) -> None:
    # An index name the first revision needs, taken by another table: its
    # create_index fails after most tables were created.
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE other (x INTEGER)"))
        connection.execute(text("CREATE INDEX ix_issuer_nonces_expires_at ON other (x)"))
    with pytest.raises(Exception, match="ix_issuer_nonces_expires_at"):
        schema.upgrade(engine)
    assert set(inspect(engine).get_table_names()) == {"other"}
    assert _revision(engine) is None


def test_start_up_migrates_an_empty_database(engine: Engine) -> None:
    create_schema(engine)
    assert _revision(engine) == schema.head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES


def test_processes_starting_together_migrate_an_empty_database_once(new_database: Any) -> None:
    url = new_database()
    engines = [make_engine(url) for _ in range(4)]
    start = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def start_up(engine: Engine) -> None:
        try:
            start.wait()
            create_schema(engine)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=start_up, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert _revision(engines[0]) == schema.head_revision()
        with engines[0].connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert versions == [(schema.head_revision(),)]
    finally:
        for engine in engines:
            engine.dispose()


def _upgrade_to(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        command.upgrade(schema.alembic_config(connection), revision)


def test_start_up_refuses_a_schema_older_than_the_release(engine: Engine) -> None:
    _upgrade_to(engine, schema.BASELINE)
    with pytest.raises(ConfigurationError, match="run `ageverify db upgrade`"):
        create_schema(engine)
    assert _revision(engine) == schema.BASELINE
    create_schema(engine, upgrade=True)
    assert _revision(engine) == migrations.HEAD


def test_verifiers_registered_before_versions_start_at_version_0(engine: Engine) -> None:
    _upgrade_to(engine, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO verifiers (id, name, methods, status, created_at) "
                """VALUES ('v1', 'V', '["bank"]', 'active', 1)"""
            )
        )
    assert schema.upgrade(engine) == ("0001", migrations.HEAD)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, status, version FROM verifiers")).all()
    assert [tuple(row) for row in rows] == [("v1", "active", 0)]
    # And back, with the verifier and a key referring to it in place.
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO verifier_keys (verifier_id, kid, alg, jwk) "
                """VALUES ('v1', 'k1', 'EdDSA', '{"kty": "OKP"}')"""
            )
        )
        command.downgrade(schema.alembic_config(connection), "0001")
    assert _revision(engine) == "0001"
    columns = {column["name"] for column in inspect(engine).get_columns("verifiers")}
    assert "version" not in columns and "status" in columns


def _rows(engine: Engine, table: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(f"SELECT * FROM {table} ORDER BY day, threshold, over")  # noqa: S608
        ).mappings()
        return [
            (
                r["day"],
                r["threshold"],
                bool(r["over"]),
                r["count"],
                *([r["shard"]] if "shard" in r else []),
            )
            for r in rows
        ]


# How releases before revision 0003 count an issuance's fact, on either database.
_COUNT_BEFORE_0003 = text(
    "INSERT INTO issuance_counts (day, method, threshold, over, count) "
    "VALUES (:day, 'bank', :threshold, true, 1) "
    "ON CONFLICT (day, method, threshold, over) DO UPDATE SET count = issuance_counts.count + 1"
)


def test_counts_move_to_shards_and_the_release_before_still_counts_during_the_update(
    engine: Engine,
) -> None:
    from ageverify.issuer.stats import issuance_stats

    _upgrade_to(engine, "0002")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO issuance_counts (day, method, threshold, over, count) VALUES "
                "('2026-11-01', 'bank', 18, true, 7), ('2026-11-01', 'bank', 21, false, 2)"
            )
        )
    assert schema.upgrade(engine) == ("0002", migrations.HEAD)
    assert _rows(engine, "issuance_count_shards") == [
        ("2026-11-01", 18, True, 7, 0),
        ("2026-11-01", 21, False, 2, 0),
    ]
    assert _rows(engine, "issuance_counts") == []

    # A pod of the release before, still running, counts as it always did;
    # this release counts in its shards; the statistics add both up.
    with engine.begin() as connection:
        connection.execute(_COUNT_BEFORE_0003, {"day": "2026-11-01", "threshold": 18})
        connection.execute(_COUNT_BEFORE_0003, {"day": "2026-11-01", "threshold": 18})
        connection.execute(
            text(
                "INSERT INTO issuance_count_shards (day, method, threshold, over, shard, count) "
                "VALUES ('2026-11-01', 'bank', 18, true, 5, 4), "
                "('2026-11-01', 'bank', 18, true, 31, 1), "
                "('2026-11-02', 'bank', 18, true, 9, 3)"
            )
        )
    day = datetime.date(2026, 11, 1)
    with session_factory(engine)() as session:
        stats = issuance_stats(
            session,
            first_day=day,
            last_day=day + datetime.timedelta(days=1),
            today=datetime.date(2026, 11, 3),
            minimum_count=2,
        )
    assert [(c.day.day, c.threshold, c.over, c.count) for c in stats.cells] == [
        (1, 18, True, 14),
        (1, 21, False, 2),
        (2, 18, True, 3),
    ]

    with engine.begin() as connection:
        command.downgrade(schema.alembic_config(connection), "0002")
    assert _revision(engine) == "0002"
    assert "issuance_count_shards" not in inspect(engine).get_table_names()
    assert _rows(engine, "issuance_counts") == [
        ("2026-11-01", 18, True, 14),
        ("2026-11-01", 21, False, 2),
        ("2026-11-02", 18, True, 3),
    ]


def test_a_revision_this_release_does_not_know_is_refused(engine: Engine) -> None:
    schema.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    for run in (lambda: create_schema(engine), lambda: schema.upgrade(engine)):
        with pytest.raises(ConfigurationError, match="revision f00d, which this release"):
            run()


def test_a_database_made_before_migrations_is_adopted_with_its_rows(engine: Engine) -> None:
    # The first revision's tables, as they were made before migrations: no version recorded.
    _upgrade_to(engine, schema.BASELINE)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(
            text(
                "INSERT INTO verifiers (id, name, methods, status, created_at) "
                """VALUES ('v1', 'V', '["bank"]', 'active', 1)"""
            )
        )
    create_schema(engine)
    assert _revision(engine) == schema.head_revision()
    with session_factory(engine)() as session:
        assert session.scalars(select(Verifier.id)).all() == ["v1"]


def test_the_head_known_without_alembic_is_alembics_head() -> None:
    from ageverify.storage.migrations import HEAD

    assert schema.head_revision() == HEAD


def _fresh_start(settings: dict[str, str], question: str) -> str:
    """In a new interpreter: build the app from ``settings``, ask ``/readyz``, print ``question``.

    ``question`` is an expression about what was imported (``sys.modules``).
    """
    import subprocess
    import sys

    start = (
        "import sys; from ageverify import create_app; "
        f"create_app({settings!r}).test_client().get('/readyz'); "
        f"print({question})"
    )
    run = [sys.executable, "-c", start]
    done = subprocess.run(run, capture_output=True, text=True, check=True)  # noqa: S603
    return done.stdout.strip()


def _dev_settings(tmp_path: Path) -> dict[str, str]:
    from ageverify.config import write_dev_settings

    instance = tmp_path / "instance"
    write_dev_settings(instance)
    return {"env": "development", "instance_path": str(instance), "log_level": "ERROR"}


def test_starting_on_a_database_at_head_does_not_import_alembic(tmp_path: Path) -> None:
    # Alembic costs each worker some 10 MB; a database at head needs none of it.
    settings = _dev_settings(tmp_path)
    alembic = "any(name.split('.')[0] == 'alembic' for name in sys.modules)"
    first, again = _fresh_start(settings, alembic), _fresh_start(settings, alembic)
    assert (first, again) == ("True", "False")


def test_an_issuer_on_postgresql_does_not_load_sqlite(
    dialect: str, new_database: Any, tmp_path: Path
) -> None:
    # SQLite's library costs a PostgreSQL worker about 1 MB it never uses.
    settings = _dev_settings(tmp_path)
    if dialect == "postgresql":
        settings["database_url"] = new_database()
    assert _fresh_start(settings, "'sqlite3' in sys.modules") == str(dialect == "sqlite")
