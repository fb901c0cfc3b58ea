"""Fuzz ``ageverify.formats.jose``: compact JWS decoding, base64url and public JWKs.

The first byte picks the input's shape. 0: the bytes are a compact JWS.
1: the bytes are ``<header JSON>\n<payload JSON>\n<signature>``, which the
harness base64url-encodes into a compact JWS, so that the fuzzer mutates the
JSON inside rather than its encoding. 2: the bytes drive a FuzzedDataProvider
that varies the members of valid EC and OKP JWKs with typed values for the
JWK readers.

Contract: ``decode_compact`` and ``b64url_decode`` return a value or raise a
coded AgeVerifyError; the JWK readers (``public_key_from_jwk``,
``thumbprint``) return or raise their documented ``JWKError``. A decoded
JWS is checked against the fixed issuer key, and its payload is read as a
JWK, so that signature checking and key parsing see fuzzed values too.
"""

from __future__ import annotations

import contextlib

import atheris
from harness import ISSUER_KEY, LOG_KEY, expect_contract, instrumented, main, text_of, vary

with instrumented():
    from ageverify.formats import jose

ISSUER_PUBLIC = ISSUER_KEY.public_key()
JWKS = [
    {**jose.public_jwk(ISSUER_KEY), "kid": "issuer", "use": "sig"},
    {**jose.public_jwk(LOG_KEY), "alg": "EdDSA"},
]


def _jwk(value: object) -> None:
    if not isinstance(value, dict):
        return
    for call in (lambda: jose.public_key_from_jwk(value), lambda: jose.thumbprint(value)):
        with contextlib.suppress(jose.JWKError):
            call()


def compact(body: bytes) -> str:
    """The compact JWS of shape 1 input ``body``: its three parts base64url-encoded."""
    parts = body.split(b"\n", 2)
    parts += [b""] * (3 - len(parts))
    return ".".join(jose.b64url_encode(part) for part in parts)


def test_one_input(data: bytes) -> None:
    """Decode ``data`` as a compact JWS, then as base64url, checking the contract of each."""
    if not data:
        return
    shape = data[0] % 3
    if shape == 2:
        fdp = atheris.FuzzedDataProvider(data[1:])
        _jwk(vary(fdp, fdp.PickValueInList(JWKS)))
        return
    text = text_of(data[1:]) if shape == 0 else compact(data[1:])
    decoded = expect_contract(lambda: jose.decode_compact(text, max_size=16_384))
    if decoded is not None:
        header, payload, signing_input, signature = decoded
        assert signing_input == text.rsplit(".", 1)[0].encode("ascii")
        jose.verify_parts(header.get("alg"), signing_input, signature, ISSUER_PUBLIC)
        _jwk(payload)
        _jwk(header)
    raw = expect_contract(lambda: jose.b64url_decode(text))
    if raw is not None:
        assert jose.b64url_encode(raw) == text, "base64url has one spelling per byte string"


if __name__ == "__main__":
    main(test_one_input)
