"""Persistence of the issuer: tables, engine and transactions (SQLAlchemy 2).

SQLite (embedded default) or PostgreSQL. ``models`` declares the tables,
``schema`` migrates databases to them (Alembic revisions in ``migrations``),
``db`` opens engines and transactions.
"""

from __future__ import annotations

from ageverify.storage.db import create_schema, make_engine, session_factory, transaction
from ageverify.storage.models import (
    AdminToken,
    Base,
    IssuanceCount,
    IssuanceCountBefore0003,
    IssuerNonce,
    SigningKey,
    TokenKey,
    TokenQuota,
    UsedAttestation,
    Verifier,
    VerifierKey,
)

__all__ = [
    "AdminToken",
    "Base",
    "IssuanceCount",
    "IssuanceCountBefore0003",
    "IssuerNonce",
    "SigningKey",
    "TokenKey",
    "TokenQuota",
    "UsedAttestation",
    "Verifier",
    "VerifierKey",
    "create_schema",
    "make_engine",
    "session_factory",
    "transaction",
]
