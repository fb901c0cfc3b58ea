"""``/openapi.json``: the hand-written OpenAPI 3.1 description of the HTTP API.

Written by hand, not generated, so that the document says what the service
promises rather than whatever the code happens to do; a test walks
``app.url_map`` and fails when a route and this document disagree. Error
responses list the exact codes each operation can answer with.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import Blueprint, current_app, jsonify

from ageverify.errors import CODES
from ageverify.formats.attestation import METHODS

bp = Blueprint("openapi", __name__)

# Every operation may answer these: a route that exists but not for this
# method, and the server's own failure.
_ALWAYS = ("method-not-allowed", "internal-error")
# Every operation that takes a JSON body may answer these.
_BODY = ("malformed-json", "invalid-request", "unsupported-media-type", "payload-too-large")
# Token parsing shared by attestations and presentations.
_TOKEN = (
    "json-invalid",
    "json-duplicate-member",
    "json-too-deep",
    "json-not-utf8",
    "base64url-invalid",
    "jws-malformed",
    "jws-too-large",
    "jws-forbidden-header",
)
_ADMIN = ("unauthorized",)

_ISSUANCE_CODES = (
    *_BODY,
    *_TOKEN,
    *(code for code in CODES if code.startswith("attestation-")),
    "holder-keys-invalid",
    "holder-key-private",
    "holder-keys-duplicate",
    "no-signing-key",
    "unavailable",
)
_VERIFICATION_CODES = (
    *_BODY,
    *_TOKEN,
    "presentation-malformed",
    "presentation-too-large",
    *(code for code in CODES if code.startswith(("credential-", "disclosure-", "key-binding-"))),
    "digest-duplicate",
    "sd-hash-mismatch",
    "requirement-invalid",
    "requirement-not-disclosed",
    "requirement-not-met",
    "unavailable",
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(
    summary: str,
    *,
    tag: str,
    ok: tuple[str, str, dict[str, Any] | None],
    errors: tuple[str, ...] = (),
    body: str | None = None,
    description: str | None = None,
    cache: str = "no-store",
    admin: bool = False,
    parameters: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One operation: its success response and an error response per status.

    ``ok`` is (status, description, schema or None for a text body).
    """
    status, ok_description, schema = ok
    success: dict[str, Any] = {
        "description": ok_description,
        "headers": {
            "Cache-Control": {"schema": {"type": "string", "const": cache}},
            "X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
        },
    }
    success["content"] = (
        _json(schema) if schema is not None else {"text/plain": {"schema": {"type": "string"}}}
    )
    responses: dict[str, Any] = {status: success}
    by_status: dict[int, list[str]] = defaultdict(list)
    for code in dict.fromkeys((*errors, *(_ADMIN if admin else ()), *_ALWAYS)):
        by_status[CODES[code][0]].append(code)
    for error_status, codes in sorted(by_status.items()):
        responses[str(error_status)] = {
            "description": "; ".join(f"`{code}`: {CODES[code][1]}" for code in codes),
            "content": _json(
                {
                    "allOf": [
                        _ref("Error"),
                        {"properties": {"code": {"enum": codes}}},
                    ]
                }
            ),
        }
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": responses,
        "x-error-codes": sorted({c for codes in by_status.values() for c in codes}),
    }
    if description:
        operation["description"] = description
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(_ref(body))}
    if admin:
        operation["security"] = [{"adminToken": []}]
    if parameters:
        operation["parameters"] = [{"$ref": f"#/components/parameters/{p}"} for p in parameters]
    return operation


