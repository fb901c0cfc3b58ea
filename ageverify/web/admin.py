"""``/v1/admin/...``: the verifier registry and signing key operations.

Every request needs ``Authorization: Bearer avat_...`` (created with
``ageverify admin-tokens create NAME``); the secret is compared in constant
time by :func:`ageverify.issuer.admin_tokens.authenticate`. Each change is
written to the audit log with the id of the token that made it (never the
token itself).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from ageverify.errors import AgeVerifyError
from ageverify.issuer import admin_tokens, verifiers
from ageverify.storage.db import transaction
from ageverify.web.envelope import json_body, only_members
from ageverify.web.runtime import runtime

bp = Blueprint("admin", __name__, url_prefix="/v1/admin")
audit = logging.getLogger("ageverify.audit")


@bp.before_request
def _authenticate() -> None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        raise AgeVerifyError("unauthorized")
    with runtime().sessions() as session:
        token_id = admin_tokens.authenticate(session, credentials.strip())
    if token_id is None:
        raise AgeVerifyError("unauthorized")
    g.admin_token_id = token_id


def _audit(action: str, **subject: str) -> None:
    details = " ".join(f"{name}={value}" for name, value in subject.items())
    audit.info("admin %s %s token=%s", action, details, g.admin_token_id)


def _json(document: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(document)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/verifiers")
def list_verifiers() -> Response:
    """Every registered verifier with its keys and status."""
    with runtime().sessions() as session:
        records = verifiers.list_verifiers(session)
    return _json({"verifiers": [record.as_dict() for record in records]})


@bp.post("/verifiers")
def add_verifier() -> Response:
    """Register a verifier: ``{"id", "name", "jwks": [jwk, ...], "methods": [...]}``."""
    body = json_body()
    only_members(body, {"id", "name", "jwks", "methods"})
    jwks = body.get("jwks")
    # A JWK Set document is accepted as well as a bare list of keys.
    if isinstance(jwks, dict) and set(jwks) == {"keys"}:
        jwks = jwks["keys"]
    with transaction(runtime().sessions) as session:
        record = verifiers.add_verifier(
            session,
            id=body.get("id"),  # type: ignore[arg-type]
            name=body.get("name"),  # type: ignore[arg-type]
            jwks=jwks,  # type: ignore[arg-type]
            methods=body.get("methods"),  # type: ignore[arg-type]
            now=runtime().clock(),
        )
    _audit("verifier-added", verifier=record.id)
    return _json(record.as_dict(), 201)


@bp.get("/verifiers/<verifier_id>")
def show_verifier(verifier_id: str) -> Response:
    """One verifier."""
    with runtime().sessions() as session:
        record = verifiers.get_verifier(session, verifier_id)
    return _json(record.as_dict())


@bp.post("/verifiers/<verifier_id>/suspend")
def suspend_verifier(verifier_id: str) -> Response:
    """Suspend a verifier: its attestations are refused until it is resumed."""
    with transaction(runtime().sessions) as session:
        record = verifiers.suspend(session, verifier_id)
    _audit("verifier-suspended", verifier=record.id)
    return _json(record.as_dict())


@bp.post("/verifiers/<verifier_id>/resume")
def resume_verifier(verifier_id: str) -> Response:
    """Resume a suspended verifier."""
    with transaction(runtime().sessions) as session:
        record = verifiers.resume(session, verifier_id)
    _audit("verifier-resumed", verifier=record.id)
    return _json(record.as_dict())


@bp.post("/verifiers/<verifier_id>/keys")
def add_verifier_key(verifier_id: str) -> Response:
    """Register one more public key for a verifier: ``{"jwk": {...}}``."""
    body = json_body()
    only_members(body, {"jwk"})
    with transaction(runtime().sessions) as session:
        key = verifiers.add_key(session, verifier_id, body.get("jwk"))  # type: ignore[arg-type]
        record = verifiers.get_verifier(session, verifier_id)
    _audit("verifier-key-added", verifier=record.id, kid=key.kid)
    return _json(record.as_dict(), 201)


@bp.delete("/verifiers/<verifier_id>/keys/<kid>")
def remove_verifier_key(verifier_id: str, kid: str) -> Response:
    """Remove a verifier key: attestations signed with it are refused from now on."""
    with transaction(runtime().sessions) as session:
        verifiers.remove_key(session, verifier_id, kid)
        record = verifiers.get_verifier(session, verifier_id)
    _audit("verifier-key-removed", verifier=record.id, kid=kid)
    return _json(record.as_dict())


def _all_keys() -> Response:
    state = runtime()
    return _json({"keys": state.signing_keys.list(), "token_keys": state.token_keys.list()})


def _is_token_key(key_id: str) -> bool:
    return any(row["token_key_id"] == key_id for row in runtime().token_keys.list())


@bp.get("/keys")
def list_keys() -> Response:
    """Credential signing keys and Privacy Pass token keys: ids, epochs, publication, status."""
    return _all_keys()


@bp.post("/keys/generate-ahead")
def generate_ahead() -> Response:
    """Make sure the current and the coming epochs have a signing key and their token keys."""
    state = runtime()
    generated = state.signing_keys.generate_ahead(state.clock())
    token_keys = state.token_keys.generate_ahead(state.clock())
    _audit("keys-generated", count=str(len(generated)), token_keys=str(len(token_keys)))
    return _json({"generated": generated, "token_keys": token_keys})


@bp.post("/keys/<kid>/retire")
def retire_key(kid: str) -> Response:
    """Retire a signing or token key: it signs no more and stays published as long as needed."""
    state = runtime()
    if _is_token_key(kid):
        state.token_keys.retire(kid)
    else:
        state.signing_keys.retire(kid)
    _audit("key-retired", kid=kid)
    return _all_keys()


@bp.post("/keys/<kid>/revoke")
def revoke_key(kid: str) -> Response:
    """Revoke a signing or token key: unpublished at once, its private key deleted."""
    state = runtime()
    if _is_token_key(kid):
        state.token_keys.revoke(kid)
    else:
        state.signing_keys.revoke(kid)
    _audit("key-revoked", kid=kid)
    return _all_keys()
