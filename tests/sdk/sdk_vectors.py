"""An issuer in miniature for the SDK tests: a fixed key, its JWKS and discovery
document, credentials signed with ``issue_credential``, and a movable clock."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ageverify.formats import jose, sdjwt

ISSUER = "https://issuer.example"
AUDIENCE = "https://platform.example"
NOW = 1_750_000_000
THRESHOLDS = (13, 15, 16, 18, 21)
ADULT = {13: True, 15: True, 16: True, 18: True, 21: True}
FIFTEEN = {13: True, 15: True, 16: False, 18: False, 21: False}

# The issuer's current signing key (fixed scalar) and a second one for rotation tests.
ISSUER_KEY = ec.derive_private_key(
    0x5A17E5A17E5A17E5A17E5A17E5A17E5A17E5A17E5A17E5A17E5A17E5A17E5A1, ec.SECP256R1()
)
NEXT_KEY = ec.derive_private_key(
    0x6B28F6B28F6B28F6B28F6B28F6B28F6B28F6B28F6B28F6B28F6B28F6B28F6B2, ec.SECP256R1()
)


def kid_of(key: ec.EllipticCurvePrivateKey) -> str:
    """The RFC 7638 kid of ``key``."""
    return jose.thumbprint(jose.public_jwk(key))


def jwks(*keys: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The JWKS document publishing ``keys``."""
    return {
        "keys": [
            {**jose.public_jwk(k), "kid": kid_of(k), "alg": "ES256", "use": "sig"} for k in keys
        ]
    }


class MovableClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: float = NOW) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        self.now += seconds


def credentials_for(
    holder_jwks: list[dict[str, str]],
    age_over: dict[int, bool] = ADULT,
    *,
    key: ec.EllipticCurvePrivateKey = ISSUER_KEY,
    issuer: str = ISSUER,
    iat: int = NOW - 3600,
    exp: int = NOW + 90 * 86400,
) -> list[str]:
    """One credential per holder JWK, as the issuer would sign them."""
    return [
        sdjwt.issue_credential(
            signing_key=key,
            kid=kid_of(key),
            issuer=issuer,
            iat=iat,
            exp=exp,
            holder_jwk=jwk,
            age_over=age_over,
            decoys=3,
        )
        for jwk in holder_jwks
    ]


class FakeIssuerSite:
    """``fetch`` for a Verifier: serves discovery and JWKS and counts requests."""

    def __init__(
        self, *keys: ec.EllipticCurvePrivateKey, thresholds: tuple[int, ...] = THRESHOLDS
    ) -> None:
        self.keys = list(keys) or [ISSUER_KEY]
        self.thresholds = thresholds
        self.requests: list[str] = []
        self.down = False
        self.discovery: dict[str, Any] = {
            "issuer": ISSUER,
            "jwks_uri": ISSUER + "/.well-known/jwks.json",
            "thresholds": list(thresholds),
        }

    def __call__(self, url: str) -> bytes:
        self.requests.append(url)
        if self.down:
            raise OSError("connection refused")
        if url == ISSUER + "/.well-known/age-verification":
            return json.dumps(self.discovery).encode()
        if url == self.discovery["jwks_uri"]:
            return json.dumps(jwks(*self.keys)).encode()
        raise OSError(f"404 {url}")

    def jwks_requests(self) -> int:
        """How many times the JWKS was fetched."""
        return sum(url.endswith("jwks.json") for url in self.requests)
