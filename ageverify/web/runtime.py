"""The issuer's running parts, built once per process from :class:`Settings`.

``create_app`` keeps one :class:`Runtime` on ``app.extensions["ageverify"]``;
the command line builds its own with :func:`open_runtime`, so that ``ageverify
keys ...`` and the HTTP API work on the same objects without a Flask app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import Engine, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ageverify.config import Settings
from ageverify.crypto.keystores import open_key_store
from ageverify.errors import ConfigurationError
from ageverify.formats import jose
from ageverify.issuer.keys import SigningKeys
from ageverify.issuer.service import Issuer
from ageverify.issuer.tokens import TokenIssuer, TokenKeys
from ageverify.storage.db import (
    LOG_CHANNEL,
    ScalarReader,
    create_schema,
    make_engine,
    session_factory,
)
from ageverify.storage.models import LogCheckpoint
from ageverify.translog.log import TransparencyLog

Clock = Callable[[], float]
T = TypeVar("T")


class VerificationKeys:
    """The published credential keys as parsed key objects, looked up by exact ``kid``.

    Building the published set takes a query joining keys and the log;
    answering a verification needs only to know the set has not changed.
    Every key event (published, retired, revoked) is appended to the
    transparency log and checkpointed in the transaction that makes it, so
    the size of the latest checkpoint moves with every change. A
    :class:`~ageverify.storage.db.ScalarReader` reads it before each
    verification: on SQLite one indexed query; on PostgreSQL a query only
    after the log announced an append (NOTIFY, at commit) or once a second.
    The set is built again when the size has moved, so a revoked key stops
    verifying at once in this process and in every other one as soon as the
    notification arrives (within a second in any case), or after ``ttl``
    seconds (a key past ``verify_until`` leaves the set; the credentials it
    signed have expired by then anyway).
    """

    def __init__(
        self,
        engine: Engine,
        jwks: Callable[[float], dict[str, Any]],
        *,
        ttl: float = 60,
    ) -> None:
        self._covered_size = ScalarReader(engine, _COVERED_SIZE, channel=LOG_CHANNEL)
        self._jwks = jwks
        self._ttl = ttl
        # (checkpoint size, rebuild after, kid -> key): replaced whole, never mutated.
        self._cached: tuple[int, float, dict[str, jose.PublicKey]] | None = None

    def resolver(self, now: float) -> Callable[[str], jose.PublicKey | None]:
        """A ``kid -> key`` function over the keys published at ``now`` (unknown kid -> None)."""
        size = int(self._covered_size.read() or 0)
        cached = self._cached
        if cached is None or cached[0] != size or now >= cached[1]:
            # The size was read first: a change committed in between makes the
            # next call see a new size and build again, never the reverse.
            keys = {
                jwk["kid"]: jose.public_key_from_jwk(jwk, kinds=("EC-P-256",))
                for jwk in self._jwks(now).get("keys", ())
            }
            cached = self._cached = (size, now + self._ttl, keys)
        return cached[2].get

    def close(self) -> None:
        """Close the connection this thread reads the checkpoint size on."""
        self._covered_size.close()


# Plain SQL every database reads alike.
_COVERED_SIZE = f"SELECT coalesce(max(size), 0) FROM {LogCheckpoint.__tablename__}"  # noqa: S608


@dataclass
class Runtime:
    """Settings, database, keys and the issuing services of one process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    signing_keys: SigningKeys
    issuer: Issuer
    clock: Clock
    token_keys: TokenKeys
    tokens: TokenIssuer
    log: TransparencyLog
    verification_keys: VerificationKeys

    def check_ready(self) -> None:
        """Raise unless the database and Redis answer and the current epoch has a signing key."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        if self.settings.redis_url:
            import redis

            client = redis.Redis.from_url(
                self.settings.redis_url, socket_timeout=2, socket_connect_timeout=2
            )
            try:
                client.ping()
            finally:
                client.close()
        self.signing_keys.current(self.clock())

    def close(self) -> None:
        """Release database connections (for tests and short-lived commands)."""
        self.verification_keys.close()
        self.issuer.close()
        self.engine.dispose()


def wait_for_database(engine: Engine, seconds: int) -> None:
    """Return once the database of ``engine`` answers; give up after ``seconds``.

    A worker that gunicorn starts (or restarts) while the database is briefly
    away waits for it instead of failing to boot, which would stop the whole
    server. Past ``seconds`` it raises ``ConfigurationError``: a database that
    stays away is a deployment problem to report, not to wait out.
    """
    deadline = time.monotonic() + seconds
    warned = False
    while True:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except OperationalError as error:
            if time.monotonic() >= deadline:
                raise ConfigurationError(
                    f"ageverify cannot start: the database does not answer "
                    f"({type(error.orig).__name__}) after {seconds} s "
                    "(AGEVERIFY_DATABASE_WAIT)"
                ) from None
            if not warned:
                logging.getLogger("ageverify").warning(
                    "the database does not answer; waiting up to %d s", seconds
                )
                warned = True
            time.sleep(0.5)


def while_the_database_answers(
    engine: Engine, seconds: int, work: Callable[[], T], *, attempts: int = 3
) -> T:
    """Return ``work()``, run again if the database goes away while it runs.

    :func:`wait_for_database` covers a database away when a worker starts;
    this covers one that goes away a moment later, during the start's own
    reads and writes (a database restarted during a rolling deploy). After a
    connection error, it waits for the database as :func:`wait_for_database`
    does and runs ``work`` again, ``attempts`` times in all: ``work`` must be
    safe to repeat (the start's steps are: each creates only what is missing,
    in one transaction).
    """
    for _ in range(attempts - 1):
        try:
            return work()
        except (OperationalError, InterfaceError):
            logging.getLogger("ageverify").warning(
                "the database went away while starting; waiting for it, then trying again"
            )
            wait_for_database(engine, seconds)
    return work()


def open_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    """Build the runtime for ``settings``: engine, schema, key store, log, keys, issuing services.

    ``clock`` (default ``time.time``) is the one source of "now" for every part.
    """
    clock = clock or time.time
    # The embedded default keeps its SQLite file in the instance folder.
    settings.instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    wait_for_database(engine, settings.database_wait)
    while_the_database_answers(engine, settings.database_wait, lambda: create_schema(engine))
    sessions = session_factory(engine)
    # Encrypted files or a PKCS#11 token (AGEVERIFY_KEY_STORE); a token that
    # is missing or refuses the PIN stops the start here.
    keystore = open_key_store(settings)
    # Every key event of every session goes to the log, in that session's transaction.
    log = TransparencyLog(sessions, keystore, settings.issuer_url, clock)
    log.attach(sessions)
    signing_keys = SigningKeys(sessions, keystore, settings, clock)
    issuer = Issuer(settings, sessions, signing_keys, clock=clock)
    verification_keys = VerificationKeys(engine, signing_keys.jwks)
    token_keys = TokenKeys(sessions, keystore, settings, clock)

    tokens = TokenIssuer(settings, sessions, token_keys, verification_keys.resolver, clock=clock)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        signing_keys=signing_keys,
        issuer=issuer,
        clock=clock,
        token_keys=token_keys,
        tokens=tokens,
        log=log,
        verification_keys=verification_keys,
    )


def runtime() -> Runtime:
    """The runtime of the app handling the current request."""
    # The app object itself: an attribute read through the proxy costs ten
    # times as much (see web.envelope.current_request).
    state: Runtime = current_app._get_current_object().extensions["ageverify"]  # type: ignore[attr-defined]
    return state
