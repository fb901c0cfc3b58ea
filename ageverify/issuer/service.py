"""The issuer service: attestations in, credentials out, all or nothing.

``Issuer.issue_credentials`` is the one domain call behind
``POST /v1/credentials``. It needs three things from the database: the
attestation's verifier and key, whether its ``jti`` was used already, and
the key that signs now. The attestation is checked and the batch signed;
then one atomic write records the ``jti`` and bumps the aggregate counts,
provided the key that signed still signs and the verifier is still active at
the version that was read. Only when it commits do the credentials leave: a
refused request (bad holder keys, no signing key, a replay) never burns the
attestation, a signed batch is never returned without its ``jti`` recorded,
and a batch signed by a key retired or revoked meanwhile is thrown away and
signed again. The signing, which is most of the work, holds no lock.

A process remembers what it last read of each active verifier's key (by
the attestation's ``iss`` and ``kid``) and the key that signed the last
batch it recorded. An issuance that finds both skips the read and makes the
write alone, which is the check that they still hold (every change to a
verifier or its keys raises the verifier's ``version``). A replay is then
refused by the ``jti``'s primary key, after the batch was signed but before
any credential leaves. An issuance that finds nothing remembered, or that
what is remembered refuses, reads first (and refuses a replay before
signing); so does one whose write finds that something changed, which then
checks the attestation again against what is there now, and signs again if
the signing key changed.

So an issuance is one statement on PostgreSQL (one round trip; two when it
reads) and, on SQLite, a short transaction of two statements. They run
straight on a driver connection kept for them
(``storage.db.KeptConnection``), compiled once per dialect: through a
session, each would cost more than the database spends on it.

On PostgreSQL an issuance adds to the counts of one of ``COUNT_SHARDS`` rows
per fact, at random: with a single row per fact, the issuances of every
instance would queue for its lock, each until the commit of the one before
returned (see ``python -m benchmarks.counts``).
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import (
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ageverify.config import Settings
from ageverify.errors import IssuanceError, KeyStoreError
from ageverify.formats.attestation import Attestation, parse_attestation
from ageverify.formats.jose import CompactJWS
from ageverify.formats.sdjwt import CREDENTIAL_TYP, SD_ALG, VCT
from ageverify.issuer.credentials import entailed_facts, issue_batch, parse_holder_keys
from ageverify.issuer.intake import VERIFIER_AND_KEY, check_attestation, lookup_parameters
from ageverify.issuer.keys import ACTIVE_KID, SIGNING_ALG, CurrentKey, SigningKeys
from ageverify.storage.db import CompiledStatement, KeptConnection, transaction
from ageverify.storage.models import Base, IssuanceCount, UsedAttestation, Verifier

# Used attestation ids are purged at most this often per process: the purge
# is a range delete, cheap but pointless on every request.
PURGE_INTERVAL = 300

_used = Base.metadata.tables[UsedAttestation.__tablename__]
_counts = Base.metadata.tables[IssuanceCount.__tablename__]

# The read, in one round trip: the verifier and its key (VERIFIER_AND_KEY's
# columns), the verifier's version, whether the jti was used (binds iss,
# kid, jti), and the kid that signs in the epoch starting at :start.
_READ = CompiledStatement(
    VERIFIER_AND_KEY.add_columns(
        Verifier.version,
        exists()
        .where(_used.c.verifier_id == bindparam("iss"), _used.c.jti == bindparam("jti"))
        .label("used"),
        ACTIVE_KID.scalar_subquery().label("signing_kid"),
    )
)


class _Found(NamedTuple):
    """A row of _READ, named as check_attestation reads it."""

    status: str
    methods: list[str]
    alg: str | None
    jwk: dict[str, Any] | None
    version: int
    used: bool
    signing_kid: str | None


# Records the jti only while :kid is still the key that signs in the epoch of
# :start and the verifier is active at :version: no row inserted means that
# the batch was signed by a key retired or revoked since, or that the
# verifier changed since it was read. A jti recorded before fails on the
# primary key.
_RECORD = insert(_used).from_select(
    ["verifier_id", "jti", "expires_at"],
    select(
        bindparam("verifier_id", type_=_used.c.verifier_id.type),
        bindparam("jti", type_=_used.c.jti.type),
        bindparam("expires_at", type_=_used.c.expires_at.type),
    ).where(
        ACTIVE_KID.scalar_subquery() == bindparam("kid"),
        exists().where(
            Verifier.id == bindparam("verifier_id"),
            Verifier.status == "active",
            Verifier.version == bindparam("version"),
        ),
    ),
)
_RECORD_USE = CompiledStatement(_RECORD)
_PURGE_USED = delete(_used).where(_used.c.expires_at < bindparam("now"))


@functools.cache
def _count_facts(facts: int) -> CompiledStatement:
    """Add one to the counts of ``facts`` facts (binds ``day``, ``method``, ``t0``, ``o0``, ...).

    One upsert (SQLite 3.24+): a fact's first issuance of the day inserts
    its row, the others add one to it. Only SQLite runs it (PostgreSQL
    counts in :func:`_record_and_count`), hence the dialect's own insert.
    """
    from sqlalchemy.dialects import sqlite

    rows = [
        {
            "day": bindparam("day"),
            "method": bindparam("method"),
            "threshold": bindparam(f"t{i}"),
            "over": bindparam(f"o{i}"),
            "count": 1,
            # SQLite's writers take turns whatever rows they write: one shard.
            "shard": 0,
        }
        for i in range(facts)
    ]
    return CompiledStatement(
        sqlite.insert(_counts)
        .values(rows)
        .on_conflict_do_update(
            index_elements=list(_counts.primary_key.columns),
            set_={"count": _counts.c.count + 1},
        )
    )


@functools.cache
def _record_and_count() -> CompiledStatement:
    """PostgreSQL's record and counts in one statement, which commits on its own.

    Both data-modifying parts run to completion or neither does::

        WITH recorded AS (INSERT INTO used_attestations ... WHERE <:kid signs> RETURNING 1),
        counted AS (INSERT INTO issuance_count_shards ...
                    SELECT :day, :method, fact.threshold, fact.over, :shard, 1
                    FROM recorded JOIN unnest(:thresholds, :overs) AS fact ON true
                    ON CONFLICT (day, method, threshold, over, shard)
                    DO UPDATE SET count = count + 1)
        SELECT count(*) FROM recorded

    The counts take one row per fact for each row recorded, so a key no
    longer current writes nothing anywhere; the result is the number of jtis
    recorded (0 or 1). Built on first use: a SQLite process never loads the
    PostgreSQL dialect.
    """
    from sqlalchemy.dialects import postgresql

    recorded = _RECORD.returning(literal_column("1")).cte("recorded")
    fact = (
        func.unnest(
            bindparam("thresholds", type_=postgresql.ARRAY(_counts.c.threshold.type)),
            bindparam("overs", type_=postgresql.ARRAY(_counts.c.over.type)),
        )
        .table_valued("threshold", "over")
        .render_derived(name="fact")
    )
    facts = select(
        bindparam("day", type_=_counts.c.day.type),
        bindparam("method", type_=_counts.c.method.type),
        fact.c.threshold,
        fact.c.over,
        bindparam("shard", type_=_counts.c.shard.type),
        literal(1, _counts.c.count.type),
    ).select_from(recorded.join(fact, true()))
    counted = (
        postgresql.insert(_counts)
        .from_select(["day", "method", "threshold", "over", "shard", "count"], facts)
        .on_conflict_do_update(
            index_elements=list(_counts.primary_key.columns),
            set_={"count": _counts.c.count + 1},
        )
        .cte("counted")
    )
    return CompiledStatement(select(func.count()).select_from(recorded).add_cte(counted))


# The rows each count is spread over on PostgreSQL (see IssuanceCount):
# enough that concurrent issuances seldom pick the same one. A stats query
# adds up 32 rows per cell, which costs nothing at a few cells a day.
COUNT_SHARDS = 32

# What a process remembers of the registry: at most this many verifier keys,
# each under the attestation's (iss, kid).
REMEMBERED_KEYS = 1024
_VerifierKey = tuple[str | None, str | None]

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
        *,
        count_shards: int = COUNT_SHARDS,
    ) -> None:
        if not 1 <= count_shards <= 32_767:
            raise ValueError("count_shards must be from 1 to 32767 (a SMALLINT)")
        self._settings = settings
        self._count_shards = count_shards
        self._sessions = sessionmaker
        self._signing_keys = signing_keys
        self._clock = clock
        self._next_purge = 0.0
        with sessionmaker() as session:  # no connection is made
            engine = session.get_bind()
        # The statements of every issuance run on a connection kept for them.
        self._kept = KeptConnection(engine)  # type: ignore[arg-type]
        self._postgresql = engine.dialect.name == "postgresql"
        # Every credential lists as many digests as there are thresholds plus
        # the configured decoys, whatever was attested.
        self._sd_length = len(settings.thresholds) + settings.decoys
        # What was last read of each active verifier's key, as a _READ row
        # knowing nothing of jtis, by (iss, kid); and the key that signed the
        # last batch recorded. The record checks that both still hold.
        self._registry: dict[_VerifierKey, _Found] = {}
        self._signing: CurrentKey | None = None

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
        jws = parse_attestation(attestation_token)
        start = self._signing_keys.epoch_start(now)
        lookup = lookup_parameters(jws)
        checked = self._check_remembered(jws, lookup, start, now)
        remembered = checked is not None
        attestation, row, signing = checked or (*self._check_read(jws, lookup, start, now), None)
        keys = parse_holder_keys(holder_keys, settings.max_batch)
        # A replay the read found is refused before any signing.
        if row.used:
            raise IssuanceError("attestation-replayed")
        signing = signing or self._signing_keys.signing_key(row.signing_kid, start)
        facts = entailed_facts(attestation.age_over, settings.thresholds)
        self._purge_used(now)
        credentials = None
        for _ in range(3):
            if credentials is None:
                credentials = self._sign(signing, keys, facts, remembered=remembered)
            if credentials is not None and self._record(attestation, signing, row.version, now):
                self._signing = signing
                return credentials
            # The key that signed no longer signs (retired or revoked by
            # another process), or the verifier changed since it was read:
            # what is there now decides.
            attestation, row = self._check_read(jws, lookup, start, now)
            if row.used:
                raise IssuanceError("attestation-replayed")
            current = self._signing_keys.signing_key(row.signing_kid, start)
            if current.kid != signing.kid:
                credentials = None
            signing, remembered = current, False
        raise IssuanceError("no-signing-key")

    def _check_remembered(
        self, jws: CompactJWS, lookup: dict[str, str | None], start: int, now: float
    ) -> tuple[Attestation, _Found, CurrentKey] | None:
        """The attestation checked against what was remembered, and the key remembered to sign.

        The row's ``used`` is False: the record finds a replay.

        None, to read instead, when nothing is remembered for the verifier key
        or the epoch, and when what is remembered refuses the attestation:
        that may be out of date (a kid given to another key), and only what is
        there now may refuse.
        """
        row, signing = self._registry.get((lookup["iss"], lookup["kid"])), self._signing
        if row is None or signing is None or signing.epoch_start != start:
            return None
        try:
            attestation = self._check(jws, row, now)
        except IssuanceError:
            return None
        return attestation, row, signing

    def _check_read(
        self, jws: CompactJWS, lookup: dict[str, str | None], start: int, now: float
    ) -> tuple[Attestation, _Found]:
        """Read the verifier, its key, the jti's use and the signing kid; check the attestation."""
        jti = jws.payload.get("jti")
        parameters = {
            **lookup,
            # The jti is not verified yet: it only finds a used one, and the
            # record decides.
            "jti": jti if isinstance(jti, str) and "\x00" not in jti else None,
            "start": start,
        }
        with self._kept.cursor() as cursor:
            found = _READ.first(cursor, self._kept.dialect, parameters)
        row = None if found is None else _Found(*found)
        self._keep((lookup["iss"], lookup["kid"]), row)
        attestation = self._check(jws, row, now)
        assert row is not None  # noqa: S101 - check_attestation refuses an unknown verifier
        return attestation, row

    def _check(self, jws: CompactJWS, row: _Found | None, now: float) -> Attestation:
        settings = self._settings
        return check_attestation(
            jws,
            row,
            issuer=settings.issuer_url,
            now=now,
            leeway=settings.leeway,
            thresholds=settings.thresholds,
        )

    def _sign(
        self,
        signing: CurrentKey,
        keys: list[dict[str, str]],
        facts: dict[int, bool],
        *,
        remembered: bool,
    ) -> list[str] | None:
        """The batch signed by ``signing``; None when a remembered key is gone from the store.

        A key revoked since it was remembered is deleted from the key store:
        the record would refuse it anyway, and the read that follows finds
        the key that signs now.
        """
        try:
            return issue_batch(
                signing_key=signing.private_key,
                kid=signing.kid,
                issuer=self._settings.issuer_url,
                epoch_start=signing.epoch_start,
                lifetime=self._settings.credential_lifetime,
                holder_keys=keys,
                age_over=facts,
                decoys=self._sd_length - len(facts),
            )
        except KeyStoreError:
            if not remembered:
                raise
            self._signing = None
            return None

    def _keep(self, key: _VerifierKey, row: _Found | None) -> None:
        """Remember ``row``, just read, if it is an active verifier's key; else forget ``key``."""
        if row is None or row.status != "active" or row.jwk is None:
            self._registry.pop(key, None)
            return
        if len(self._registry) >= REMEMBERED_KEYS:
            self._registry.clear()
        self._registry[key] = row._replace(used=False, signing_kid=None)

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

    def close(self) -> None:
        """Close the connection this thread issues on, if it has one."""
        self._kept.close()

    def _record(
        self, attestation: Attestation, signing: CurrentKey, version: int, now: float
    ) -> bool:
        """Record the attestation's jti and count its facts, if nothing changed since it was read.

        False (and nothing written) when another key signs now, or when the
        verifier is no longer active at ``version``; raises
        ``attestation-replayed`` when the jti was recorded before. No
        writers' lock: the jti's primary key refuses a second record and
        every count is a single upsert, so concurrent issuances stay exact.
        """
        day = time.strftime("%Y-%m-%d", time.gmtime(now))
        facts = sorted(attestation.age_over.items())
        record = {
            **_used_key(attestation),
            # Kept until the attestation could no longer be accepted, leeway included.
            "expires_at": attestation.exp + self._settings.leeway,
            "kid": signing.kid,
            "start": signing.epoch_start,
            "version": version,
        }
        dialect = self._kept.dialect
        try:
            if self._postgresql:
                counts = {
                    "day": day,
                    "method": attestation.method,
                    "thresholds": [threshold for threshold, _ in facts],
                    "overs": [over for _, over in facts],
                    # Chance, not data: see IssuanceCount.
                    "shard": random.randrange(self._count_shards),  # noqa: S311
                }
                # One statement: it commits on its own, atomically.
                with self._kept.cursor() as cursor:
                    parameters = {**record, **counts}
                    cursor = _record_and_count().run(cursor, dialect, parameters)
                    return bool(cursor.fetchone()[0])
            with self._kept.cursor(transaction=True) as cursor:
                if _RECORD_USE.run(cursor, dialect, record).rowcount == 0:
                    return False
                bumps: dict[str, object] = {"day": day, "method": attestation.method}
                for i, (threshold, over) in enumerate(facts):
                    bumps[f"t{i}"], bumps[f"o{i}"] = threshold, over
                _count_facts(len(facts)).run(cursor, dialect, bumps)
                return True
        except IntegrityError:
            raise IssuanceError("attestation-replayed") from None

    def _purge_used(self, now: float) -> None:
        """Delete the jtis of attestations that expired, at most every PURGE_INTERVAL."""
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_INTERVAL
        with transaction(self._sessions, serialised=False) as session:
            session.connection().execute(_PURGE_USED, {"now": int(now)})


def _used_key(attestation: Attestation) -> dict[str, str]:
    """What identifies a used attestation: its verifier and its ``jti``."""
    return {"verifier_id": attestation.verifier_id, "jti": attestation.jti}
