"""Credential signing keys: one ES256 key per epoch, generated ahead, published by kid.

Every credential signed in an epoch carries the epoch start as ``iat``, so a
credential tells no more about when its holder was verified than the epoch.
Keys are generated some epochs ahead so that platforms have them cached
before they sign anything. A key signs during its epoch, is published in the
JWKS until the last credential it signed has expired (``verify_until``), and
is then dropped. ``retire`` stops a key signing but keeps it published;
``revoke`` unpublishes it at once and deletes the private key.

Private keys live in the key store (``ageverify.crypto``: encrypted files, or
a PKCS#11 token that generates them and never lets them out); this module
holds only :class:`~ageverify.crypto.stored_keys.StoredP256Key` handles,
through which every signature goes to the store.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, sessionmaker

from ageverify.config import Settings
from ageverify.crypto.keystore import KeyKind, KeyStore, PublicKey
from ageverify.crypto.stored_keys import StoredP256Key, p256_key
from ageverify.errors import IssuanceError, KeyStoreError
from ageverify.formats.jose import public_jwk, thumbprint
from ageverify.issuer.lifecycle import KeyLifecycle
from ageverify.storage.db import CompiledStatement, transaction
from ageverify.storage.models import SigningKey
from ageverify.translog import events
from ageverify.translog.log import covered_size_query, record

SIGNING_ALG = "ES256"

# The kid of the key that signs in the epoch starting at :start. Asked on
# every issuance (the issuer also folds it into its own statements): built
# once, reused with a new epoch start.
ACTIVE_KID = (
    select(SigningKey.kid)
    .where(SigningKey.status == "active", SigningKey.epoch_start == bindparam("start"))
    .order_by(SigningKey.created_at, SigningKey.kid)
    .limit(1)
)
_ACTIVE_KID = CompiledStatement(ACTIVE_KID)


class CurrentKey(NamedTuple):
    """The key that signs now: its ``kid``, the private key and its ``epoch_start``.

    ``private_key`` is a handle on the key in the key store: it signs (ES256)
    through the store and cannot be serialised.
    """

    kid: str
    private_key: ec.EllipticCurvePrivateKey
    epoch_start: int


class SigningKeys:
    """The issuer's credential signing keys: metadata in the database, private keys in ``keystore``.

    ``settings`` gives the epoch length, credential lifetime and how many
    epochs ahead to generate; ``clock`` returns the current unix time.
    """

    def __init__(
        self,
        sessionmaker: sessionmaker[Session],
        keystore: KeyStore,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessionmaker
        self._keystore = keystore
        self._epoch = settings.epoch_seconds
        self._lifetime = settings.credential_lifetime
        self._ahead = settings.keys_ahead
        self._clock = clock
        self._private: dict[str, StoredP256Key] = {}
        self._lock = threading.Lock()
        self._lifecycle = KeyLifecycle(
            sessions=sessionmaker,
            keystore=keystore,
            model=SigningKey,
            order=(SigningKey.epoch_start.desc(), SigningKey.kid),
            retired=lambda kid, now: events.credential_key_retired(kid=kid, time=now),
            revoked=lambda kid, now: events.credential_key_revoked(kid=kid, time=now),
            describe=_describe,
            # Credential key files are named by their kid alone.
            key_file=lambda kid: kid,
            cache=self._private,
            lock=self._lock,
            clock=clock,
        )

    def epoch_start(self, now: float) -> int:
        """The start of the epoch that contains unix time ``now``."""
        return int(now // self._epoch) * self._epoch

    def generate_ahead(self, now: float | None = None) -> builtins.list[str]:
        """Make sure the current epoch and the next ``keys_ahead`` each have an active key.

        Returns the kids of the keys created (empty when nothing was missing).
        The private key is generated in the key store before its metadata is
        committed and deleted again if the commit fails, so a published key
        always has a private key behind it.
        """
        now = self._clock() if now is None else now
        first = self.epoch_start(now)
        starts = [first + i * self._epoch for i in range(self._ahead + 1)]
        created: builtins.list[str] = []
        try:
            with transaction(self._sessions) as session:
                covered = set(
                    session.scalars(
                        select(SigningKey.epoch_start).where(
                            SigningKey.status == "active", SigningKey.epoch_start.in_(starts)
                        )
                    )
                )
                for start in starts:
                    if start in covered:
                        continue
                    kid, public_key = self._keystore.generate(KeyKind.P256, _kid)
                    created.append(kid)
                    public = _public_jwk(public_key)
                    row = SigningKey(
                        kid=kid,
                        epoch_start=start,
                        epoch_end=start + self._epoch,
                        verify_until=start + self._epoch + self._lifetime,
                        status="active",
                        public_jwk=public,
                        created_at=int(now),
                    )
                    session.add(row)
                    # Logged in this transaction: the key and its entry commit together.
                    row.log_index = record(
                        session,
                        events.credential_key_published(
                            kid=kid,
                            jwk=public,
                            epoch_start=row.epoch_start,
                            epoch_end=row.epoch_end,
                            verify_until=row.verify_until,
                            time=now,
                        ),
                    )
        except BaseException:
            for kid in created:
                self._keystore.delete(kid)
            raise
        return created

    def current(self, now: float | None = None, *, session: Session | None = None) -> CurrentKey:
        """The active key of the epoch containing ``now``; ``no-signing-key`` if there is none.

        Pass ``session`` to read within the caller's transaction. The database
        is asked every time, so a key retired or revoked by another process
        stops signing here at once; only the handle on the private key is cached.
        """
        now = self._clock() if now is None else now
        start = self.epoch_start(now)
        if session is None:
            with self._sessions() as own:
                kid = _ACTIVE_KID.execute(own.connection(), {"start": start}).scalar()
        else:
            kid = _ACTIVE_KID.execute(session.connection(), {"start": start}).scalar()
        return self.signing_key(kid, start)

    def signing_key(self, kid: str | None, start: int) -> CurrentKey:
        """The key ``kid`` as it signs in the epoch starting at ``start``.

        ``kid`` is what :data:`ACTIVE_KID` read for that epoch, for a caller
        that asked in a statement of its own; ``None`` (no active key) raises
        ``no-signing-key``.
        """
        if kid is None:
            raise IssuanceError("no-signing-key")
        return CurrentKey(kid, self._private_key(kid), start)

    def signing_until(self, now: float | None = None) -> int | None:
        """When the last epoch with an active key ends (None: no key signs now or later).

        Monitoring alerts on it: issuance stops at that moment unless
        ``generate_ahead`` runs before.
        """
        now = self._clock() if now is None else now
        with self._sessions() as session:
            end: int | None = session.scalar(
                select(func.max(SigningKey.epoch_end)).where(
                    SigningKey.status == "active", SigningKey.epoch_end > now
                )
            )
            return end

    def list(self) -> builtins.list[dict[str, Any]]:
        """Metadata of every key, newest epoch first (public JWKs only)."""
        return self._lifecycle.list()

    def retire(self, kid: str, now: float | None = None) -> dict[str, Any]:
        """Stop ``kid`` signing; it stays published until ``verify_until``.

        Run ``generate_ahead`` afterwards to replace it in its epoch. Raises
        ``unknown-key`` for an unknown kid and ``conflict`` for a revoked one.
        """
        return self._lifecycle.retire(kid, now)

    def revoke(self, kid: str, now: float | None = None) -> dict[str, Any]:
        """Unpublish ``kid`` at once and delete its private key; its credentials stop verifying.

        Raises ``unknown-key`` for an unknown kid.
        """
        return self._lifecycle.revoke(kid, now)

    def jwks(self, now: float | None = None) -> dict[str, builtins.list[dict[str, str]]]:
        """The JWKS platforms verify with: every unrevoked key not yet past ``verify_until``.

        Only keys whose ``credential-key-published`` entry a signed checkpoint
        of the transparency log covers are listed.

        Includes keys generated for coming epochs, so caches hold them before
        they sign. Each JWK carries ``kid``, ``alg`` ES256 and ``use`` sig.
        """
        now = self._clock() if now is None else now
        with self._sessions() as session:
            rows = session.scalars(
                select(SigningKey)
                .where(
                    SigningKey.status != "revoked",
                    SigningKey.verify_until > now,
                    # Served only once a signed checkpoint covers its log entry.
                    SigningKey.log_index < covered_size_query(),
                )
                .order_by(SigningKey.epoch_start, SigningKey.kid)
            ).all()
            return {
                "keys": [
                    {**row.public_jwk, "kid": row.kid, "alg": SIGNING_ALG, "use": "sig"}
                    for row in rows
                ]
            }

    def _private_key(self, kid: str) -> StoredP256Key:
        key = self._private.get(kid)
        if key is None:
            with self._lock:
                key = self._private.get(kid)
                if key is None:
                    # Credential keys are ES256: a key swapped for another kind
                    # never signs (p256_key refuses it). Looked up once per process.
                    key = p256_key(self._keystore, kid)
                    self._private[kid] = key
        return key


def _public_jwk(public_key: PublicKey) -> dict[str, str]:
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise KeyStoreError("a credential signing key is not a P-256 key")
    return public_jwk(public_key)


def _kid(public_key: PublicKey) -> str:
    """The kid a new credential key is stored under: its RFC 7638 thumbprint."""
    return thumbprint(_public_jwk(public_key))


def _describe(row: SigningKey) -> dict[str, Any]:
    return {
        "kid": row.kid,
        "alg": SIGNING_ALG,
        "status": row.status,
        "epoch_start": row.epoch_start,
        "epoch_end": row.epoch_end,
        "verify_until": row.verify_until,
        "created_at": row.created_at,
        "retired_at": row.retired_at,
        "revoked_at": row.revoked_at,
        "public_jwk": dict(row.public_jwk),
    }
