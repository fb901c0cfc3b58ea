"""The registry of accredited verifiers: who may attest ages, how, and with which keys.

Functions here take an open session (the caller owns the transaction) and
return plain records, never ORM objects, so views and the command line can
render them without touching the database again. A verifier key is public:
a JWK carrying private members is refused outright. Every change is
appended to the transparency log in the caller's transaction, and raises the
verifier's ``version``, which tells issuer processes that what they read of
the verifier is out of date.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ageverify.errors import AgeVerifyError
from ageverify.formats.attestation import METHODS
from ageverify.formats.jose import JWKError, public_jwk, public_key_from_jwk, thumbprint
from ageverify.storage.models import Verifier, VerifierKey
from ageverify.translog import events
from ageverify.translog.log import record

# Verifier ids are the `iss` of attestations and kids are compared exactly:
# visible ASCII only, so two ids can never look alike but differ.
_IDENTIFIER = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass(frozen=True)
class VerifierKeyRecord:
    """One public key of a verifier: ``kid``, ``alg`` (ES256 or EdDSA) and its public ``jwk``."""

    kid: str
    alg: str
    jwk: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values."""
        return {"kid": self.kid, "alg": self.alg, "jwk": dict(self.jwk)}


@dataclass(frozen=True)
class VerifierRecord:
    """A registered verifier: id (its ``iss``), name, accredited methods, status and keys."""

    id: str
    name: str
    methods: tuple[str, ...]
    status: str
    created_at: int
    keys: tuple[VerifierKeyRecord, ...]

    @property
    def active(self) -> bool:
        """Whether attestations of this verifier are accepted."""
        return self.status == "active"

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values."""
        return {
            "id": self.id,
            "name": self.name,
            "methods": list(self.methods),
            "status": self.status,
            "created_at": self.created_at,
            "keys": [key.as_dict() for key in self.keys],
        }


def add_verifier(
    session: Session,
    *,
    id: str,
    name: str,
    jwks: list[dict[str, Any]],
    methods: list[str],
    now: float | None = None,
) -> VerifierRecord:
    """Register verifier ``id`` called ``name``, accredited for ``methods``, with keys ``jwks``.

    Each key must be a public EC P-256 (used with ES256) or Ed25519 (EdDSA)
    JWK; its kid is its ``kid`` member if present, else its RFC 7638
    thumbprint. Raises ``invalid-request`` for bad input and ``conflict`` when
    the id is taken.
    """
    _check_identifier(id, "verifier id")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise AgeVerifyError("invalid-request", "A verifier needs a name of 1 to 255 characters.")
    methods = _check_methods(methods)
    if not isinstance(jwks, list) or not jwks:
        raise AgeVerifyError("invalid-request", "A verifier needs a list of at least one key.")
    keys = [_key_row(id, jwk) for jwk in jwks]
    kids = [key.kid for key in keys]
    if len(set(kids)) != len(kids):
        raise AgeVerifyError("conflict", "Two keys share a kid.")
    _check_distinct_material(keys)
    if session.get(Verifier, id) is not None:
        raise AgeVerifyError("conflict", "A verifier with this id is already registered.")
    now = time.time() if now is None else now
    session.add(Verifier(id=id, name=name, methods=methods, status="active", created_at=int(now)))
    session.add_all(keys)
    try:
        session.flush()
    except IntegrityError:
        # Another transaction registered the same id first.
        raise AgeVerifyError("conflict", "A verifier with this id is already registered.") from None
    record(
        session,
        events.verifier_registered(
            verifier_id=id, name=name, methods=methods, keys=[key.jwk for key in keys], time=now
        ),
    )
    return get_verifier(session, id)


def list_verifiers(session: Session) -> list[VerifierRecord]:
    """Every registered verifier, ordered by id."""
    verifiers = session.scalars(select(Verifier).order_by(Verifier.id)).all()
    keys: dict[str, list[VerifierKey]] = {}
    for key in session.scalars(select(VerifierKey).order_by(VerifierKey.kid)):
        keys.setdefault(key.verifier_id, []).append(key)
    return [_record(verifier, keys.get(verifier.id, [])) for verifier in verifiers]


def get_verifier(session: Session, verifier_id: str) -> VerifierRecord:
    """The verifier registered as ``verifier_id``; ``unknown-verifier-record`` if none."""
    verifier = _get(session, verifier_id)
    keys = session.scalars(
        select(VerifierKey).where(VerifierKey.verifier_id == verifier.id).order_by(VerifierKey.kid)
    ).all()
    return _record(verifier, keys)


def suspend(session: Session, verifier_id: str, *, now: float | None = None) -> VerifierRecord:
    """Stop accepting attestations from ``verifier_id`` (its keys stay registered).

    ``now`` (default: the current time) dates the log event.
    """
    verifier = _get(session, verifier_id)
    if verifier.status != "suspended":
        verifier.status = "suspended"
        session.flush()
        _changed(session, verifier.id)
        record(
            session,
            events.verifier_suspended(
                verifier_id=verifier.id, time=time.time() if now is None else now
            ),
        )
    return get_verifier(session, verifier_id)


def resume(session: Session, verifier_id: str, *, now: float | None = None) -> VerifierRecord:
    """Accept attestations from the suspended verifier ``verifier_id`` again.

    ``now`` (default: the current time) dates the log event.
    """
    verifier = _get(session, verifier_id)
    if verifier.status != "active":
        verifier.status = "active"
        session.flush()
        _changed(session, verifier.id)
        record(
            session,
            events.verifier_resumed(
                verifier_id=verifier.id, time=time.time() if now is None else now
            ),
        )
    return get_verifier(session, verifier_id)


def add_key(
    session: Session, verifier_id: str, jwk: dict[str, Any], *, now: float | None = None
) -> VerifierKeyRecord:
    """Register the public key ``jwk`` for ``verifier_id`` (rules as in ``add_verifier``).

    Raises ``conflict`` when the verifier already has this kid or this key.
    ``now`` (default: the current time) dates the log event.
    """
    _get(session, verifier_id)
    row = _key_row(verifier_id, jwk)
    existing = session.scalars(
        select(VerifierKey).where(VerifierKey.verifier_id == verifier_id)
    ).all()
    if any(key.kid == row.kid for key in existing):
        raise AgeVerifyError("conflict", "The verifier already has a key with this kid.")
    _check_distinct_material([*existing, row])
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise AgeVerifyError("conflict", "The verifier already has a key with this kid.") from None
    _changed(session, verifier_id)
    record(
        session,
        events.verifier_key_added(
            verifier_id=verifier_id, jwk=row.jwk, time=time.time() if now is None else now
        ),
    )
    return VerifierKeyRecord(row.kid, row.alg, dict(row.jwk))


def remove_key(session: Session, verifier_id: str, kid: str, *, now: float | None = None) -> None:
    """Remove key ``kid`` of ``verifier_id``: attestations signed with it are refused from now on.

    Raises ``unknown-key`` when the verifier has no such key. ``now``
    (default: the current time) dates the log event.
    """
    _get(session, verifier_id)
    key = session.get(VerifierKey, (verifier_id, kid)) if isinstance(kid, str) else None
    if key is None:
        raise AgeVerifyError("unknown-key")
    session.delete(key)
    session.flush()
    _changed(session, verifier_id)
    record(
        session,
        events.verifier_key_removed(
            verifier_id=verifier_id, kid=kid, time=time.time() if now is None else now
        ),
    )


def _changed(session: Session, verifier_id: str) -> None:
    """Raise the version of ``verifier_id``, in the database itself.

    ``version + 1`` computed by the database, not read and written back: two
    changes committed at the same time still make two versions, so a process
    that read the registry between them cannot hold the version of the last.
    """
    session.execute(
        update(Verifier)
        .where(Verifier.id == verifier_id)
        .values(version=Verifier.version + 1)
        .execution_options(synchronize_session=False)
    )


def _get(session: Session, verifier_id: str) -> Verifier:
    verifier = session.get(Verifier, verifier_id) if isinstance(verifier_id, str) else None
    if verifier is None:
        raise AgeVerifyError("unknown-verifier-record")
    return verifier


def _record(verifier: Verifier, keys: Any) -> VerifierRecord:
    return VerifierRecord(
        id=verifier.id,
        name=verifier.name,
        methods=tuple(verifier.methods),
        status=verifier.status,
        created_at=verifier.created_at,
        keys=tuple(VerifierKeyRecord(key.kid, key.alg, dict(key.jwk)) for key in keys),
    )


def _check_identifier(value: Any, what: str) -> None:
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise AgeVerifyError(
            "invalid-request", f"A {what} must be 1 to 255 visible ASCII characters."
        )


def _check_methods(methods: Any) -> list[str]:
    if (
        not isinstance(methods, list)
        or not methods
        or any(not isinstance(m, str) or m not in METHODS for m in methods)
    ):
        raise AgeVerifyError(
            "invalid-request", f"methods must be a non-empty list drawn from {', '.join(METHODS)}."
        )
    if len(set(methods)) != len(methods):
        raise AgeVerifyError("invalid-request", "methods lists a method twice.")
    return [m for m in METHODS if m in methods]


def _key_row(verifier_id: str, jwk: Any) -> VerifierKey:
    try:
        key = public_key_from_jwk(jwk)
    except JWKError as exc:
        if exc.private:
            raise AgeVerifyError(
                "invalid-request",
                "A verifier key carries private key members; register the public key only.",
            ) from None
        raise AgeVerifyError(
            "invalid-request", f"A verifier key is unusable: {exc.reason}."
        ) from None
    public = public_jwk(key)
    alg = "ES256" if public["kty"] == "EC" else "EdDSA"
    if "alg" in jwk and jwk["alg"] != alg:
        raise AgeVerifyError(
            "invalid-request", f"A {public['crv']} verifier key is used with {alg} only."
        )
    kid = jwk.get("kid", thumbprint(public))
    _check_identifier(kid, "key id (kid)")
    return VerifierKey(verifier_id=verifier_id, kid=kid, alg=alg, jwk={**public, "kid": kid})


def _check_distinct_material(keys: list[VerifierKey]) -> None:
    prints = [thumbprint(key.jwk) for key in keys]
    if len(set(prints)) != len(prints):
        raise AgeVerifyError("conflict", "The same key is registered twice.")
