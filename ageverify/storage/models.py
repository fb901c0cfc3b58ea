"""Database tables of the issuer.

Dialect-neutral on purpose (SQLite for the embedded default, PostgreSQL in
production): portable column types only, JSON through SQLAlchemy's ``JSON``,
timestamps as integer unix seconds (UTC). Nothing here ever holds a person's
data or a private key: verifiers and their public keys, attestation ids until
they expire, public metadata of the signing and token keys, admin token
hashes, the transparency log (public key events, tree hashes, checkpoints),
aggregate counts, Privacy Pass nonces until they expire and per-day token
counts keyed by a hash that names no person.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints keep later schema migrations identical on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

VERIFIER_STATUSES = ("active", "suspended")
VERIFIER_KEY_ALGS = ("ES256", "EdDSA")
SIGNING_KEY_STATUSES = ("active", "retired", "revoked")
TOKEN_KEY_STATUSES = ("active", "retired", "revoked")

# Lengths: ids and kids are short ASCII; 255 is portable everywhere.
ID_LENGTH = 255


class Base(DeclarativeBase):
    """Declarative base holding the issuer's metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Verifier(Base):
    """An accredited age verifier; ``id`` is the ``iss`` of its attestations.

    ``version`` goes up by one with every change to the verifier or its keys
    (``ageverify.issuer.verifiers``): an issuer process that keeps what it
    read of the registry records an attestation only while the version it
    read is still the verifier's (``ageverify.issuer.service``).
    """

    __tablename__ = "verifiers"
    __table_args__ = (CheckConstraint(_in("status", VERIFIER_STATUSES), name="status"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(ID_LENGTH))
    methods: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class VerifierKey(Base):
    """A public key a verifier signs attestations with, chosen by exact ``kid``."""

    __tablename__ = "verifier_keys"
    __table_args__ = (CheckConstraint(_in("alg", VERIFIER_KEY_ALGS), name="alg"),)

    verifier_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("verifiers.id"), primary_key=True
    )
    kid: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    jwk: Mapped[dict[str, Any]] = mapped_column(JSON)


class UsedAttestation(Base):
    """An attestation already redeemed, kept until it could no longer be accepted."""

    __tablename__ = "used_attestations"
    __table_args__ = (Index("ix_used_attestations_expires_at", "expires_at"),)

    verifier_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("verifiers.id"), primary_key=True
    )
    jti: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class SigningKey(Base):
    """Public metadata of a credential signing key; the private key stays in the key store.

    ``kid`` is the RFC 7638 thumbprint of ``public_jwk``. A key signs during
    ``[epoch_start, epoch_end)`` and is published until ``verify_until``.
    """

    __tablename__ = "signing_keys"
    __table_args__ = (
        CheckConstraint(_in("status", SIGNING_KEY_STATUSES), name="status"),
        Index("ix_signing_keys_epoch_start", "epoch_start"),
    )

    kid: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    epoch_start: Mapped[int] = mapped_column(BigInteger)
    epoch_end: Mapped[int] = mapped_column(BigInteger)
    verify_until: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="active")
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    retired_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Index of its credential-key-published log entry; served only once a
    # signed checkpoint covers it.
    log_index: Mapped[int | None] = mapped_column(BigInteger, default=None)


class AdminToken(Base):
    """A bearer token for the admin API; only the SHA-256 of its secret is stored."""

    __tablename__ = "admin_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(ID_LENGTH))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, default=None)


class IssuanceCount(Base):
    """Part of how many issuances attested one age fact by one method on one UTC day.

    The day's count of a fact is the sum of its rows over ``shard`` (and of
    its :class:`IssuanceCountBefore0003` row, if any). An issuance adds one
    to the rows of a single shard, picked at random on PostgreSQL (always 0
    on SQLite, whose writers take turns anyway): with one row per fact,
    every concurrent issuance of the whole deployment would wait for the row
    lock of the one before it until that one's commit returned. The shard is
    chance, not data: it tells nothing of an issuance.
    """

    __tablename__ = "issuance_count_shards"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    method: Mapped[str] = mapped_column(String(32), primary_key=True)
    threshold: Mapped[int] = mapped_column(Integer, primary_key=True)
    over: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=0)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class IssuanceCountBefore0003(Base):
    """The counts as releases before schema revision 0003 write them: one row per fact and day.

    Revision 0003 moved its rows into :class:`IssuanceCount`. It stays for
    pods of the release before, which keep issuing (and counting here) while
    a rolling update replaces them; this release reads it in the statistics
    and never writes it. A later revision folds it into IssuanceCount, once
    no such release can run.
    """

    __tablename__ = "issuance_counts"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    method: Mapped[str] = mapped_column(String(32), primary_key=True)
    threshold: Mapped[int] = mapped_column(Integer, primary_key=True)
    over: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class TokenKey(Base):
    """Public metadata of a Privacy Pass token key (RSA-2048, token type 0x0002).

    One key per age threshold per epoch. ``token_key_id`` is the unpadded
    base64url of SHA-256 over ``spki`` (RFC 9578 section 6.5), ``truncated``
    its last byte, which token requests name the key by; it is unique among
    the keys still published. ``spki`` is the base64url RSASSA-PSS
    SubjectPublicKeyInfo DER. The key signs during ``[not_before, not_after)``
    (its epoch) and is published from its creation, ahead of ``not_before``.
    The private key stays in the key store as ``pp-<token_key_id>``.
    """

    __tablename__ = "token_keys"
    __table_args__ = (
        CheckConstraint(_in("status", TOKEN_KEY_STATUSES), name="status"),
        Index("ix_token_keys_truncated", "truncated"),
        Index("ix_token_keys_epoch_start", "epoch_start"),
    )

    token_key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    truncated: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(Integer)
    epoch_start: Mapped[int] = mapped_column(BigInteger)
    not_before: Mapped[int] = mapped_column(BigInteger)
    not_after: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="active")
    spki: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[int] = mapped_column(BigInteger)
    retired_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Index of its token-key-published log entry (see SigningKey.log_index).
    log_index: Mapped[int | None] = mapped_column(BigInteger, default=None)


class IssuerNonce(Base):
    """A nonce the issuer handed out for a token request's presentation, until it expires.

    ``used`` turns true when a token request consumes it, so that a second
    use is told apart from a nonce never issued; rows are purged once expired.
    """

    __tablename__ = "issuer_nonces"
    __table_args__ = (Index("ix_issuer_nonces_expires_at", "expires_at"),)

    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class TokenQuota(Base):
    """How many tokens one credential obtained on one UTC day.

    ``credential`` is the hex SHA-256 of the credential's issuer signature:
    enough to count a shared credential, nothing that names its holder.
    Rows of past days are purged.
    """

    __tablename__ = "token_quotas"

    credential: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    count: Mapped[int] = mapped_column(Integer, default=0)


class LogEntry(Base):
    """One entry of the transparency log: the canonical JSON of a key event.

    Entries are only ever appended, in the transaction of the change they
    record; ``index`` counts from 0 without gaps.
    """

    __tablename__ = "log_entries"

    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class LogNode(Base):
    """The RFC 9162 hash of a full subtree of the log: ``2**level`` entries from ``index << level``.

    Level 0 holds the leaf hashes. Hash tiles are read from here, and roots
    and proofs for any size need O(log n) of these rows.
    """

    __tablename__ = "log_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogCheckpoint(Base):
    """A signed checkpoint of the log at ``size`` entries: its ``root`` and the signed ``note``."""

    __tablename__ = "log_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
