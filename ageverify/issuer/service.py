"""The issuer service: attestations in, credentials out, all or nothing.

``Issuer.issue_credentials`` is the one domain call behind
``POST /v1/credentials``. The attestation is checked and the batch signed
first, reading the database only; then one short write transaction records
the attestation's ``jti`` and bumps the aggregate counts, after making sure
the key that signed is still the current one. Only when it commits do the
credentials leave: a refused request (bad holder keys, no signing key, a
replay) never burns the attestation, a signed batch is never returned
without its ``jti`` recorded, and a batch signed by a key revoked meanwhile
is thrown away. Writers wait for each other (SQLite has one writer, and
PostgreSQL transactions take the writers' lock), so the signing, which is
most of the work, stays outside the lock.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ageverify.config import Settings
from ageverify.errors import IssuanceError
from ageverify.formats.attestation import Attestation
from ageverify.formats.sdjwt import CREDENTIAL_TYP, SD_ALG, VCT
from ageverify.issuer.credentials import entailed_facts, issue_batch, parse_holder_keys
from ageverify.issuer.intake import verify_attestation
from ageverify.issuer.keys import SIGNING_ALG, SigningKeys
from ageverify.storage.db import CompiledStatement, reads_without_transaction, transaction
from ageverify.storage.models import Base, IssuanceCount, UsedAttestation

# Used attestation ids are purged at most this often per process: the purge
# is a range delete, cheap but pointless on every request.
PURGE_INTERVAL = 300

# Issuance runs these on every request: Core statements built once (the ORM
# unit of work is far slower than signing a credential), and those run on
# every request also compiled once per dialect (CompiledStatement). The rare
# paths (purge, a fact's first count of the day) stay plain Core.
_used = Base.metadata.tables[UsedAttestation.__tablename__]
_counts = Base.metadata.tables[IssuanceCount.__tablename__]
_RECORD_USE = CompiledStatement(insert(_used))
_USED = CompiledStatement(
    select(_used.c.jti).where(
        _used.c.verifier_id == bindparam("verifier_id"), _used.c.jti == bindparam("jti")
    )
)
_PURGE_USED = delete(_used).where(_used.c.expires_at < bindparam("now"))
_INCREMENT = (
    update(_counts)
    .where(
        _counts.c.day == bindparam("k_day"),
        _counts.c.method == bindparam("k_method"),
        _counts.c.threshold == bindparam("k_threshold"),
        _counts.c.over == bindparam("k_over"),
    )
    .values(count=_counts.c.count + 1)
)


@functools.cache
def _increment_all(facts: int) -> CompiledStatement:
    """Add one to the counts of ``facts`` facts (binds ``t0``, ``o0``, ...) in one statement.

    RETURNING (SQLite 3.35+, PostgreSQL) names the rows it found, so that
    only a fact's first issuance of the day takes the per-row insert.
    """
    pairs = [
        and_(_counts.c.threshold == bindparam(f"t{i}"), _counts.c.over == bindparam(f"o{i}"))
        for i in range(facts)
    ]
    return CompiledStatement(
        update(_counts)
        .where(
            _counts.c.day == bindparam("k_day"),
            _counts.c.method == bindparam("k_method"),
            or_(*pairs),
        )
        .values(count=_counts.c.count + 1)
        .returning(_counts.c.threshold, _counts.c.over)
    )


_FIRST_COUNT = insert(_counts)

# HTTP paths of the issuer, as published in the discovery document.
JWKS_PATH = "/.well-known/jwks.json"
CREDENTIAL_PATH = "/v1/credentials"
PRESENTATION_VERIFY_PATH = "/v1/presentations/verify"


class Issuer:
    """Issues age credentials for verified attestations.

    ``settings`` supply the issuer URL, thresholds, lifetime, batch limit and
    decoys; ``sessionmaker`` opens database sessions; ``signing_keys`` holds
    the credential signing keys; ``clock`` returns the current unix time.
    """

    def __init__(
        self,
        settings: Settings,
        sessionmaker: sessionmaker[Session],
        signing_keys: SigningKeys,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._sessions = sessionmaker
        self._signing_keys = signing_keys
        self._clock = clock
        self._next_purge = 0.0
        # Every credential lists as many digests as there are thresholds plus
        # the configured decoys, whatever was attested.
        self._sd_length = len(settings.thresholds) + settings.decoys

    def issue_credentials(self, attestation_token: str, holder_keys: object) -> list[str]:
        """Verify ``attestation_token`` and sign one credential per key in ``holder_keys``.

        ``holder_keys`` is the untrusted ``holder_keys`` member of the request.
        Returns the credentials (``<issuer-jwt>~<disclosure>~...~``) in the
        order of the keys. Raises ``IssuanceError``: the attestation codes of
        ``verify_attestation``, the holder key codes of ``parse_holder_keys``,
        ``attestation-replayed`` when the ``jti`` was used before, and
        ``no-signing-key`` when no key covers the current epoch.
        """
        settings = self._settings
        now = self._clock()
        # One read before signing: the attestation's verifier, whether its
        # jti was used already, and the key that signs now. Each is decided
        # again where it counts: the replay by the insert, the key in the
        # transaction below.
        with reads_without_transaction(self._sessions()) as session:
            attestation = verify_attestation(
                session,
                attestation_token,
                issuer=settings.issuer_url,
                now=now,
                leeway=settings.leeway,
                thresholds=settings.thresholds,
            )
            keys = parse_holder_keys(holder_keys, settings.max_batch)
            # A replay is refused before any signing (the insert below decides).
            if _USED.execute(session.connection(), _used_key(attestation)).first():
                raise IssuanceError("attestation-replayed")
            signing = self._signing_keys.current(now, session=session)
        facts = entailed_facts(attestation.age_over, settings.thresholds)
        for attempt in range(3):
            if attempt:
                signing = self._signing_keys.current(now)
            credentials = issue_batch(
                signing_key=signing.private_key,
                kid=signing.kid,
                issuer=settings.issuer_url,
                epoch_start=signing.epoch_start,
                lifetime=settings.credential_lifetime,
                holder_keys=keys,
                age_over=facts,
                decoys=self._sd_length - len(facts),
            )
            # Without the writers' lock on PostgreSQL: every write here is safe
            # against a concurrent one (the jti's primary key refuses a second
            # insert, counts are single UPDATEs), and issuance from several
            # workers would otherwise queue on it. A key revoked just after
            # the check below only means credentials that no longer verify.
            with transaction(self._sessions, serialised=False) as session:
                # Retired or revoked by another process while this one signed:
                # the batch is thrown away and signed again with the key now current.
                if self._signing_keys.current(now, session=session).kid != signing.kid:
                    continue
                self._record_use(session, attestation)
                self._purge_used(session, now)
                self._count(session, attestation, now)
            return credentials
        raise IssuanceError("no-signing-key")

    def metadata(self) -> dict[str, Any]:
        """The discovery document served at ``/.well-known/age-verification``."""
        issuer = self._settings.issuer_url
        return {
            "issuer": issuer,
            "jwks_uri": issuer + JWKS_PATH,
            "credential_endpoint": issuer + CREDENTIAL_PATH,
            "presentation_verify_endpoint": issuer + PRESENTATION_VERIFY_PATH,
            "credential_format": CREDENTIAL_TYP,
            "credential_signing_alg": SIGNING_ALG,
            "vct": VCT,
            "sd_alg": SD_ALG,
            "thresholds": list(self._settings.thresholds),
            "credential_lifetime": self._settings.credential_lifetime,
            "epoch_seconds": self._settings.epoch_seconds,
            "max_batch": self._settings.max_batch,
        }

    def jwt_vc_issuer_metadata(self) -> dict[str, str]:
        """The SD-JWT VC issuer metadata served at ``/.well-known/jwt-vc-issuer``."""
        issuer = self._settings.issuer_url
        return {"issuer": issuer, "jwks_uri": issuer + JWKS_PATH}

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The credential signing keys platforms verify with, as a JWKS."""
        return self._signing_keys.jwks(self._clock())

    def _record_use(self, session: Session, attestation: Attestation) -> None:
        # Kept until the attestation could no longer be accepted, leeway included.
        values = {**_used_key(attestation), "expires_at": attestation.exp + self._settings.leeway}
        try:
            _RECORD_USE.execute(session.connection(), values)
        except IntegrityError:
            raise IssuanceError("attestation-replayed") from None

    def _purge_used(self, session: Session, now: float) -> None:
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_INTERVAL
        session.connection().execute(_PURGE_USED, {"now": int(now)})

    def _count(self, session: Session, attestation: Attestation, now: float) -> None:
        connection = session.connection()
        day = time.strftime("%Y-%m-%d", time.gmtime(now))
        facts = sorted(attestation.age_over.items())
        increment: dict[str, object] = {"k_day": day, "k_method": attestation.method}
        for i, (threshold, over) in enumerate(facts):
            increment[f"t{i}"], increment[f"o{i}"] = threshold, over
        found = _increment_all(len(facts)).execute(connection, increment).all()
        counted = {(threshold, bool(over)) for threshold, over in found}
        for threshold, over in facts:
            if (threshold, over) in counted:
                continue
            key = {
                "k_day": day,
                "k_method": attestation.method,
                "k_threshold": threshold,
                "k_over": over,
            }
            first = {
                "day": day,
                "method": attestation.method,
                "threshold": threshold,
                "over": over,
                "count": 1,
            }
            try:
                # A concurrent first issuance of the day may insert the row
                # first; the savepoint keeps our transaction usable if so.
                with connection.begin_nested():
                    connection.execute(_FIRST_COUNT, first)
            except IntegrityError:
                connection.execute(_INCREMENT, key)


def _used_key(attestation: Attestation) -> dict[str, str]:
    """What identifies a used attestation: its verifier and its ``jti``."""
    return {"verifier_id": attestation.verifier_id, "jti": attestation.jti}
