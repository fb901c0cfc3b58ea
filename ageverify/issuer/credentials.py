"""Holder keys in, signed age credentials out.

``parse_holder_keys`` turns the wallet's untrusted ``holder_keys`` into
minimal public P-256 JWKs; ``issue_batch`` signs one credential per key.
Every credential of an epoch carries the epoch start as ``iat`` and the same
number of ``_sd`` digests, so credentials reveal neither when their holder
was verified within the epoch nor how many facts were attested.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ageverify.errors import AgeVerifyError, IssuanceError
from ageverify.formats.jose import (
    ALLOWED_JWK_MEMBERS,
    PRIVATE_JWK_MEMBERS,
    PrivateKey,
    b64url_decode,
)
from ageverify.formats.sdjwt import issue_credential_batch

# P-256 (SEC 2, FIPS 186-4): y^2 = x^3 - 3x + b over GF(p). The cofactor is 1,
# so an affine point on the curve is a valid public key of prime order.
_P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
_P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_EC_MEMBERS = frozenset({"kty", "crv", "x", "y"}) | ALLOWED_JWK_MEMBERS


def parse_holder_keys(value: object, max_batch: int) -> list[dict[str, str]]:
    """Check the wallet's ``holder_keys`` and return them as minimal public JWKs.

    ``value`` must be a list of 1 to ``max_batch`` EC P-256 public JWKs;
    otherwise ``holder-keys-invalid``. A key with private members raises
    ``holder-key-private`` (checked over the whole list first, so the wallet
    learns it is leaking keys whatever else is wrong); the same key twice
    raises ``holder-keys-duplicate``.
    """
    if not isinstance(value, list) or not 1 <= len(value) <= max_batch:
        raise IssuanceError(
            "holder-keys-invalid", f"holder_keys must be a list of 1 to {max_batch} public JWKs."
        )
    if any(isinstance(jwk, dict) and not PRIVATE_JWK_MEMBERS.isdisjoint(jwk) for jwk in value):
        raise IssuanceError("holder-key-private")
    keys = _parse_valid_keys(value)
    if keys is not None:
        return keys
    # Something is wrong: the keys are checked again one by one, so that the
    # first bad key in the list decides the error.
    keys = []
    seen: set[tuple[str, str]] = set()
    for jwk in value:
        if not isinstance(jwk, dict):
            raise IssuanceError("holder-keys-invalid", "Each holder key must be a JWK object.")
        if not _is_p256_public_jwk(jwk):
            raise IssuanceError(
                "holder-keys-invalid", "Each holder key must be a P-256 public JWK."
            )
        if jwk.get("alg", "ES256") != "ES256":
            raise IssuanceError("holder-keys-invalid", "Holder keys are used with ES256 only.")
        # Canonical coordinates identify the key exactly, as the thumbprint would.
        coordinates = (jwk["x"], jwk["y"])
        if coordinates in seen:
            raise IssuanceError("holder-keys-duplicate")
        seen.add(coordinates)
        keys.append({"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"]})
    return keys


def _parse_valid_keys(value: list[Any]) -> list[dict[str, str]] | None:
    """``parse_holder_keys``'s result when every key is valid, else ``None``.

    The same rules, with the coordinates of the whole batch decoded in one
    call: up to 30 keys come in every request.
    """
    if not all(
        isinstance(jwk, dict)
        and jwk.get("kty") == "EC"
        and jwk.get("crv") == "P-256"
        and jwk.get("alg", "ES256") == "ES256"
        and _EC_MEMBERS.issuperset(jwk)
        for jwk in value
    ):
        return None
    xs, ys = [jwk.get("x") for jwk in value], [jwk.get("y") for jwk in value]
    numbers = _decode_coordinates(xs + ys)
    if numbers is None or not all(map(_on_curve, numbers[: len(xs)], numbers[len(xs) :])):
        return None
    if len(set(zip(xs, ys, strict=True))) != len(value):
        return None
    return [{"kty": "EC", "crv": "P-256", "x": x, "y": y} for x, y in zip(xs, ys, strict=True)]


def _decode_coordinates(coordinates: list[object]) -> list[int] | None:
    """The numbers of base64url P-256 coordinates, or ``None`` if any is not one.

    A coordinate is 32 bytes, 43 canonical base64url characters. Each is
    followed by an ``A`` (six zero bits), so that all decode in one call,
    33 bytes each; the last of these holds the coordinate's two unused
    bits, which must be zero.
    """
    if not all(isinstance(text, str) and len(text) == 43 for text in coordinates):
        return None
    try:
        data = b64url_decode("A".join(coordinates) + "A")  # type: ignore[arg-type]
    except AgeVerifyError:
        return None
    if data[32::33].strip(b"\0"):
        return None
    return [int.from_bytes(data[start : start + 32], "big") for start in range(0, len(data), 33)]


def _on_curve(px: int, py: int) -> bool:
    """Whether the affine point (px, py) lies on P-256."""
    if px >= _P256_P or py >= _P256_P:
        return False
    # x^2 reduced first: no 768-bit product to divide (a quarter faster).
    return (py * py - (px * px % _P256_P - 3) * px - _P256_B) % _P256_P == 0


def _is_p256_public_jwk(jwk: dict[str, Any]) -> bool:
    """Whether ``jwk`` is a public P-256 JWK whose point lies on the curve.

    The same rules as ``jose.public_key_from_jwk(jwk, kinds=("EC-P-256",))``
    (a test holds the two together), checked with integer arithmetic: a batch
    holds up to 30 keys, and building a key object runs a full public key
    check that costs half a signature each.
    """
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or not _EC_MEMBERS.issuperset(jwk):
        return False
    numbers = _decode_coordinates([jwk.get("x"), jwk.get("y")])
    return numbers is not None and _on_curve(*numbers)


def entailed_facts(age_over: Mapping[int, bool], thresholds: Iterable[int]) -> dict[int, bool]:
    """``age_over`` completed with what it implies for the other ``thresholds``.

    Over 18 implies over every lower threshold; not over 18 implies not over
    any higher one. Claims that follow are issued so that every credential
    answers the same questions whichever facts a verifier attested; a
    threshold nothing implies stays absent. ``age_over`` must be monotone
    (attestation intake guarantees it).
    """
    facts: dict[int, bool] = {}
    for threshold in sorted(set(thresholds) | set(age_over)):
        if threshold in age_over:
            facts[threshold] = age_over[threshold]
        elif any(over and attested >= threshold for attested, over in age_over.items()):
            facts[threshold] = True
        elif any(not over and attested <= threshold for attested, over in age_over.items()):
            facts[threshold] = False
    return facts


def issue_batch(
    *,
    signing_key: PrivateKey,
    kid: str,
    issuer: str,
    epoch_start: int,
    lifetime: int,
    holder_keys: list[dict[str, Any]],
    age_over: Mapping[int, bool],
    decoys: int,
) -> list[str]:
    """Sign one credential per holder key, in the order of ``holder_keys``.

    ``signing_key`` (kid ``kid``) signs as ``issuer``; every credential gets
    ``iat`` = ``epoch_start`` and ``exp`` = ``epoch_start + lifetime``, the
    claims ``age_over`` (threshold -> bool) and ``decoys`` decoy digests.
    ``holder_keys`` must come from ``parse_holder_keys``.
    """
    return issue_credential_batch(
        signing_key=signing_key,
        kid=kid,
        issuer=issuer,
        iat=epoch_start,
        exp=epoch_start + lifetime,
        holder_jwks=holder_keys,
        age_over=age_over,
        decoys=decoys,
    )
