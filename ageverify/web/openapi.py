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
from ageverify.formats import privacypass
from ageverify.formats.attestation import METHODS
from ageverify.issuer.stats import MAX_DAYS
from ageverify.issuer.tokens import NONCE_LIFETIME, NONCE_PATH, TOKEN_REQUEST_PATH
from ageverify.web.stats import STATS_PATH
from ageverify.web.wallet import FILES as WALLET_FILES

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
# Operations behind the rate limiter (ageverify.web.limits) may answer these.
_LIMITED = ("rate-limited",)
# Path parameters: a value the route's converter does not match (a "/" in a
# verifier id, a line break in a tile path) routes nowhere and answers 404.
_PATH_PARAMETERS = frozenset({"verifier_id", "kid", "path", "wallet_file"})

_ISSUANCE_CODES = (
    *_BODY,
    *_TOKEN,
    *(code for code in CODES if code.startswith("attestation-")),
    "holder-keys-invalid",
    "holder-key-private",
    "holder-keys-duplicate",
    "no-signing-key",
    "unavailable",
    *_LIMITED,
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
    *_LIMITED,
)
# A token request's presentation: refused with its own code, answered with 401
# (see ageverify.errors.UnauthorizedError).
_TOKEN_AUTHORIZATION_CODES = (
    *_TOKEN,
    "presentation-malformed",
    "presentation-too-large",
    *(code for code in CODES if code.startswith(("credential-", "disclosure-", "key-binding-"))),
    "digest-duplicate",
    "sd-hash-mismatch",
    "requirement-not-disclosed",
    "nonce-unknown",
    "nonce-expired",
    "nonce-reused",
)
_TOKEN_REQUEST_CODES = (
    "unsupported-media-type",
    "payload-too-large",
    "privacypass-malformed",
    "privacypass-unsupported-token-type",
    "privacypass-bad-token-key",
    "blind-rsa-blinded-message-range",
    "blind-rsa-signing-failure",
    "token-authorization-missing",
    "token-authorization-malformed",
    "requirement-not-met",
    "token-quota-exceeded",
    "token-keys-unavailable",
    "unavailable",
    *_LIMITED,
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
    cache: str | tuple[str, ...] = "no-store",
    admin: bool = False,
    parameters: tuple[str, ...] = (),
    unauthorized: tuple[str, ...] = (),
    security: str | None = None,
    ok_content: dict[str, Any] | None = None,
    body_content: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One operation: its success response and an error response per status.

    ``ok`` is (status, description, schema or None for a text body);
    ``ok_content`` and ``body_content`` replace the JSON content of the
    success response and the request body (binary media types).
    ``unauthorized`` are codes this operation answers with 401 instead of
    their own status; they are listed in ``x-unauthorized-codes`` too.
    ``security`` names the security scheme of a non-admin operation.
    ``cache`` is the success response's Cache-Control, or the values it may take.
    """
    status, ok_description, schema = ok
    success: dict[str, Any] = {
        "description": ok_description,
        "headers": {
            "Cache-Control": {
                "schema": {"type": "string", "const": cache}
                if isinstance(cache, str)
                else {"type": "string", "enum": list(cache)}
            },
            "X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
        },
    }
    if ok_content is not None:
        success["content"] = ok_content
    else:
        success["content"] = (
            _json(schema) if schema is not None else {"text/plain": {"schema": {"type": "string"}}}
        )
    responses: dict[str, Any] = {status: success}
    by_status: dict[int, list[str]] = defaultdict(list)
    routed = ("not-found",) if _PATH_PARAMETERS.intersection(parameters) else ()
    for code in dict.fromkeys(
        (*errors, *unauthorized, *(_ADMIN if admin else ()), *routed, *_ALWAYS)
    ):
        by_status[401 if code in unauthorized else CODES[code][0]].append(code)
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
        if "rate-limited" in codes:
            responses[str(error_status)]["headers"] = {
                "Retry-After": {
                    "description": "With `rate-limited`: seconds until the exceeded limit's "
                    "window lets a request in.",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                }
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
    if body_content is not None:
        operation["requestBody"] = {"required": True, "content": body_content}
    if unauthorized:
        operation["x-unauthorized-codes"] = sorted(unauthorized)
    if admin:
        operation["security"] = [{"adminToken": []}]
    elif security is not None:
        operation["security"] = [{security: []}]
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
                    "is refused with `attestation-personal-data`. Requests are rate limited "
                    "per client address (AGEVERIFY_RATE_LIMIT_ISSUANCE): 429 `rate-limited` "
                    "with Retry-After beyond."
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
                    "each nonce it issued once only. Requests are rate limited per client "
                    "address (AGEVERIFY_RATE_LIMIT_VERIFY): 429 `rate-limited` with "
                    "Retry-After beyond."
                ),
            )
        },
        privacypass.DIRECTORY_PATH: {
            "get": _operation(
                "Privacy Pass issuer directory (RFC 9578 section 4): token keys.",
                tag="privacy-pass",
                ok=("200", "The issuer directory.", None),
                ok_content={
                    privacypass.MEDIA_TYPE_ISSUER_DIRECTORY: {"schema": _ref("IssuerDirectory")}
                },
                errors=("token-keys-unavailable",),
                cache=public,
                description=(
                    "One RSA-2048 key (token type 2) per age threshold per epoch, published "
                    "ahead with not-before = the epoch start and kept one epoch after its own. "
                    "The discovery document's privacy_pass.token_keys says which threshold "
                    "each key id stands for. Send If-None-Match with the ETag to revalidate."
                ),
            )
        },
        NONCE_PATH: {
            "post": _operation(
                "A single-use nonce for the presentation that authorises a token request.",
                tag="privacy-pass",
                ok=("200", "The nonce and how long it can be answered.", _ref("IssuerNonce")),
                errors=(*_BODY, *_LIMITED),
                description=(
                    "Send no body (or an empty JSON object). The nonce is stored, so any "
                    "instance of the issuer accepts it, once, within expires_in seconds. "
                    "Requests are rate limited per client address "
                    "(AGEVERIFY_RATE_LIMIT_TOKENS): 429 `rate-limited` with Retry-After beyond."
                ),
            )
        },
        TOKEN_REQUEST_PATH: {
            "post": _operation(
                "Blind-sign a Privacy Pass token request (RFC 9578 section 6, token type 2).",
                tag="privacy-pass",
                ok=("200", "The TokenResponse: the blind signature.", None),
                ok_content={
                    privacypass.MEDIA_TYPE_TOKEN_RESPONSE: {
                        "schema": {
                            "type": "string",
                            "contentMediaType": privacypass.MEDIA_TYPE_TOKEN_RESPONSE,
                            "description": "256 bytes: the blind signature.",
                        }
                    }
                },
                body_content={
                    privacypass.MEDIA_TYPE_TOKEN_REQUEST: {
                        "schema": {
                            "type": "string",
                            "contentMediaType": privacypass.MEDIA_TYPE_TOKEN_REQUEST,
                            "description": "259 bytes: token_type 0x0002, the truncated token "
                            "key id, the 256-byte blinded message.",
                        }
                    }
                },
                errors=_TOKEN_REQUEST_CODES,
                unauthorized=_TOKEN_AUTHORIZATION_CODES,
                security="ageCredential",
                description=(
                    'Authorised by `Authorization: AgeCredential presentation="<SD-JWT+KB>"`: '
                    "a presentation of an age credential of this issuer, with this issuer's URL "
                    "as audience, answering a nonce from the nonce endpoint and disclosing "
                    "age_over_<threshold> = true for the threshold of the requested key. A "
                    "presentation that does not verify is answered with 401 and its own code "
                    "(listed in x-unauthorized-codes); a false age fact with 403. Each "
                    "credential obtains at most AGEVERIFY_TOKEN_DAILY_QUOTA tokens per UTC day "
                    "(429 `token-quota-exceeded` beyond), and requests are rate limited per "
                    "client address (AGEVERIFY_RATE_LIMIT_TOKENS; 429 `rate-limited` with "
                    "Retry-After). The issuer learns the threshold and the epoch, never the "
                    "token: the message it signs is blinded."
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
                "List credential signing keys and Privacy Pass token keys with their "
                "epochs and status.",
                tag="admin",
                admin=True,
                ok=("200", "Signing key metadata (public only).", _ref("SigningKeyList")),
            )
        },
        "/v1/admin/keys/generate-ahead": {
            "post": _operation(
                "Make sure the current and the coming epochs have a signing key and a "
                "token key per age threshold.",
                tag="admin",
                admin=True,
                ok=(
                    "200",
                    "The kids and token key ids generated by this call (possibly none).",
                    _ref("Generated"),
                ),
            )
        },
        "/v1/admin/keys/{kid}/retire": {
            "post": _operation(
                "Retire a signing key (kid) or token key (token_key_id): it signs no "
                "more, and stays published until what it signed expires.",
                tag="admin",
                admin=True,
                parameters=("kid",),
                ok=("200", "Signing key metadata after the change.", _ref("SigningKeyList")),
                errors=("unknown-key",),
            )
        },
        "/v1/admin/keys/{kid}/revoke": {
            "post": _operation(
                "Revoke a signing key (kid) or token key (token_key_id): unpublished "
                "at once, private key deleted.",
                tag="admin",
                admin=True,
                parameters=("kid",),
                ok=("200", "Signing key metadata after the change.", _ref("SigningKeyList")),
                errors=("unknown-key",),
            )
        },
        "/log/checkpoint": {
            "get": _operation(
                "The transparency log's latest signed checkpoint (C2SP tlog-checkpoint).",
                tag="transparency-log",
                ok=("200", "A signed note: origin, tree size, base64 root hash.", None),
                errors=("log-unavailable",),
                description=(
                    "Signed with the log key whose verifier key the discovery document "
                    "names (log.vkey). Every key in the JWKS and the Privacy Pass directory "
                    "has its published entry covered by this checkpoint."
                ),
            )
        },
        "/log/tile/{path}": {
            "get": _operation(
                "A hash tile <L>/<N>[.p/<W>] or an entry bundle entries/<N>[.p/<W>] "
                "(C2SP tlog-tiles).",
                tag="transparency-log",
                parameters=("path",),
                ok=("200", "Tile bytes: 32-byte hashes, or uint16-prefixed entries.", None),
                ok_content={
                    "application/octet-stream": {
                        "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
                    }
                },
                errors=("tile-path-invalid", "log-tile-not-found"),
                cache=("public, max-age=31536000, immutable", "public, max-age=60"),
                description=(
                    "Full tiles and bundles never change and are cacheable as immutable; "
                    "partial ones (.p/<W>) are sent with Cache-Control: public, max-age=60. "
                    "Each entry is the canonical JSON of one key event. Only what the latest "
                    "checkpoint covers is served."
                ),
            )
        },
        STATS_PATH: {
            "get": _operation(
                "Issuance counts per UTC day x method x age threshold x over, for auditors.",
                tag="audit",
                parameters=("from", "to"),
                ok=("200", "Aggregate counts; small cells left out.", _ref("IssuanceStats")),
                errors=("invalid-request", "unavailable"),
                cache=public,
                description=(
                    "Counts of issuances whose attestation stated age_over_<threshold> = over, "
                    "by verification method and UTC day. No per-person data. A cell counting "
                    "fewer than minimum_count (AGEVERIFY_STATS_MIN_COUNT, default 10) issuances "
                    "is left out and counted in suppressed, never shown as 0: a small cell can "
                    "single out a person known to have verified that day. Days not yet over "
                    "are never shown. from and to are optional UTC days (YYYY-MM-DD, both "
                    f"included, at most {MAX_DAYS} days apart); by default the range ends "
                    "yesterday. Any other query parameter, a repeated one, or a malformed or "
                    "reversed range is refused with invalid-request."
                ),
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
                "Prometheus metrics: responses by status class (issuance counts: /v1/stats).",
                tag="operations",
                ok=("200", "Prometheus text exposition format.", None),
                errors=(),
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
        "/wallet/": {
            "get": _operation(
                "The browser wallet's page.",
                tag="wallet",
                ok=("200", "The wallet (HTML).", None),
                ok_content={"text/html": {"schema": {"type": "string"}}},
                cache="no-cache",
                description=(
                    "A static page: it reads #attestation=<JWS> (from a verifier) or "
                    "#request=<base64url JSON> (from a platform) in the URL fragment, which "
                    "never reaches the issuer, keeps holder keys and credentials in the "
                    "browser and answers the platform's callback directly. Sent with a strict "
                    "Content-Security-Policy and Referrer-Policy: no-referrer."
                ),
            )
        },
        "/wallet/{name}": {
            "get": _operation(
                "One of the browser wallet's files (scripts, style sheet, service worker).",
                tag="wallet",
                parameters=("wallet_file",),
                ok=("200", "The file, as it is in the package.", None),
                ok_content={
                    media_type.split(";")[0]: {"schema": {"type": "string"}}
                    for media_type in dict.fromkeys(WALLET_FILES.values())
                },
                errors=("not-found",),
                cache="no-cache",
            )
        },
    }


def _schemas(thresholds: list[int], max_batch: int, methods: list[str]) -> dict[str, Any]:
    string = {"type": "string"}
    day = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
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
                "privacy_pass": _ref("PrivacyPass"),
                "log": _ref("TransparencyLog"),
            },
        },
        "TransparencyLog": {
            "type": "object",
            "required": ["origin", "vkey", "url"],
            "properties": {
                "origin": {**string, "description": "The checkpoints' first line."},
                "vkey": {**string, "description": "C2SP verifier key name+keyid+base64."},
                "url": {**string, "description": "The tlog-tiles prefix, ending in /."},
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
        "TokenKey": {
            "type": "object",
            "required": ["token_key_id", "threshold", "status"],
            "properties": {
                "token_key_id": {**string, "description": "Unpadded base64url key id."},
                "truncated_token_key_id": {"type": "integer", "minimum": 0, "maximum": 255},
                "token_type": {"const": privacypass.TOKEN_TYPE_BLIND_RSA},
                "threshold": {"type": "integer"},
                "status": {"enum": ["active", "retired", "revoked"]},
                "epoch_start": {"type": "integer"},
                "not_before": {"type": "integer"},
                "not_after": {"type": "integer"},
                "published_until": {"type": "integer"},
            },
        },
        "SigningKeyList": {
            "type": "object",
            "required": ["keys"],
            "properties": {
                "keys": {"type": "array", "items": _ref("SigningKey")},
                "token_keys": {"type": "array", "items": _ref("TokenKey")},
            },
        },
        "Generated": {
            "type": "object",
            "required": ["generated"],
            "properties": {
                "generated": {"type": "array", "items": string},
                "token_keys": {"type": "array", "items": string},
            },
        },
        "IssuerDirectory": {
            "type": "object",
            "required": ["issuer-request-uri", "token-keys"],
            "properties": {
                "issuer-request-uri": string,
                "token-keys": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["token-type", "token-key"],
                        "properties": {
                            "token-type": {"const": privacypass.TOKEN_TYPE_BLIND_RSA},
                            "token-key": {
                                **string,
                                "description": "Padded base64url RSASSA-PSS SPKI (DER).",
                            },
                            "not-before": {"type": "integer"},
                        },
                    },
                },
            },
        },
        "IssuerNonce": {
            "type": "object",
            "required": ["nonce", "expires_in"],
            "properties": {
                "nonce": string,
                "expires_in": {"type": "integer", "const": NONCE_LIFETIME},
            },
        },
        "PrivacyPass": {
            "type": "object",
            "required": ["directory", "token_request", "nonce", "issuer_name", "token_keys"],
            "properties": {
                "directory": string,
                "token_request": string,
                "nonce": string,
                "issuer_name": {
                    **string,
                    "description": "The issuer_name of TokenChallenges: host[:port].",
                },
                "token_keys": {
                    "type": "object",
                    "description": "Unpadded base64url token_key_id -> its age threshold "
                    "and not_before.",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["threshold", "not_before"],
                        "properties": {
                            "threshold": {"type": "integer"},
                            "not_before": {"type": "integer"},
                        },
                    },
                },
            },
        },
        "IssuanceStats": {
            "type": "object",
            "required": ["from", "to", "minimum_count", "days", "suppressed"],
            "additionalProperties": False,
            "properties": {
                "from": {**day, "description": "First day of the range."},
                "to": {**day, "description": "Last day of the range (included)."},
                "minimum_count": {
                    "type": "integer",
                    "minimum": 2,
                    "description": "Cells counting fewer issuances are left out.",
                },
                "days": {
                    "type": "array",
                    "description": "Ordered by day, method, threshold and over.",
                    "items": {
                        "type": "object",
                        "required": ["day", "method", "threshold", "over", "count"],
                        "additionalProperties": False,
                        "properties": {
                            "day": day,
                            "method": {"enum": methods},
                            "threshold": {"type": "integer"},
                            "over": {"type": "boolean"},
                            "count": {"type": "integer", "minimum": 1},
                        },
                    },
                },
                "suppressed": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "How many cells of the range were left out as too small.",
                },
            },
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
                "from": {
                    "name": "from",
                    "in": "query",
                    "required": False,
                    "description": "First UTC day of the range, YYYY-MM-DD.",
                    "schema": {"type": "string", "format": "date"},
                },
                "to": {
                    "name": "to",
                    "in": "query",
                    "required": False,
                    "description": "Last UTC day of the range (included), YYYY-MM-DD.",
                    "schema": {"type": "string", "format": "date"},
                },
                "wallet_file": {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "schema": {"enum": sorted(WALLET_FILES)},
                },
                "path": {
                    "name": "path",
                    "in": "path",
                    "required": True,
                    "description": "The tile path after /log/tile/, slashes included. A path "
                    "of this shape that is not the canonical spelling of a tile (a leading "
                    "zero, a level above 63, a width of 0 or 256) is refused with "
                    "tile-path-invalid.",
                    "examples": {
                        "hash tile": {"value": "0/x001/234"},
                        "partial hash tile": {"value": "1/000.p/7"},
                        "entry bundle": {"value": "entries/000.p/12"},
                    },
                    "schema": {
                        "type": "string",
                        "pattern": "^(?:entries|[0-9]+)/(?:x[0-9]{3}/)*[0-9]{3}(?:[.]p/[0-9]+)?$",
                    },
                },
            },
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An admin token from `ageverify admin-tokens create NAME`.",
                },
                "ageCredential": {
                    "type": "http",
                    "scheme": "AgeCredential",
                    "description": 'Authorization: AgeCredential presentation="<SD-JWT+KB>", '
                    "a presentation of an age credential of this issuer addressed to it.",
                },
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
