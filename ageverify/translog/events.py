"""The key events the transparency log records, one builder per event type.

Each builder returns the event as a JSON object: ``"v": 1``, its ``"type"``,
its ``"time"`` (unix seconds) and the members of its type. The log stores
:func:`encode` of it, the canonical JSON (sorted keys, compact, UTF-8), as the
entry, so that auditors recompute the same leaf bytes from the same event.

Events carry public data only: public keys, ids and names. An admin token is
logged by id and name, never by its secret; a JWK with private members is
refused here, whatever the caller checked before.

Wire format: the event types and their members are only ever added to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ageverify.formats.strictjson import canonical

__all__ = [
    "EVENT_TYPES",
    "VERSION",
    "admin_token_created",
    "credential_key_published",
    "credential_key_retired",
    "credential_key_revoked",
    "encode",
    "log_key",
    "token_key_published",
    "token_key_retired",
    "token_key_revoked",
    "verifier_key_added",
    "verifier_key_removed",
    "verifier_registered",
    "verifier_resumed",
    "verifier_suspended",
]

# --- Wire format: only ever added to. ---------------------------------------
VERSION = 1
EVENT_TYPES = (
    "log-key",
    "credential-key-published",
    "credential-key-retired",
    "credential-key-revoked",
    "token-key-published",
    "token-key-retired",
    "token-key-revoked",
    "verifier-registered",
    "verifier-key-added",
    "verifier-key-removed",
    "verifier-suspended",
    "verifier-resumed",
    "admin-token-created",
)
CREDENTIAL_KEY_ALG = "ES256"
# ----------------------------------------------------------------------------

# JWK members that hold private key material (RFC 7518 section 6).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# tlog-tiles entries are uint16 length-prefixed.
MAX_ENTRY_SIZE = 0xFFFF


def _event(event_type: str, time: float, **members: Any) -> dict[str, Any]:
    return {"v": VERSION, "type": event_type, "time": int(time), **members}


def _public(jwk: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``jwk``; a JWK with private members raises ``ValueError``."""
    if _PRIVATE_MEMBERS & set(jwk):
        raise ValueError("a log event never carries private key members")
    return dict(jwk)


def encode(event: Mapping[str, Any]) -> bytes:
    """The log entry of ``event``: its canonical JSON.

    An event without ``v`` 1 and a known ``type``, or whose entry would not
    fit a tlog-tiles entry bundle (65,535 bytes), raises ``ValueError``.
    """
    if event.get("v") != VERSION or event.get("type") not in EVENT_TYPES:
        raise ValueError("not a log event: needs v 1 and a known type")
    if not isinstance(event.get("time"), int):
        raise ValueError("a log event carries its time as integer unix seconds")
    entry = canonical(dict(event))
    if len(entry) > MAX_ENTRY_SIZE:
        raise ValueError(f"a log entry is at most {MAX_ENTRY_SIZE} bytes")
    return entry


def log_key(vkey: str, time: float) -> dict[str, Any]:
    """Entry 0 of every log: the verifier key ``vkey`` its checkpoints are signed with."""
    return _event("log-key", time, vkey=vkey)


def credential_key_published(
    *,
    kid: str,
    jwk: Mapping[str, Any],
    epoch_start: int,
    epoch_end: int,
    verify_until: int,
    time: float,
) -> dict[str, Any]:
    """A credential signing key ``kid`` (public ``jwk``) signing in ``[epoch_start, epoch_end)``.

    ``verify_until`` is when its last credential expires and it leaves the JWKS.
    """
    return _event(
        "credential-key-published",
        time,
        kid=kid,
        jwk=_public(jwk),
        alg=CREDENTIAL_KEY_ALG,
        epoch_start=epoch_start,
        epoch_end=epoch_end,
        verify_until=verify_until,
    )


def credential_key_retired(*, kid: str, time: float) -> dict[str, Any]:
    """Credential signing key ``kid`` stopped signing (it stays published)."""
    return _event("credential-key-retired", time, kid=kid)


def credential_key_revoked(*, kid: str, time: float) -> dict[str, Any]:
    """Credential signing key ``kid`` was unpublished at once."""
    return _event("credential-key-revoked", time, kid=kid)


def token_key_published(
    *,
    token_key_id: str,
    token_key: str,
    threshold: int,
    not_before: int,
    not_after: int,
    time: float,
) -> dict[str, Any]:
    """A Privacy Pass token key for age ``threshold``, signing in ``[not_before, not_after)``.

    ``token_key_id`` and ``token_key`` (the RSASSA-PSS SPKI DER) are unpadded
    base64url, as the issuer stores them.
    """
    return _event(
        "token-key-published",
        time,
        token_key_id=token_key_id,
        token_key=token_key,
        threshold=threshold,
        not_before=not_before,
        not_after=not_after,
    )


def token_key_retired(*, token_key_id: str, time: float) -> dict[str, Any]:
    """Token key ``token_key_id`` stopped signing (it stays published)."""
    return _event("token-key-retired", time, token_key_id=token_key_id)


def token_key_revoked(*, token_key_id: str, time: float) -> dict[str, Any]:
    """Token key ``token_key_id`` was unpublished at once."""
    return _event("token-key-revoked", time, token_key_id=token_key_id)


def verifier_registered(
    *,
    verifier_id: str,
    name: str,
    methods: Iterable[str],
    keys: Iterable[Mapping[str, Any]],
    time: float,
) -> dict[str, Any]:
    """Verifier ``verifier_id`` called ``name`` accredited for ``methods`` with public ``keys``."""
    return _event(
        "verifier-registered",
        time,
        verifier_id=verifier_id,
        name=name,
        methods=list(methods),
        keys=[_public(jwk) for jwk in keys],
    )


def verifier_key_added(*, verifier_id: str, jwk: Mapping[str, Any], time: float) -> dict[str, Any]:
    """Public key ``jwk`` registered for verifier ``verifier_id``."""
    return _event("verifier-key-added", time, verifier_id=verifier_id, jwk=_public(jwk))


def verifier_key_removed(*, verifier_id: str, kid: str, time: float) -> dict[str, Any]:
    """Key ``kid`` of verifier ``verifier_id`` removed."""
    return _event("verifier-key-removed", time, verifier_id=verifier_id, kid=kid)


def verifier_suspended(*, verifier_id: str, time: float) -> dict[str, Any]:
    """Verifier ``verifier_id`` suspended: its attestations are refused."""
    return _event("verifier-suspended", time, verifier_id=verifier_id)


def verifier_resumed(*, verifier_id: str, time: float) -> dict[str, Any]:
    """Verifier ``verifier_id`` resumed."""
    return _event("verifier-resumed", time, verifier_id=verifier_id)


def admin_token_created(*, token_id: str, name: str, time: float) -> dict[str, Any]:
    """Admin token ``token_id`` called ``name`` created (the secret is never logged)."""
    return _event("admin-token-created", time, token_id=token_id, name=name)
