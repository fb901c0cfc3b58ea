"""The life cycle shared by the issuer's keys: listed, retired, revoked.

Credential signing keys (``ageverify.issuer.keys``) and Privacy Pass token
keys (``ageverify.issuer.tokens``) go through the same states: ``active``
(signs), ``retired`` (no longer signs, stays published) and ``revoked``
(unpublished at once, private key deleted from the key store). Each change is
recorded in the transparency log in the transaction that makes it. A
:class:`KeyLifecycle` is told which table, log events and key names belong to
one kind of key.
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ageverify.crypto.keystore import KeyStore
from ageverify.errors import AgeVerifyError, KeyStoreError
from ageverify.storage.db import transaction
from ageverify.storage.models import SigningKey, TokenKey
from ageverify.translog.log import record

log = logging.getLogger("ageverify.keys")

Row = TypeVar("Row", SigningKey, TokenKey)


@dataclass(frozen=True)
class KeyLifecycle(Generic[Row]):
    """Listing, retiring and revoking the keys of one kind.

    ``model`` is the table of that kind, keyed by key id, and ``order`` the
    columns ``list`` sorts by. ``retired`` and ``revoked`` build the log event
    of each step from the key id and the time; ``describe`` turns a row into
    the metadata returned to the caller; ``key_file`` names a key's private
    key in ``keystore``. ``cache`` holds the loaded private keys by key id,
    guarded by ``lock``; ``clock`` returns the current unix time.
    """

    sessions: sessionmaker[Session]
    keystore: KeyStore
    model: type[Row]
    order: tuple[Any, ...]
    retired: Callable[[str, float], dict[str, Any]]
    revoked: Callable[[str, float], dict[str, Any]]
    describe: Callable[[Row], dict[str, Any]]
    key_file: Callable[[str], str]
    cache: dict[str, Any]
    lock: threading.Lock
    clock: Callable[[], float]

    def list(self) -> builtins.list[dict[str, Any]]:
        """``describe`` of every key, sorted by ``order``."""
        with self.sessions() as session:
            rows = session.scalars(select(self.model).order_by(*self.order)).all()
            return [self.describe(row) for row in rows]

    def retire(self, key_id: str, now: float | None = None) -> dict[str, Any]:
        """Stop ``key_id`` signing at ``now`` (default: the clock) and log it; returns its metadata.

        Retiring a retired key changes nothing. Raises ``unknown-key`` for an
        unknown id and ``conflict`` for a revoked key.
        """
        now = self.clock() if now is None else now
        with transaction(self.sessions) as session:
            row = self._get(session, key_id)
            if row.status == "revoked":
                raise AgeVerifyError("conflict", "The key is revoked already.")
            if row.status == "active":
                row.status = "retired"
                row.retired_at = int(now)
                record(session, self.retired(key_id, now))
            return self.describe(row)

    def revoke(self, key_id: str, now: float | None = None) -> dict[str, Any]:
        """Unpublish ``key_id`` at ``now`` (default: the clock), log it and delete its private key.

        Returns its metadata. Revoking a revoked key logs nothing but still
        makes sure its private key is gone. Raises ``unknown-key`` for an
        unknown id.
        """
        now = self.clock() if now is None else now
        with transaction(self.sessions) as session:
            row = self._get(session, key_id)
            if row.status != "revoked":
                row.status = "revoked"
                row.revoked_at = int(now)
                record(session, self.revoked(key_id, now))
            description = self.describe(row)
        # Only after the commit: a failed commit must not leave an active key
        # without its private half.
        with self.lock:
            self.cache.pop(key_id, None)
        try:
            self.keystore.delete(self.key_file(key_id))
        except (OSError, KeyStoreError) as error:
            # The revocation stands (committed, logged, unpublished); a key
            # folder mounted read-only (a Kubernetes Secret) keeps the file,
            # and a token may refuse to destroy the object: the operator
            # removes it where the keys come from.
            log.warning(
                "revoked %s, but its private key could not be removed (%s): "
                "delete %s from the key source",
                key_id,
                type(error).__name__,
                self.key_file(key_id),
            )
        return description

    def _get(self, session: Session, key_id: str) -> Row:
        # Ids come from callers as they were typed; anything but a string is unknown.
        row = session.get(self.model, key_id) if isinstance(key_id, str) else None
        if row is None:
            raise AgeVerifyError("unknown-key")
        return row
