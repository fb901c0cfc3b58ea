"""Fixtures for the issuer: settings in a temporary folder, a SQLite database,
encrypted keys generated ahead, and the two test verifiers registered."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from issuer_vectors import (
    ED_KEY,
    ED_KID,
    ED_VERIFIER,
    ES_KEY,
    ES_KID,
    ES_VERIFIER,
    ISSUER,
    PASSPHRASE,
    verifier_jwk,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ageverify.config import Settings
from ageverify.crypto import FileKeyStore
from ageverify.issuer import Issuer, SigningKeys
from ageverify.issuer.verifiers import add_verifier
from ageverify.storage import session_factory, transaction
from ageverify.translog.log import TransparencyLog


class StoppedClock:
    """A clock that stands still until the test moves it."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        self.now += seconds


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock(time.time())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(
        {},
        issuer_url=ISSUER,
        key_passphrase=PASSPHRASE,
        instance_path=tmp_path / "instance",
        keys_dir=tmp_path / "keys",
        database_url=f"sqlite:///{tmp_path / 'issuer.db'}",
    )


@pytest.fixture
def log(engine: Engine, keystore: FileKeyStore, settings: Settings) -> TransparencyLog:
    """The issuer's transparency log; key changes in ``sessions`` are appended to it."""
    return TransparencyLog(session_factory(engine), keystore, settings.issuer_url)


@pytest.fixture
def sessions(engine: Engine, log: TransparencyLog) -> sessionmaker[Session]:
    factory = session_factory(engine)
    log.attach(factory)
    return factory


@pytest.fixture
def signing_keys(sessions, keystore, settings, clock) -> SigningKeys:
    keys = SigningKeys(sessions, keystore, settings, clock)
    keys.generate_ahead()
    return keys


@pytest.fixture
def verifiers(sessions) -> None:
    """Register the ES256 verifier (id_document, bank) and the EdDSA verifier (eid)."""
    with transaction(sessions) as session:
        add_verifier(
            session,
            id=ES_VERIFIER,
            name="ES256 test verifier",
            jwks=[verifier_jwk(ES_KEY, ES_KID)],
            methods=["id_document", "bank"],
        )
        add_verifier(
            session,
            id=ED_VERIFIER,
            name="EdDSA test verifier",
            jwks=[verifier_jwk(ED_KEY, ED_KID)],
            methods=["eid"],
        )


@pytest.fixture
def issuer(settings, sessions, signing_keys, verifiers, clock) -> Issuer:
    return Issuer(settings, sessions, signing_keys, clock)
