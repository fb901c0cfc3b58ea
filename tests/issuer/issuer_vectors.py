"""Keys and token builders for the issuer tests.

Verifier keys are fixed for the whole run: one P-256 (ES256) and one Ed25519
(EdDSA) verifier, plus an outsider key that no registry knows. Attestations
are signed with PyJWT, an implementation independent of ours, so the intake
is tested against tokens it did not make; hostile tokens that PyJWT refuses
to produce are assembled by hand with ``raw_token``.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ageverify.formats import jose

ISSUER = "https://issuer.test"
PASSPHRASE = "issuer test passphrase"  # noqa: S105 - test-only

# Registered verifier using ES256, accredited for id_document and bank.
ES_VERIFIER = "es-verifier"
ES_KID = "es-key-1"
ES_KEY = ec.generate_private_key(ec.SECP256R1())

# Registered verifier using EdDSA, accredited for eid only.
ED_VERIFIER = "ed-verifier"
ED_KID = "ed-key-1"
ED_KEY = ed25519.Ed25519PrivateKey.generate()

# A key registered nowhere.
OUTSIDER_KEY = ec.generate_private_key(ec.SECP256R1())

ATTESTATION_TYP = "age-attestation+jwt"


def verifier_jwk(key: Any, kid: str) -> dict[str, str]:
    """The public JWK of ``key`` as a verifier registers it."""
    return {**jose.public_jwk(key), "kid": kid}


def claims(now: float, **overrides: Any) -> dict[str, Any]:
    """Well-formed attestation claims from the ES256 verifier: an adult, checked by ID document.

    ``overrides`` replace claims; an override of ``DROP`` removes the claim.
    """
    values: dict[str, Any] = {
        "iss": ES_VERIFIER,
        "aud": ISSUER,
        "iat": int(now),
        "exp": int(now) + 300,
        "jti": secrets.token_urlsafe(16),
        "age_over": {"13": True, "16": True, "18": True, "21": False},
        "method": "id_document",
    }
    for name, value in overrides.items():
        if value is DROP:
            values.pop(name, None)
        else:
            values[name] = value
    return values


DROP = object()


def attest(
    now: float,
    *,
    key: Any = ES_KEY,
    alg: str = "ES256",
    kid: str | None = ES_KID,
    typ: str | None = ATTESTATION_TYP,
    extra_headers: dict[str, Any] | None = None,
    **claim_overrides: Any,
) -> str:
    """An attestation signed with PyJWT; defaults give one that must be accepted."""
    headers: dict[str, Any] = {"typ": typ}
    if kid is not None:
        headers["kid"] = kid
    headers.update(extra_headers or {})
    return jwt.encode(claims(now, **claim_overrides), key, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(
    header: bytes | dict[str, Any], payload: bytes | dict[str, Any], key: Any = None
) -> str:
    """A compact JWS from raw header and payload bytes (or dicts), ES256-signed by ``key``.

    Without ``key`` the signature is empty, as in an ``alg: none`` token.
    """
    header_bytes = header if isinstance(header, bytes) else json.dumps(header).encode()
    payload_bytes = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64(header_bytes)}.{b64(payload_bytes)}"
    signature = b"" if key is None else jose.sign_input(key, signing_input.encode())
    return f"{signing_input}.{b64(signature)}"


def es_header(**overrides: Any) -> dict[str, Any]:
    """The header of a good ES256 attestation, with ``overrides``."""
    return {"alg": "ES256", "typ": ATTESTATION_TYP, "kid": ES_KID, **overrides}


def holder_keys(count: int) -> tuple[list[ec.EllipticCurvePrivateKey], list[dict[str, str]]]:
    """``count`` fresh P-256 holder keys and their public JWKs."""
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(count)]
    return keys, [jose.public_jwk(key) for key in keys]
