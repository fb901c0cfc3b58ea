"""Fixed keys and builders of good and malicious tokens for the format tests.

Everything here is built with ``json``, ``base64``, ``hashlib`` and
``cryptography`` directly, not with ``ageverify.formats``, so that the tests
check the formats module against an independent construction.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

# The issuer's P-256 signing key (a fixed scalar, so the tests are reproducible).
ISSUER_KEY = ec.derive_private_key(
    0x1D5E3C2B4A69788796A5B4C3D2E1F00112233445566778899AABBCCDDEEFF01, ec.SECP256R1()
)
# The holder key the test credential is bound to.
HOLDER_KEY = ec.derive_private_key(
    0x2C4E6A8B0D1F3254769ABCDEF0123456789ABCDEF0123456789ABCDEF01234, ec.SECP256R1()
)
# A key that belongs to nobody in the story: an attacker's.
OTHER_KEY = ec.derive_private_key(
    0x3B5D7F91A3C5E7092B4D6F8193A5C7E9FB1D3F5A7C9EB1D3F5A7C9EB1D3F5A7, ec.SECP256R1()
)

ISSUER = "https://issuer.example"
AUDIENCE = "https://platform.example"
NONCE = "n-0S6_WzA2Mj"
NOW = 1_750_000_000
VCT = "urn:ageverify:age:1"


def b64(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode_json(value: Any) -> bytes:
    """Compact JSON; raw bytes and str pass through (to build malformed JSON)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":")).encode()


def jwk_of(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """The minimal public JWK of ``key``."""
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64(numbers.x.to_bytes(32, "big")),
        "y": b64(numbers.y.to_bytes(32, "big")),
    }


def thumbprint_of(jwk: dict[str, str]) -> str:
    """RFC 7638 thumbprint of a P-256 JWK."""
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    return b64(
        hashlib.sha256(json.dumps(members, sort_keys=True, separators=(",", ":")).encode()).digest()
    )


ISSUER_JWK = jwk_of(ISSUER_KEY)
KID = thumbprint_of(ISSUER_JWK)
HOLDER_JWK = jwk_of(HOLDER_KEY)


def es256(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """A raw r || s ES256 signature."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def jws(header: Any, payload: Any, key: ec.EllipticCurvePrivateKey | None = None) -> str:
    """A compact JWS of ``header`` and ``payload`` (dicts, or raw JSON text), signed by ``key``."""
    signing_input = b64(encode_json(header)) + "." + b64(encode_json(payload))
    signature = b"" if key is None else es256(key, signing_input.encode())
    return signing_input + "." + b64(signature)


def disclosure(name: str, value: Any, salt: str = "c2FsdHNhbHRzYWx0c2FsdA") -> str:
    """A disclosure of ``name: value``."""
    return b64(json.dumps([salt, name, value], separators=(",", ":")).encode())


def digest(text: str) -> str:
    """The SD-JWT digest of a disclosure."""
    return b64(hashlib.sha256(text.encode()).digest())


AGE_FACTS = {"age_over_13": True, "age_over_16": True, "age_over_18": True, "age_over_21": False}
DISCLOSURES = {
    name: disclosure(name, value, salt=b64(name.encode() * 2)) for name, value in AGE_FACTS.items()
}


def credential_header(**changes: Any) -> dict[str, Any]:
    """The issuer JWT header, with ``changes`` applied (a value of None removes a member)."""
    header = {"alg": "ES256", "typ": "dc+sd-jwt", "kid": KID}
    return _apply(header, changes)


def credential_payload(extra_digests: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    """The issuer JWT payload over DISCLOSURES plus ``extra_digests``, with ``changes``."""
    payload = {
        "iss": ISSUER,
        "iat": NOW - 3600,
        "exp": NOW + 86400,
        "vct": VCT,
        "cnf": {"jwk": HOLDER_JWK},
        "_sd": [digest(d) for d in DISCLOSURES.values()]
        + list(extra_digests)
        + [b64(b"decoy" * 6 + b"00")],
        "_sd_alg": "sha-256",
    }
    return _apply(payload, changes)


def _apply(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for name, value in changes.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def issuer_jwt(
    header: Any = None, payload: Any = None, key: ec.EllipticCurvePrivateKey | None = ISSUER_KEY
) -> str:
    """A credential's issuer-signed JWT (the good one by default)."""
    return jws(
        credential_header() if header is None else header,
        credential_payload() if payload is None else payload,
        key,
    )


def kb_header(**changes: Any) -> dict[str, Any]:
    """The KB-JWT header, with ``changes``."""
    return _apply({"alg": "ES256", "typ": "kb+jwt"}, changes)


def present(
    jwt: str | None = None,
    disclosures: list[str] | None = None,
    *,
    header: Any = None,
    holder_key: ec.EllipticCurvePrivateKey = HOLDER_KEY,
    sd_hash_over: str | None = None,
    **claims: Any,
) -> str:
    """A presentation of ``jwt`` with ``disclosures`` and a KB-JWT.

    ``claims`` change the KB-JWT payload (None removes a claim);
    ``sd_hash_over`` computes sd_hash over another text than the one sent.
    """
    jwt = issuer_jwt() if jwt is None else jwt
    disclosures = [DISCLOSURES["age_over_18"]] if disclosures is None else disclosures
    sd_jwt = jwt + "~" + "".join(d + "~" for d in disclosures)
    payload = _apply(
        {"iat": NOW, "aud": AUDIENCE, "nonce": NONCE, "sd_hash": digest(sd_hash_over or sd_jwt)},
        claims,
    )
    return sd_jwt + jws(kb_header() if header is None else header, payload, holder_key)
