"""Fixtures shared by the test suite: an issuer app from the factory, and what tests need around it.

``app`` is a development instance in a temporary folder (generated key
passphrase, keys generated ahead, the demo verifier registered), running on a
clock the test can move. ``attest`` signs verifier attestations for it,
``issue`` gets credentials over HTTP, and ``runner`` points the command line
at the same instance.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient
from presenting import HeldCredential, HolderKeys, MovableClock
from sqlalchemy import Engine

from ageverify import create_app
from ageverify.config import Settings, write_dev_settings
from ageverify.crypto import FileKeyStore
from ageverify.demo import DemoVerifier, age_facts, register_demo_verifier
from ageverify.issuer import admin_tokens, tokens
from ageverify.issuer.tokens import generate_token_key
from ageverify.storage.db import create_schema, make_engine, transaction


@pytest.fixture(autouse=True)
def _no_ageverify_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings read AGEVERIFY_* variables; a developer's shell must not leak in.
    for name in list(os.environ):
        if name.startswith("AGEVERIFY_"):
            monkeypatch.delenv(name)


# Every development app generates RSA-2048 Privacy Pass token keys (a threshold
# times the epochs ahead), at some 80 ms each. Tests draw them from one pool
# per run instead, from its start in each test, so a test still gets distinct
# keys; tests of key generation itself replace the function again.
_TOKEN_KEY_POOL: list[rsa.RSAPrivateKey] = []


@pytest.fixture(autouse=True)
def _pooled_token_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = itertools.count()

    def draw() -> rsa.RSAPrivateKey:
        index = next(drawn)
        while len(_TOKEN_KEY_POOL) <= index:
            _TOKEN_KEY_POOL.append(generate_token_key())
        return _TOKEN_KEY_POOL[index]

    monkeypatch.setattr(tokens, "generate_token_key", draw)


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    """A development instance folder with a generated passphrase (dev.json)."""
    path = tmp_path / "instance"
    write_dev_settings(path)
    return path


@pytest.fixture
def clock() -> MovableClock:
    """The app's clock, starting now."""
    return MovableClock(time.time())


@pytest.fixture
def app(instance: Path, clock: MovableClock) -> Iterator[Flask]:
    """A development issuer with keys generated ahead and the demo verifier registered."""
    application = create_app({"env": "development", "instance_path": instance}, clock=clock)
    state = application.extensions["ageverify"]
    register_demo_verifier(state.sessions, DemoVerifier.load_or_create(instance), now=clock())
    yield application
    state.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of ``app``."""
    return app.test_client()


@pytest.fixture
def runner(instance: Path) -> CliRunner:
    """A CLI runner whose environment points the ``ageverify`` command at ``instance``."""
    return CliRunner(env={"AGEVERIFY_ENV": "development", "AGEVERIFY_INSTANCE_PATH": str(instance)})


@pytest.fixture
def demo_verifier(instance: Path) -> DemoVerifier:
    """The demo verifier registered in ``app``."""
    return DemoVerifier.load_or_create(instance)


@pytest.fixture
def attest(app: Flask, demo_verifier: DemoVerifier, clock: MovableClock) -> Callable[..., str]:
    """Sign an attestation by the demo verifier: ``attest(age=30, **options)``.

    Options go to :meth:`DemoVerifier.attest` (``now``, ``lifetime``,
    ``extra_claims``, ``method``, ``issuer``, ``age_over``).
    """
    settings = app.extensions["ageverify"].settings

    def sign(age: int = 30, **options: Any) -> str:
        options.setdefault("issuer", settings.issuer_url)
        options.setdefault("age_over", age_facts(age, settings.thresholds))
        options.setdefault("now", clock())
        return demo_verifier.attest(**options)

    return sign


@pytest.fixture
def admin_token(app: Flask) -> str:
    """A live admin bearer token."""
    with transaction(app.extensions["ageverify"].sessions) as session:
        return admin_tokens.create_token(session, "tests")


@pytest.fixture
def issue(client: FlaskClient, attest: Callable[..., str]) -> Callable[..., list[HeldCredential]]:
    """Issue credentials over HTTP: ``issue(count=2, age=30)`` -> held credentials."""

    def run(count: int = 2, age: int = 30) -> list[HeldCredential]:
        keys = HolderKeys.generate(count)
        response = client.post(
            "/v1/credentials", json={"attestation": attest(age), "holder_keys": keys.jwks}
        )
        assert response.status_code == 200, response.json
        return keys.bind(response.json["credentials"])

    return run


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """A database with the schema, for the ``settings`` fixture of the tests' own folder."""
    engine = make_engine(settings.database_url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def keystore(settings: Settings) -> FileKeyStore:
    """The key store of the ``settings`` fixture of the tests' own folder."""
    return FileKeyStore(settings.keys_dir, settings.passphrase_bytes)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real redis-server for the whole run (see tests/redis_server.py)."""
    from redis_server import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: Any) -> Iterator[Any]:
    """A client of ``redis_server`` on an emptied database."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()
