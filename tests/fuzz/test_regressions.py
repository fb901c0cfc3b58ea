"""Inputs on which the fuzz harnesses in fuzz/ crashed a parser, each kept as a test.

Each test inlines the input at the parser's own interface (the harnesses
build it from the fuzzer's bytes, which are given too) and checks the
parser's contract: a value or an AgeVerifyError with a code from CODES.
"""

from __future__ import annotations

import pytest

from ageverify.errors import IssuanceError
from ageverify.formats import attestation, jose, strictjson

ISSUER = "https://issuer.fuzz.example"
NOW = 1_767_225_600


def test_attestation_lifetime_of_a_huge_integer_iat_and_a_float_exp_is_refused() -> None:
    # fuzz_attestation.py, shape 3, input b'\x9b{"alg"xamw78N\\wd1800aU4\xff\xff\nam',
    # which varies a valid payload into this one:
    # exp - iat with a 363-digit integer iat and a float exp raised OverflowError
    # ("int too large to convert to float") instead of attestation-bad-lifetime.
    iat = "1818305147" + "0" * 353
    payload = (
        '{"iss":"verifier.fuzz.example","aud":"https://issuer.fuzz.example",'
        f'"iat":{iat},"exp":5.492766850522081e+307,"jti":"bbbbbbbbbbbbbbbbbbbbbb",'
        '"age_over":{"13":true,"18":true,"21":false},"method":"id_document"}'
    )
    claims = strictjson.loads(payload)
    with pytest.raises(IssuanceError) as refused:
        attestation.check_claims(claims, issuer=ISSUER, now=NOW, leeway=60, thresholds=(13, 18, 21))
    assert refused.value.code == "attestation-bad-lifetime"


@pytest.mark.parametrize(
    ("iat", "exp", "code"),
    [
        (1.5, 10**400, "attestation-bad-lifetime"),  # the same overflow the other way round
        (10**400, 10**400 + 600, "attestation-not-yet-valid"),  # a 600 s lifetime, far ahead
        (10**400, 10**400 + 601, "attestation-bad-lifetime"),
        (NOW - 10.0, NOW - 10, "attestation-bad-lifetime"),  # zero lifetime
    ],
)
def test_attestation_lifetime_is_compared_exactly_for_any_json_numbers(
    iat: float, exp: float, code: str
) -> None:
    claims = {
        "iss": "verifier.fuzz.example",
        "aud": ISSUER,
        "iat": iat,
        "exp": exp,
        "jti": "b" * 22,
        "age_over": {"18": True},
        "method": "id_document",
    }
    with pytest.raises(IssuanceError) as refused:
        attestation.check_claims(claims, issuer=ISSUER, now=NOW, leeway=60, thresholds=(18,))
    assert refused.value.code == code


def test_thumbprint_of_a_jwk_whose_kty_is_an_array_is_a_jwk_error() -> None:
    # fuzz_jose.py, shape 2, input (base64) XHUwMDAw/wsAAJ5TSjQuZXlkZXIifQrCQiXvuwF7Im
    # FsZyI6IkVTMjU2In0KeyJrdHkiOiJFQyIsImO/4LXNcnYiOmkiZlA=, which varies the
    # issuer's public JWK into this one: a kty that is an array made thumbprint
    # raise TypeError ("unhashable type: 'list'") instead of its documented JWKError.
    jwk = {
        "kty": [1.2854705579714073e302],
        "x": "blkSpF7LD516z44ZBN3LM-V42VnxxfsY9oK_iDxOhmQ",
        "kid": "issuer",
        "use": {
            "\u4a53\u2e34\u7965\u6564": None,
            "\u7d22\uc20a\u2542\ubbef": [],
            '{"al': ["RSA", 3.8066011090963716e307, [-1.7976930900202289e308]],
        },
    }
    with pytest.raises(jose.JWKError):
        jose.thumbprint(jwk)


@pytest.mark.parametrize("kty", [["EC"], {"EC": "P-256"}, 2, None, True])
def test_thumbprint_of_a_jwk_whose_kty_is_no_string_is_a_jwk_error(kty: object) -> None:
    with pytest.raises(jose.JWKError):
        jose.thumbprint({"kty": kty, "crv": "P-256", "x": "AA", "y": "AA"})
