"""Fuzz ``ageverify.formats.sdjwt``: presentation parsing and verification.

The first byte picks the input's shape.

0. The bytes are a presentation ``<issuer-jwt>~<disclosure>~...~<kb-jwt>``
   for ``parse_presentation`` and ``verified_presentation``. The key set knows
   the fixed issuer key under its real kid, so a seed's issuer JWT verifies
   and the fuzzer's changes to disclosures and the Key Binding JWT are
   checked past the signature.
1. The bytes are ``<issuer payload>~<disclosure>~...~<kb payload>`` with both
   payloads as raw bytes (JSON in the seeds). The harness signs them itself,
   the issuer payload with the issuer key and the KB payload with the holder
   key, and writes the real ``sd_hash`` where the KB payload says
   ``SD_HASH``: the fuzzer varies every claim and every signature still holds.
2. The bytes drive a FuzzedDataProvider that replaces or drops claims of a
   valid credential and Key Binding JWT with typed values (integers beyond a
   double's range, extreme floats, nested values) and picks how many
   disclosures to keep; the result is signed as in shape 1.

Contract: a value or a coded VerificationError.
"""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

import atheris
from harness import (
    AUDIENCE,
    HOLDER_KEY,
    ISSUER,
    ISSUER_KEY,
    NONCE,
    NOW,
    THRESHOLDS,
    expect_contract,
    instrumented,
    main,
    text_of,
    vary,
)

with instrumented():
    from ageverify.errors import VerificationError
    from ageverify.formats import jose, sdjwt, strictjson

ISSUER_PUBLIC = ISSUER_KEY.public_key()
KID = jose.thumbprint(jose.public_jwk(ISSUER_PUBLIC))
_ISSUER_HEADER = jose.b64url_encode(
    strictjson.dumps({"alg": "ES256", "typ": sdjwt.CREDENTIAL_TYP, "kid": KID})
)
_KB_HEADER = jose.b64url_encode(strictjson.dumps({"alg": "ES256", "typ": sdjwt.KB_TYP}))
SD_HASH_PLACEHOLDER = b"SD_HASH"


def keys(kid: str) -> jose.PublicKey | None:
    """The issuer key set: the fixed issuer key under its thumbprint."""
    return ISSUER_PUBLIC if kid == KID else None


def _signed(private_key: jose.PrivateKey, header: str, payload: bytes) -> str:
    signing_input = header + "." + jose.b64url_encode(payload)
    return (
        signing_input
        + "."
        + jose.b64url_encode(jose.sign_input(private_key, signing_input.encode("ascii")))
    )


def resign(body: bytes) -> str:
    """The presentation that shape 1 input ``body`` describes, freshly signed."""
    issuer_payload, *rest = body.split(b"~")
    kb_payload = rest.pop() if rest else b""
    disclosures = [text_of(part) for part in rest]
    prefix = "~".join([_signed(ISSUER_KEY, _ISSUER_HEADER, issuer_payload), *disclosures]) + "~"
    if not kb_payload:
        return prefix
    if prefix.isascii():
        sd_hash = jose.b64url_encode(hashlib.sha256(prefix.encode("ascii")).digest())
        kb_payload = kb_payload.replace(SD_HASH_PLACEHOLDER, sd_hash.encode("ascii"))
    return prefix + _signed(HOLDER_KEY, _KB_HEADER, kb_payload)


def _valid_parts() -> tuple[dict[str, Any], list[str]]:
    """The payload and disclosures of a credential for the fixed holder key, valid at NOW."""
    credential = sdjwt.issue_credential(
        signing_key=ISSUER_KEY,
        kid=KID,
        issuer=ISSUER,
        iat=NOW - 3600,
        exp=NOW + 86400,
        holder_jwk=jose.public_jwk(HOLDER_KEY),
        age_over={threshold: threshold <= 18 for threshold in THRESHOLDS},
        decoys=2,
    )
    issuer_jwt, *disclosures, _ = credential.split("~")
    return strictjson.loads(jose.b64url_decode(issuer_jwt.split(".")[1])), disclosures


CREDENTIAL_CLAIMS, DISCLOSURES = _valid_parts()
KB_CLAIMS = {"iat": NOW, "aud": AUDIENCE, "nonce": NONCE, "sd_hash": "SD_HASH"}


def varied(body: bytes) -> str | None:
    """The presentation shape 2 input ``body`` describes, or None if its claims do not encode."""
    fdp = atheris.FuzzedDataProvider(body)
    claims = vary(fdp, CREDENTIAL_CLAIMS)
    kept = DISCLOSURES[: fdp.ConsumeIntInRange(0, len(DISCLOSURES))]
    kb_claims = vary(fdp, KB_CLAIMS)
    try:
        parts = [strictjson.dumps(claims), *(d.encode() for d in kept), strictjson.dumps(kb_claims)]
    except ValueError:  # an integer of more digits than Python writes: no token holds it
        return None
    return resign(b"~".join(parts))


def _verify(text: str) -> None:
    expect_contract(lambda: sdjwt.parse_presentation(text), VerificationError)
    verified = expect_contract(
        lambda: sdjwt.verified_presentation(
            text, keys=keys, issuer=ISSUER, audience=AUDIENCE, nonce=NONCE, now=NOW
        ),
        VerificationError,
    )
    if verified is not None:
        for min_age in (None, *THRESHOLDS):
            expect_contract(
                partial(sdjwt.check_requirement, verified.facts, min_age, 17, THRESHOLDS),
                VerificationError,
            )


def test_one_input(data: bytes) -> None:
    """Verify ``data`` as a presentation in the shape its first byte picks."""
    if not data:
        return
    shape, body = data[0] % 3, data[1:]
    if shape == 2:
        text = varied(body)
        if text is not None:
            _verify(text)
        return
    _verify(text_of(body) if shape == 0 else resign(body))


if __name__ == "__main__":
    main(test_one_input)