def _paths() -> dict[str, Any]:
    public = "public, max-age=300"
    return {
        "/.well-known/age-verification": {
            "get": _operation(
                "Discovery document: issuer, endpoints, thresholds, lifetimes, batch limit.",
                tag="discovery",
                ok=("200", "The discovery document.", _ref("Discovery")),
                cache=public,
            )
        },
        "/.well-known/jwt-vc-issuer": {
            "get": _operation(
                "SD-JWT VC issuer metadata (draft-ietf-oauth-sd-jwt-vc).",
                tag="discovery",
                ok=("200", "Issuer metadata.", _ref("JwtVcIssuerMetadata")),
                cache=public,
            )
        },
        "/.well-known/jwks.json": {
            "get": _operation(
                "Credential signing keys: every key whose credentials may still be valid.",
                tag="discovery",
                ok=("200", "A JWK Set of ES256 public keys.", _ref("JWKS")),
                cache=public,
                description=(
                    "Includes keys generated ahead for coming epochs, so that a platform "
                    "caching this document verifies credentials signed after a rotation. "
                    "A revoked key disappears at once; platforms see it within max-age."
                ),
            )
        },
        "/v1/credentials": {
            "post": _operation(
                "Issue a batch of age credentials for a verifier attestation.",
                tag="issuance",
                body="CredentialRequest",
                ok=("200", "One SD-JWT VC per holder key, in the same order.", _ref("Credentials")),
                errors=_ISSUANCE_CODES,
                description=(
                    "Each attestation is accepted once (its jti is remembered until it "
                    "expires). The attestation must carry age facts only; any other claim "
                    "is refused with `attestation-personal-data`."
                ),
            )
        },
        "/v1/presentations/verify": {
            "post": _operation(
                "Verify a presentation for a platform that cannot run the SDK.",
                tag="verification",
                body="VerifyRequest",
                ok=(
                    "200",
                    "The presentation verified and meets the requirement.",
                    _ref("Verified"),
                ),
                errors=_VERIFICATION_CODES,
                description=(
                    "Privacy trade-off: offline verification with the SDK keeps the issuer "
                    "from learning where credentials are used; this endpoint necessarily "
                    "sees the platform's audience and nonce. It never logs or stores them. "
                    "Replay protection stays with the platform: the endpoint checks that the "
                    "Key Binding JWT answers the nonce given, and the platform must accept "
                    "each nonce it issued once only."
                ),
            )
        },
        "/v1/admin/verifiers": {
            "get": _operation(
                "List registered verifiers.",
                tag="admin",
                admin=True,
                ok=("200", "Every verifier with its keys and status.", _ref("VerifierList")),
            ),
            "post": _operation(
                "Register (accredit) a verifier with its public keys and allowed methods.",
                tag="admin",
                admin=True,
                body="VerifierCreate",
                ok=("201", "The verifier as registered.", _ref("Verifier")),
                errors=(*_BODY, "conflict"),
            ),
        },
        "/v1/admin/verifiers/{verifier_id}": {
            "get": _operation(
                "One verifier.",
                tag="admin",
                admin=True,
                parameters=("verifier_id",),
                ok=("200", "The verifier.", _ref("Verifier")),
                errors=("unknown-verifier-record",),
            )
        },
        "/v1/admin/verifiers/{verifier_id}/suspend": {
            "post": _operation(
                "Suspend a verifier: its attestations are refused until it is resumed.",
                tag="admin",
                admin=True,
                parameters=("verifier_id",),
                ok=("200", "The verifier, now suspended.", _ref("Verifier")),
                errors=("unknown-verifier-record",),
            )
        },
        "/v1/admin/verifiers/{verifier_id}/resume": {
            "post": _operation(
                "Resume a suspended verifier.",
                tag="admin",
                admin=True,
                parameters=("verifier_id",),
                ok=("200", "The verifier, now active.", _ref("Verifier")),
                errors=("unknown-verifier-record",),
            )
        },
        "/v1/admin/verifiers/{verifier_id}/keys": {
            "post": _operation(
                "Register one more public key for a verifier (key rotation).",
                tag="admin",
                admin=True,
                parameters=("verifier_id",),
                body="VerifierKeyAdd",
                ok=("201", "The verifier with its keys.", _ref("Verifier")),
                errors=(*_BODY, "unknown-verifier-record", "conflict"),
            )
        },
        "/v1/admin/verifiers/{verifier_id}/keys/{kid}": {
            "delete": _operation(
                "Remove a verifier key: attestations signed with it are refused from now on.",
                tag="admin",
                admin=True,
                parameters=("verifier_id", "kid"),
                ok=("200", "The verifier with its remaining keys.", _ref("Verifier")),
                errors=("unknown-verifier-record", "unknown-key"),
            )
        },
        "/v1/admin/keys": {
            "get": _operation(
                "List credential signing keys with their epochs and status.",
                tag="admin",
                admin=True,
                ok=("200", "Signing key metadata (public only).", _ref("SigningKeyList")),
            )
        },
        "/v1/admin/keys/generate-ahead": {
            "post": _operation(
                "Make sure the current and the coming epochs have a signing key.",
                tag="admin",
                admin=True,
                ok=("200", "The kids generated by this call (possibly none).", _ref("Generated")),
            )
        },
        "/v1/admin/keys/{kid}/retire": {
            "post": _operation(
                "Retire a signing key: it signs no more, and stays published until "
                "its credentials expire.",
                tag="admin",
                admin=True,
                parameters=("kid",),
                ok=("200", "Signing key metadata after the change.", _ref("SigningKeyList")),
                errors=("unknown-key",),
            )
        },
        "/v1/admin/keys/{kid}/revoke": {
            "post": _operation(
                "Revoke a signing key: removed from the JWKS at once, private key deleted.",
                tag="admin",
                admin=True,
                parameters=("kid",),
                ok=("200", "Signing key metadata after the change.", _ref("SigningKeyList")),
                errors=("unknown-key",),
            )
        },
        "/healthz": {
            "get": _operation(
                "Liveness: the process answers.",
                tag="operations",
                ok=("200", "Alive.", _ref("Health")),
            )
        },
        "/readyz": {
            "get": _operation(
                "Readiness: the database answers and a signing key exists for this epoch.",
                tag="operations",
                ok=("200", "Ready.", _ref("Health")),
                errors=("unavailable", "no-signing-key"),
            )
        },
        "/metrics": {
            "get": _operation(
                "Prometheus metrics: aggregate counts only.",
                tag="operations",
                ok=("200", "Prometheus text exposition format.", None),
                errors=("unavailable",),
            )
        },
        "/openapi.json": {
            "get": _operation(
                "This document.",
                tag="operations",
                ok=("200", "OpenAPI 3.1 document.", {"type": "object"}),
                cache="public, max-age=300",
            )
        },
    }


