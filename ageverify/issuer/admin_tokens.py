"""Bearer tokens for the admin API.

A token reads ``avat_<id>.<secret>``. It is shown once, at creation; the
database keeps the id and the SHA-256 of the secret, so a copy of the
database does not grant admin access. The secret has 256 bits of entropy,
which is why one unsalted hash suffices (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ageverify.errors import AgeVerifyError
from ageverify.storage.models import AdminToken
from ageverify.translog import events
from ageverify.translog.log import record

TOKEN_PREFIX = "avat_"  # noqa: S105 - a public marker, not a secret
_TOKEN = re.compile(r"avat_([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})")
# Compared against when the id is unknown, so both paths cost the same.
_DUMMY_HASH = hashlib.sha256(b"no such token").hexdigest()


@dataclass(frozen=True)
class AdminTokenRecord:
    """What is known of an admin token: id, name, created and revoked times; never the secret."""

    id: str
    name: str
    created_at: int
    revoked_at: int | None

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values."""
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def create_token(session: Session, name: str, *, now: float | None = None) -> str:
    """Create an admin token called ``name`` and return it; it cannot be shown again.

    Its creation (id and name) is appended to the transparency log.
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise AgeVerifyError("invalid-request", "A token needs a name of 1 to 255 characters.")
    token_id = secrets.token_urlsafe(12)  # 16 characters
    secret = secrets.token_urlsafe(32)  # 43 characters, 256 bits
    now = time.time() if now is None else now
    session.add(AdminToken(id=token_id, name=name, secret_hash=_hash(secret), created_at=int(now)))
    session.flush()
    # Logged by id and name: neither the secret nor its hash leaves this table.
    record(session, events.admin_token_created(token_id=token_id, name=name, time=now))
    return f"{TOKEN_PREFIX}{token_id}.{secret}"


def authenticate(session: Session, bearer: str) -> str | None:
    """Return the id of the live admin token ``bearer``, or ``None`` if it is not one."""
    match = _TOKEN.fullmatch(bearer) if isinstance(bearer, str) else None
    if match is None:
        return None
    token_id, secret = match.groups()
    row = session.get(AdminToken, token_id)
    expected = row.secret_hash if row is not None else _DUMMY_HASH
    valid = hmac.compare_digest(_hash(secret), expected)
    if row is None or row.revoked_at is not None or not valid:
        return None
    return row.id


def revoke_token(session: Session, token_id: str, *, now: float | None = None) -> AdminTokenRecord:
    """Revoke token ``token_id`` at once; ``unknown-admin-token`` if there is none."""
    row = session.get(AdminToken, token_id) if isinstance(token_id, str) else None
    if row is None:
        raise AgeVerifyError("unknown-admin-token")
    if row.revoked_at is None:
        row.revoked_at = int(time.time() if now is None else now)
        session.flush()
    return _record(row)


def list_tokens(session: Session) -> list[AdminTokenRecord]:
    """Every admin token, oldest first, without secrets."""
    rows = session.scalars(select(AdminToken).order_by(AdminToken.created_at, AdminToken.id))
    return [_record(row) for row in rows]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _record(row: AdminToken) -> AdminTokenRecord:
    return AdminTokenRecord(row.id, row.name, row.created_at, row.revoked_at)
