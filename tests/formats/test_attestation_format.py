"""Verifier attestation header and claim checks."""

from __future__ import annotations

from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from format_vectors import ISSUER, ISSUER_KEY, NOW, jws

from ageverify.errors import IssuanceError
from ageverify.formats import attestation
from ageverify.formats.attestation import Attestation, check_claims, parse_attestation

THRESHOLDS = (13, 15, 16, 18, 21)
JTI = "Zr3aJ0ORyXz1W6PxH2x8Wg"


def claims(**changes: Any) -> dict[str, Any]:
    payload = {
        "iss": "demo-verifier",
        "aud": ISSUER,
        "iat": NOW,
        "exp": NOW + 300,
        "jti": JTI,
        "age_over": {"13": True, "18": True, "21": False},
        "method": "id_document",
    }
    for name, value in changes.items():
        if value is None:
            payload.pop(name)
        else:
            payload[name] = value
    return payload


def check(payload: dict[str, Any], **kwargs: Any) -> Attestation:
    arguments = {"issuer": ISSUER, "now": NOW, "leeway": 60, "thresholds": THRESHOLDS}
    arguments.update(kwargs)
    return check_claims(payload, **arguments)


def test_good_attestation() -> None:
    result = check(claims(), kid="key-1")
    assert result == Attestation(
        verifier_id="demo-verifier",
        kid="key-1",
        jti=JTI,
        iat=NOW,
        exp=NOW + 300,
        method="id_document",
        age_over={13: True, 18: True, 21: False},
    )


def test_audience_list() -> None:
    assert check(claims(aud=["https://other.example", ISSUER])).verifier_id == "demo-verifier"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"name": "Alice"}, "attestation-personal-data"),
        ({"birthdate": "2000-01-01"}, "attestation-personal-data"),
        ({"sub": "123"}, "attestation-personal-data"),
        ({"iss": None}, "attestation-bad-claims"),
        ({"jti": None}, "attestation-bad-claims"),
        ({"iss": ""}, "attestation-bad-claims"),
        ({"iss": 7}, "attestation-bad-claims"),
        ({"iat": "1750000000"}, "attestation-bad-claims"),
        ({"exp": True}, "attestation-bad-claims"),
        ({"jti": "short"}, "attestation-bad-claims"),
        ({"jti": 12345678901234567890123}, "attestation-bad-claims"),
        ({"jti": "x" * 256}, "attestation-bad-claims"),
        ({"jti": "line\nbreak-in-the-jti-value"}, "attestation-bad-claims"),
        ({"method": "guess"}, "attestation-bad-claims"),
        ({"method": ["id_document"]}, "attestation-bad-claims"),
        ({"age_over": {}}, "attestation-bad-claims"),
        ({"age_over": [True]}, "attestation-bad-claims"),
        ({"age_over": {"17": True}}, "attestation-bad-claims"),
        ({"age_over": {"018": True}}, "attestation-bad-claims"),
        ({"age_over": {"+18": True}}, "attestation-bad-claims"),
        ({"age_over": {" 18": True}}, "attestation-bad-claims"),
        ({"age_over": {"1" * 5000: True}}, "attestation-bad-claims"),
        ({"age_over": {"18": 1}}, "attestation-bad-claims"),
        ({"age_over": {"18": "true"}}, "attestation-bad-claims"),
        ({"age_over": {"13": False, "18": True}}, "attestation-bad-claims"),
        ({"age_over": {"13": True, "16": False, "21": True}}, "attestation-bad-claims"),
        ({"aud": "https://other.example"}, "attestation-wrong-audience"),
        ({"aud": ["https://other.example"]}, "attestation-wrong-audience"),
        ({"aud": 5}, "attestation-bad-claims"),
        ({"aud": []}, "attestation-bad-claims"),
        ({"aud": [ISSUER, 5]}, "attestation-bad-claims"),
        ({"exp": NOW}, "attestation-bad-lifetime"),
        ({"exp": NOW - 1}, "attestation-bad-lifetime"),
        ({"exp": NOW + 601}, "attestation-bad-lifetime"),
        ({"iat": NOW - 1000, "exp": NOW - 700}, "attestation-expired"),
        ({"iat": NOW - 400, "exp": NOW - 60}, "attestation-expired"),
        ({"iat": NOW + 61, "exp": NOW + 100}, "attestation-not-yet-valid"),
    ],
)
def test_claim_refusals(changes: dict[str, Any], code: str) -> None:
    with pytest.raises(IssuanceError) as caught:
        check(claims(**changes))
    assert caught.value.code == code