def _schemas(thresholds: list[int], max_batch: int, methods: list[str]) -> dict[str, Any]:
    string = {"type": "string"}
    compact_jws = {
        "type": "string",
        "pattern": "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$",
    }
    age_claims = {
        "type": "object",
        "propertyNames": {"enum": [f"age_over_{t}" for t in thresholds]},
        "additionalProperties": {"type": "boolean"},
    }
    return {
        "Error": {
            "type": "object",
            "required": ["code", "description"],
            "properties": {
                "code": {"type": "string", "enum": sorted(CODES)},
                "description": string,
            },
            "additionalProperties": False,
        },
        "PublicJWK": {
            "type": "object",
            "description": "A public JWK: EC P-256 (x, y) or OKP Ed25519 (x). Private members "
            "(d, p, q, dp, dq, qi, oth, k) are refused.",
            "required": ["kty", "crv", "x"],
            "properties": {
                "kty": {"enum": ["EC", "OKP"]},
                "crv": {"enum": ["P-256", "Ed25519"]},
                "x": string,
                "y": string,
                "kid": string,
                "alg": string,
                "use": string,
            },
        },
        "HolderJWK": {
            "type": "object",
            "description": "A holder's EC P-256 public key.",
            "required": ["kty", "crv", "x", "y"],
            "properties": {
                "kty": {"const": "EC"},
                "crv": {"const": "P-256"},
                "x": string,
                "y": string,
            },
        },
        "JWKS": {
            "type": "object",
            "required": ["keys"],
            "properties": {"keys": {"type": "array", "items": _ref("PublicJWK")}},
        },
        "Discovery": {
            "type": "object",
            "required": ["issuer", "jwks_uri", "credential_endpoint", "thresholds"],
            "properties": {
                "issuer": string,
                "jwks_uri": string,
                "credential_endpoint": string,
                "presentation_verify_endpoint": string,
                "thresholds": {"type": "array", "items": {"type": "integer"}},
                "credential_lifetime": {"type": "integer"},
                "epoch_seconds": {"type": "integer"},
                "max_batch": {"type": "integer"},
                "vct": string,
            },
        },
        "JwtVcIssuerMetadata": {
            "type": "object",
            "required": ["issuer"],
            "properties": {"issuer": string, "jwks_uri": string},
        },
        "CredentialRequest": {
            "type": "object",
            "required": ["attestation", "holder_keys"],
            "additionalProperties": False,
            "properties": {
                "attestation": {
                    **compact_jws,
                    "description": "The verifier's attestation (typ age-attestation+jwt).",
                },
                "holder_keys": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": max_batch,
                    "items": _ref("HolderJWK"),
                },
            },
        },
        "Credentials": {
            "type": "object",
            "required": ["credentials"],
            "properties": {
                "credentials": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "description": "SD-JWT VC: <issuer-jwt>~<disclosure>~...~",
                    },
                }
            },
        },
        "VerifyRequest": {
            "type": "object",
            "required": ["presentation", "audience", "nonce"],
            "additionalProperties": False,
            "properties": {
                "presentation": {
                    "type": "string",
                    "description": "<issuer-jwt>~<disclosure>~...~<kb-jwt>",
                },
                "audience": {**string, "description": "The platform's audience string."},
                "nonce": {**string, "description": "The nonce the platform issued."},
                "min_age": {"type": ["integer", "null"], "enum": [*thresholds, None]},
                "max_age": {
                    "type": ["integer", "null"],
                    "description": "Upper age bound; max_age + 1 must be a threshold.",
                },
            },
        },
        "Verified": {
            "type": "object",
            "required": ["verified", "facts", "expires_at"],
            "properties": {
                "verified": {"const": True},
                "facts": age_claims,
                "expires_at": {
                    "type": "number",
                    "description": "The credential's exp: trust the answer no longer.",
                },
            },
        },
        "VerifierCreate": {
            "type": "object",
            "required": ["id", "name", "jwks", "methods"],
            "additionalProperties": False,
            "properties": {
                "id": {**string, "description": "The iss the verifier puts in attestations."},
                "name": string,
                "jwks": {"type": "array", "minItems": 1, "items": _ref("PublicJWK")},
                "methods": {"type": "array", "minItems": 1, "items": {"enum": methods}},
            },
        },
        "VerifierKeyAdd": {
            "type": "object",
            "required": ["jwk"],
            "additionalProperties": False,
            "properties": {"jwk": _ref("PublicJWK")},
        },
        "Verifier": {
            "type": "object",
            "required": ["id", "name", "status", "methods"],
            "properties": {
                "id": string,
                "name": string,
                "status": {"enum": ["active", "suspended"]},
                "methods": {"type": "array", "items": {"enum": methods}},
                "keys": {"type": "array", "items": {"type": "object"}},
                "created_at": {"type": "integer"},
            },
        },
        "VerifierList": {
            "type": "object",
            "required": ["verifiers"],
            "properties": {"verifiers": {"type": "array", "items": _ref("Verifier")}},
        },
        "SigningKey": {
            "type": "object",
            "required": ["kid", "status"],
            "properties": {
                "kid": string,
                "status": {"enum": ["active", "retired", "revoked"]},
                "epoch_start": {"type": "integer"},
                "epoch_end": {"type": "integer"},
                "verify_until": {"type": "integer"},
            },
        },
        "SigningKeyList": {
            "type": "object",
            "required": ["keys"],
            "properties": {"keys": {"type": "array", "items": _ref("SigningKey")}},
        },
        "Generated": {
            "type": "object",
            "required": ["generated"],
            "properties": {"generated": {"type": "array", "items": string}},
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"enum": ["ok"]}},
        },
    }


