"""Test support: a movable clock, holder keys, and presentations built from the format
primitives (independently of the wallet in ``ageverify.sdk``)."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ageverify.formats import jose, sdjwt


class MovableClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        self.now += seconds


def decode_disclosure(disclosure: str) -> list[Any]:
    """The [salt, name, value] array of ``disclosure``."""
    padded = disclosure + "=" * (-len(disclosure) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


@dataclass
class HeldCredential:
    """A credential with the holder key it is bound to."""

    credential: str
    holder_key: ec.EllipticCurvePrivateKey

    @property
    def issuer_jwt(self) -> str:
        return self.credential.split("~", 1)[0]

    @property
    def disclosures(self) -> list[str]:
        return [part for part in self.credential.split("~")[1:] if part]

    def disclosure_for(self, claim: str) -> str:
        """The disclosure of age claim ``claim``."""
        for disclosure in self.disclosures:
            if decode_disclosure(disclosure)[1] == claim:
                return disclosure
        raise KeyError(claim)

    def present(
        self,
        audience: str,
        nonce: str,
        *,
        claims: tuple[str, ...] = ("age_over_18",),
        iat: int | None = None,
    ) -> str:
        """A presentation disclosing ``claims`` with a fresh Key Binding JWT."""
        sd_jwt = self.issuer_jwt + "~" + "".join(self.disclosure_for(c) + "~" for c in claims)
        kb_jwt = sdjwt.make_key_binding(
            holder_key=self.holder_key,
            sd_jwt_with_disclosures=sd_jwt,
            audience=audience,
            nonce=nonce,
            iat=int(time.time()) if iat is None else iat,
        )
        return sd_jwt + kb_jwt


@dataclass
class HolderKeys:
    """P-256 holder keys and their public JWKs, as a wallet would send them."""

    private: list[ec.EllipticCurvePrivateKey] = field(default_factory=list)

    @classmethod
    def generate(cls, count: int) -> HolderKeys:
        return cls([ec.generate_private_key(ec.SECP256R1()) for _ in range(count)])

    @property
    def jwks(self) -> list[dict[str, str]]:
        return [jose.public_jwk(key) for key in self.private]

    def bind(self, credentials: list[str]) -> list[HeldCredential]:
        """Pair each credential with the key it was issued for (same order)."""
        return [HeldCredential(c, k) for c, k in zip(credentials, self.private, strict=True)]