def test_personal_data_is_not_echoed() -> None:
    with pytest.raises(IssuanceError) as caught:
        check(claims(family_name="Doe-Secret"))
    assert "Doe-Secret" not in str(caught.value)
    assert "family_name" not in caught.value.description


def test_lifetime_of_exactly_600_and_leeway_edges() -> None:
    assert check(claims(exp=NOW + 600)).exp == NOW + 600
    assert check(claims(iat=NOW - 350, exp=NOW - 59)).exp == NOW - 59
    assert check(claims(iat=NOW + 60, exp=NOW + 100)).iat == NOW + 60


def test_all_false_and_all_true_are_monotone() -> None:
    assert check(claims(age_over={"13": False, "21": False})).age_over == {13: False, 21: False}
    every = {str(t): True for t in THRESHOLDS}
    assert check(claims(age_over=every)).age_over == dict.fromkeys(THRESHOLDS, True)


def test_parse_attestation_accepts_pyjwt_tokens() -> None:
    token = pyjwt.encode(
        claims(),
        ISSUER_KEY,
        algorithm="ES256",
        headers={"typ": attestation.ATTESTATION_TYP, "kid": "k1"},
    )
    parsed = parse_attestation(token)
    assert parsed.header["kid"] == "k1"
    assert parsed.payload["jti"] == JTI
    ed_key = ed25519.Ed25519PrivateKey.generate()
    token = pyjwt.encode(
        claims(),
        ed_key,
        algorithm="EdDSA",
        headers={"typ": attestation.ATTESTATION_TYP, "kid": "k2"},
    )
    assert parse_attestation(token).header["alg"] == "EdDSA"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ({"alg": "ES256", "typ": "JWT", "kid": "k"}, "attestation-bad-type"),
        ({"alg": "ES256", "kid": "k"}, "attestation-bad-type"),
        ({"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k"}, "attestation-bad-type"),
        (
            {"alg": "none", "typ": attestation.ATTESTATION_TYP, "kid": "k"},
            "attestation-bad-algorithm",
        ),
        (
            {"alg": "HS256", "typ": attestation.ATTESTATION_TYP, "kid": "k"},
            "attestation-bad-algorithm",
        ),
        (
            {"alg": "RS256", "typ": attestation.ATTESTATION_TYP, "kid": "k"},
            "attestation-bad-algorithm",
        ),
        ({"alg": "ES256", "typ": attestation.ATTESTATION_TYP}, "attestation-malformed"),
        ({"alg": "ES256", "typ": attestation.ATTESTATION_TYP, "kid": 3}, "attestation-malformed"),
        (
            {"alg": "ES256", "typ": attestation.ATTESTATION_TYP, "kid": "k", "jku": "https://x"},
            "jws-forbidden-header",
        ),
        (
            {"alg": "ES256", "typ": attestation.ATTESTATION_TYP, "kid": "k", "crit": ["x"]},
            "jws-forbidden-header",
        ),
    ],
)
def test_header_refusals(header: dict[str, Any], code: str) -> None:
    with pytest.raises(IssuanceError) as caught:
        parse_attestation(jws(header, claims(), ISSUER_KEY))
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("x" * (attestation.MAX_ATTESTATION_SIZE + 1), "jws-too-large"),
        ("a.b", "jws-malformed"),
        (None, "jws-malformed"),
        (jws('{"alg":"ES256","alg":"none"}', {}, ISSUER_KEY), "json-duplicate-member"),
    ],
)
def test_jose_refusals_keep_their_codes(token: Any, code: str) -> None:
    with pytest.raises(IssuanceError) as caught:
        parse_attestation(token)
    assert caught.value.code == code
