"""Fuzz ``ageverify.formats.attestation``: header parsing and claim checks.

The first byte picks the input's shape. 0: the bytes are an attestation
token for ``parse_attestation``; when its signature verifies under the fixed
verifier key (seeds are signed with it), its claims go to ``check_claims``.
1: the bytes are the JSON payload itself, handed to ``check_claims`` as the
issuer would after a good signature, so the fuzzer can vary every claim.
2: the bytes are ``<header JSON>\n<payload JSON>``, signed by the harness
with the verifier key and then read as in shape 0: the header checks and the
claim checks both see fuzzed JSON behind a valid signature.
3: the bytes drive a FuzzedDataProvider that replaces or drops claims of a
valid payload with typed values (integers beyond a double's range, extreme
floats, nested values), handed to ``check_claims``.
Contract: a value or a coded IssuanceError (JSON refusals of shape 1 are
strict JSON's own AgeVerifyError).
"""

from __future__ import annotations

import atheris
from harness import (
    ISSUER,
    NOW,
    THRESHOLDS,
    VERIFIER_KEY,
    expect_contract,
    instrumented,
    main,
    text_of,
    vary,
)

with instrumented():
    from ageverify.errors import IssuanceError
    from ageverify.formats import attestation, jose, strictjson

VERIFIER_PUBLIC = VERIFIER_KEY.public_key()
# A payload check_claims accepts at NOW: shape 3 varies it.
VALID_CLAIMS = {
    "iss": "verifier.fuzz.example",
    "aud": ISSUER,
    "iat": NOW - 10,
    "exp": NOW + 290,
    "jti": "b" * 22,
    "age_over": {"13": True, "18": True, "21": False},
    "method": "id_document",
}


def _claims(payload: object) -> None:
    expect_contract(
        lambda: attestation.check_claims(
            payload,  # type: ignore[arg-type]
            issuer=ISSUER,
            now=NOW,
            leeway=60,
            thresholds=THRESHOLDS,
            kid="fuzz",
        ),
        IssuanceError,
    )


def signed(body: bytes) -> str:
    """The attestation of shape 2 input ``body``, signed with the verifier key."""
    header, _, payload = body.partition(b"\n")
    signing_input = jose.b64url_encode(header) + "." + jose.b64url_encode(payload)
    signature = jose.sign_input(VERIFIER_KEY, signing_input.encode("ascii"))
    return signing_input + "." + jose.b64url_encode(signature)


def test_one_input(data: bytes) -> None:
    """Run the attestation checks on ``data`` in the shape its first byte picks."""
    if not data:
        return
    shape, body = data[0] % 4, data[1:]
    if shape == 3:
        _claims(vary(atheris.FuzzedDataProvider(body), VALID_CLAIMS))
        return
    if shape == 1:
        payload = expect_contract(lambda: strictjson.loads(body))
        if payload is not None:
            _claims(payload)
        return
    token = text_of(body) if shape == 0 else signed(body)
    jws = expect_contract(lambda: attestation.parse_attestation(token), IssuanceError)
    if jws is not None and jose.verify_signature(jws, VERIFIER_PUBLIC):
        _claims(jws.payload)


if __name__ == "__main__":
    main(test_one_input)