def document(
    *, issuer_url: str, thresholds: list[int], max_batch: int, methods: list[str]
) -> dict[str, Any]:
    """The OpenAPI document for an issuer at ``issuer_url``.

    ``thresholds``, ``max_batch`` and ``methods`` make the schemas state this
    deployment's actual limits.
    """
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ageverify issuer",
            "version": "1",
            "description": (
                "Issues SD-JWT VC age credentials for verifier attestations and publishes "
                "the keys platforms need to verify presentations offline. Every error is "
                "JSON {code, description} with a stable code."
            ),
        },
        "servers": [{"url": issuer_url}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(thresholds, max_batch, methods),
            "headers": {
                "X-Request-ID": {
                    "description": "Identifies this request in the issuer's log.",
                    "schema": {"type": "string"},
                }
            },
            "parameters": {
                "verifier_id": {
                    "name": "verifier_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                },
                "kid": {
                    "name": "kid",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                },
            },
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An admin token from `ageverify admin-tokens create NAME`.",
                }
            },
        },
    }


@bp.get("/openapi.json")
def openapi_json() -> Any:
    """Serve the OpenAPI document for this deployment."""
    settings = current_app.extensions["ageverify"].settings
    response = jsonify(
        document(
            issuer_url=settings.issuer_url,
            thresholds=list(settings.thresholds),
            max_batch=settings.max_batch,
            methods=list(METHODS),
        )
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
