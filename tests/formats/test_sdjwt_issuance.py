"""Issuing credentials, disclosures, key binding and age requirements."""

from __future__ import annotations

import hashlib
import json
import time

import jwt as pyjwt
import pytest
from format_vectors import (
    AUDIENCE,
    HOLDER_JWK,
    HOLDER_KEY,
    ISSUER,
    ISSUER_KEY,
    KID,
    NONCE,
    NOW,
    b64,
)
from hypothesis import given
from hypothesis import strategies as st

from ageverify.errors import VerificationError
from ageverify.formats import jose, sdjwt

AGE_OVER = {13: True, 15: True, 16: True, 18: False, 21: False}


def issue(**changes: object) -> str:
    arguments: dict = {
        "signing_key": ISSUER_KEY,
        "kid": KID,
        "issuer": ISSUER,
        "iat": NOW - 60,
        "exp": NOW + 86400,
        "holder_jwk": HOLDER_JWK,
        "age_over": AGE_OVER,
        "decoys": 3,
    }
    arguments.update(changes)
    return sdjwt.issue_credential(**arguments)


def decode_part(part: str) -> object:
    return json.loads(jose.b64url_decode(part))


def test_credential_shape() -> None:
    credential = issue()
    assert credential.endswith("~")
    issuer_jwt, *disclosures, last = credential.split("~")
    assert last == ""
    assert len(disclosures) == len(AGE_OVER)
    header_part, payload_part, _ = issuer_jwt.split(".")
    assert decode_part(header_part) == {"alg": "ES256", "typ": "dc+sd-jwt", "kid": KID}
    payload = decode_part(payload_part)
    assert isinstance(payload, dict)
    assert set(payload) == {"iss", "iat", "exp", "vct", "cnf", "_sd", "_sd_alg"}
    assert payload["cnf"] == {"jwk": HOLDER_JWK}
    assert payload["vct"] == sdjwt.VCT
    assert payload["_sd_alg"] == "sha-256"
    assert len(payload["_sd"]) == len(AGE_OVER) + 3
    assert len(set(payload["_sd"])) == len(payload["_sd"])
    digests = {b64(hashlib.sha256(d.encode()).digest()) for d in disclosures}
    assert digests <= set(payload["_sd"])
    facts = {}
    for disclosure in disclosures:
        salt, name, value = decode_part(disclosure)  # type: ignore[misc]
        assert len(jose.b64url_decode(salt)) == 16
        facts[name] = value
    assert facts == {sdjwt.age_claim(t): v for t, v in AGE_OVER.items()}


def test_credential_decodes_with_pyjwt() -> None:
    now = int(time.time())
    issuer_jwt = issue(iat=now, exp=now + 3600).split("~")[0]
    claims = pyjwt.decode(
        issuer_jwt, ISSUER_KEY.public_key(), algorithms=["ES256"], options={"verify_aud": False}
    )
    assert claims["iss"] == ISSUER
    assert pyjwt.get_unverified_header(issuer_jwt)["typ"] == "dc+sd-jwt"


def test_every_credential_differs_and_digests_are_shuffled() -> None:
    credentials = {issue() for _ in range(20)}
    assert len(credentials) == 20
    # The digest of age_over_13 is not always in the same place.
    positions = set()
    for credential in credentials:
        issuer_jwt, first, *_ = credential.split("~")
        sd = decode_part(issuer_jwt.split(".")[1])["_sd"]  # type: ignore[index]
        positions.add(sd.index(b64(hashlib.sha256(first.encode()).digest())))
    assert len(positions) > 1


def test_fixed_salts_give_the_same_disclosures_as_make_disclosure() -> None:
    salts = bytes(range(16 * len(AGE_OVER)))
    disclosures = issue(salts=salts).split("~")[1:-1]
    for index, (threshold, value) in enumerate(sorted(AGE_OVER.items())):
        expected, _ = sdjwt.make_disclosure(
            salts[16 * index : 16 * (index + 1)], sdjwt.age_claim(threshold), value
        )
        assert disclosures[index] == expected


def test_issue_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        issue(holder_jwk={**HOLDER_JWK, "d": "AAAA"})
    with pytest.raises(ValueError):
        issue(salts=b"short")
    with pytest.raises(ValueError):
        issue(age_over={18: 1})
    with pytest.raises(ValueError):
        issue(decoys=-1)


def test_issued_credential_verifies() -> None:
    credential = issue()
    issuer_jwt, *disclosures, _ = credential.split("~")
    chosen = [d for d in disclosures if decode_part(d)[1] in ("age_over_13", "age_over_18")]  # type: ignore[index]
    sd_jwt = issuer_jwt + "~" + "".join(d + "~" for d in chosen)
    kb = sdjwt.make_key_binding(
        holder_key=HOLDER_KEY,
        sd_jwt_with_disclosures=sd_jwt,
        audience=AUDIENCE,
        nonce=NONCE,
        iat=NOW,
    )
    facts = sdjwt.verify_presentation(
        sd_jwt + kb,
        keys={KID: ISSUER_KEY.public_key()}.get,
        issuer=ISSUER,
        audience=AUDIENCE,
        nonce=NONCE,
        now=NOW,
    )
    assert facts == {"age_over_13": True, "age_over_18": False}


def test_key_binding_jwt_shape() -> None:
    sd_jwt = issue()
    kb = sdjwt.make_key_binding(
        holder_key=HOLDER_KEY,
        sd_jwt_with_disclosures=sd_jwt,
        audience=AUDIENCE,
        nonce=NONCE,
        iat=NOW,
    )
    header = pyjwt.get_unverified_header(kb)
    assert header == {"alg": "ES256", "typ": "kb+jwt"}
    claims = pyjwt.decode(kb, HOLDER_KEY.public_key(), algorithms=["ES256"], audience=AUDIENCE)
    assert claims == {
        "iat": NOW,
        "aud": AUDIENCE,
        "nonce": NONCE,
        "sd_hash": b64(hashlib.sha256(sd_jwt.encode()).digest()),
    }
    with pytest.raises(ValueError):
        sdjwt.make_key_binding(
            holder_key=HOLDER_KEY,
            sd_jwt_with_disclosures=sd_jwt[:-1],
            audience=AUDIENCE,
            nonce=NONCE,
            iat=NOW,
        )


def test_parse_presentation() -> None:
    credential = issue()
    parsed = sdjwt.parse_presentation(credential)
    assert parsed.kb_jwt is None
    assert parsed.issuer_jwt == credential.split("~")[0]
    assert len(parsed.disclosures) == 5
    assert parsed.sd_hash_input == credential.encode()
    assert parsed.credential.header["kid"] == KID
    with_kb = sdjwt.parse_presentation(credential + "a.b.c")
    assert with_kb.kb_jwt == "a.b.c"
    assert with_kb.sd_hash_input == credential.encode()


@given(
    st.binary(min_size=16, max_size=16),
    st.text(min_size=1),
    st.booleans() | st.integers() | st.text(),
)
def test_disclosure_round_trip(salt: bytes, name: str, value: object) -> None:
    disclosure, digest = sdjwt.make_disclosure(salt, name, value)
    assert json.loads(jose.b64url_decode(disclosure)) == [jose.b64url_encode(salt), name, value]
    assert digest == b64(hashlib.sha256(disclosure.encode("ascii")).digest())


def test_rfc9901_disclosure_digest_example() -> None:
    # RFC 9901 section 4.2.1 / 4.2.3: the "given_name" example disclosure and its digest.
    disclosure = "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"
    assert json.loads(jose.b64url_decode(disclosure)) == [
        "_26bc4LT-ac6q2KI6cBW5es",
        "family_name",
        "Möbius",
    ]
    assert (
        b64(hashlib.sha256(disclosure.encode()).digest())
        == "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"
    )


@pytest.mark.parametrize(
    ("threshold", "name"), [(18, "age_over_18"), (0, "age_over_0"), (999, "age_over_999")]
)
def test_age_claim(threshold: int, name: str) -> None:
    assert sdjwt.age_claim(threshold) == name
    assert sdjwt.parse_age_claim(name) == threshold


@pytest.mark.parametrize(
    "name",
    [
        "age_over_018",
        "age_over_",
        "age_over_1000",
        "age_over_-1",
        "age_over_1 ",
        "age_under_18",
        "age_over_١٨",
        18,
    ],
)
def test_parse_age_claim_refuses(name: object) -> None:
    assert sdjwt.parse_age_claim(name) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, -1, 1000, 18.0, "18"])
def test_age_claim_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        sdjwt.age_claim(value)  # type: ignore[arg-type]


THRESHOLDS = (13, 15, 16, 18, 21)


@pytest.mark.parametrize(
    ("min_age", "max_age", "claims"),
    [
        (18, None, {"age_over_18": True}),
        (None, 17, {"age_over_18": False}),
        (13, 17, {"age_over_13": True, "age_over_18": False}),
        (16, 20, {"age_over_16": True, "age_over_21": False}),
        (15, 15, {"age_over_15": True, "age_over_16": False}),
    ],
)
def test_requirement_claims(min_age: int | None, max_age: int | None, claims: dict) -> None:
    assert sdjwt.requirement_claims(min_age, max_age, THRESHOLDS) == claims


@pytest.mark.parametrize(
    ("min_age", "max_age"),
    [
        (None, None),
        (17, None),
        (None, 18),
        (18, 13),
        (True, None),
        (-1, None),
        ("18", None),
        (18.0, None),
    ],
)
def test_requirement_invalid(min_age: object, max_age: object) -> None:
    with pytest.raises(VerificationError) as caught:
        sdjwt.requirement_claims(min_age, max_age, THRESHOLDS)  # type: ignore[arg-type]
    assert caught.value.code == "requirement-invalid"


def test_requirement_without_thresholds_accepts_any_age() -> None:
    assert sdjwt.requirement_claims(17, None, None) == {"age_over_17": True}


@pytest.mark.parametrize(
    ("facts", "min_age", "max_age", "code"),
    [
        ({"age_over_18": True}, 18, None, None),
        ({"age_over_18": False}, 18, None, "requirement-not-met"),
        ({}, 18, None, "requirement-not-disclosed"),
        ({"age_over_13": True}, 18, None, "requirement-not-disclosed"),
        ({"age_over_13": True, "age_over_18": False}, 13, 17, None),
        ({"age_over_13": True, "age_over_18": True}, 13, 17, "requirement-not-met"),
        ({"age_over_13": False, "age_over_18": False}, 13, 17, "requirement-not-met"),
        ({"age_over_13": True}, 13, 17, "requirement-not-disclosed"),
        ({"age_over_18": 1}, 18, None, "requirement-not-met"),
    ],
)
def test_check_requirement(
    facts: dict, min_age: int | None, max_age: int | None, code: str | None
) -> None:
    if code is None:
        sdjwt.check_requirement(facts, min_age, max_age, THRESHOLDS)
        return
    with pytest.raises(VerificationError) as caught:
        sdjwt.check_requirement(facts, min_age, max_age, THRESHOLDS)
    assert caught.value.code == code


def test_assembled_payload_is_what_the_json_encoder_writes() -> None:
    from ageverify.formats import strictjson

    for holder_jwk in (HOLDER_JWK, {**HOLDER_JWK, "kid": 'k\u00e9"y'}):
        for issuer in (ISSUER, 'https://issuer.example/"quoted"/\u00e9'):
            issuer_jwt = issue(holder_jwk=holder_jwk, issuer=issuer, iat=NOW + 0.5).split("~")[0]
            header_part, payload_part, _ = issuer_jwt.split(".")
            payload = jose.b64url_decode(payload_part)
            assert payload == strictjson.dumps(json.loads(payload))
            assert json.loads(payload)["iss"] == issuer
            assert json.loads(payload)["cnf"]["jwk"] == holder_jwk
            assert jose.b64url_decode(header_part) == strictjson.dumps(
                {"alg": "ES256", "typ": "dc+sd-jwt", "kid": KID}
            )


def test_sd_array_hides_the_claim_order() -> None:
    payload = decode_part(issue().split("~")[0].split(".")[1])
    assert payload["_sd"] == sorted(payload["_sd"])  # type: ignore[index]


def test_issue_without_claims_or_decoys() -> None:
    credential = issue(age_over={}, decoys=0)
    assert credential.count("~") == 1 and credential.endswith("~")
    assert decode_part(credential.split("~")[0].split(".")[1])["_sd"] == []  # type: ignore[index]


def _holder_keys(count: int) -> list:
    from cryptography.hazmat.primitives.asymmetric import ec

    return [ec.generate_private_key(ec.SECP256R1()) for _ in range(count)]


def issue_batch(holder_keys: list, **changes: object) -> list[str]:
    arguments: dict = {
        "signing_key": ISSUER_KEY,
        "kid": KID,
        "issuer": ISSUER,
        "iat": NOW - 60,
        "exp": NOW + 86400,
        "holder_jwks": [jose.public_jwk(key) for key in holder_keys],
        "age_over": AGE_OVER,
        "decoys": 3,
    }
    arguments.update(changes)
    return sdjwt.issue_credential_batch(**arguments)


def test_batch_credentials_share_no_salt_digest_or_decoy() -> None:
    # Shared randomness would let colluding platforms link two credentials of one person.
    keys = _holder_keys(30)
    credentials = issue_batch(keys)
    assert len(credentials) == 30
    salts, sd_entries, disclosures = [], [], []
    for key, credential in zip(keys, credentials, strict=True):
        issuer_jwt, *own, _ = credential.split("~")
        payload = decode_part(issuer_jwt.split(".")[1])
        assert payload["cnf"] == {"jwk": jose.public_jwk(key)}  # type: ignore[index]
        assert payload["_sd"] == sorted(payload["_sd"])  # type: ignore[index]
        sd_entries += payload["_sd"]  # type: ignore[index]
        disclosures += own
        salts += [decode_part(d)[0] for d in own]  # type: ignore[index]
    assert len(set(salts)) == len(salts) == 30 * len(AGE_OVER)
    assert len(set(disclosures)) == len(disclosures)
    assert len(set(sd_entries)) == len(sd_entries) == 30 * (len(AGE_OVER) + 3)


def test_every_byte_of_salts_and_decoys_is_random() -> None:
    # Salts and decoys are laid out with padding bytes between them before
    # encoding: a byte position that never varies would be padding taken for
    # randomness. 120 salts and 90 decoys: a fixed position fails by chance
    # with probability below 256**-89.
    credentials = issue_batch(_holder_keys(30))
    salts, sd_entries = [], []
    for credential in credentials:
        issuer_jwt, *own, _ = credential.split("~")
        salts += [jose.b64url_decode(decode_part(d)[0]) for d in own]  # type: ignore[index]
        sd_entries += [jose.b64url_decode(e) for e in decode_part(issuer_jwt.split(".")[1])["_sd"]]  # type: ignore[index]
    assert {len(salt) for salt in salts} == {16} and {len(e) for e in sd_entries} == {32}
    for values in (salts, sd_entries):
        for position in range(len(values[0])):
            assert len({value[position] for value in values}) > 1


def test_every_credential_of_a_batch_verifies_with_its_own_holder_key() -> None:
    keys = _holder_keys(3)
    for key, credential in zip(keys, issue_batch(keys), strict=True):
        issuer_jwt, *disclosures, _ = credential.split("~")
        chosen = [d for d in disclosures if decode_part(d)[1] == "age_over_16"]  # type: ignore[index]
        sd_jwt = issuer_jwt + "~" + "".join(d + "~" for d in chosen)
        kb = sdjwt.make_key_binding(
            holder_key=key, sd_jwt_with_disclosures=sd_jwt, audience=AUDIENCE, nonce=NONCE, iat=NOW
        )
        facts = sdjwt.verify_presentation(
            sd_jwt + kb,
            keys={KID: ISSUER_KEY.public_key()}.get,
            issuer=ISSUER,
            audience=AUDIENCE,
            nonce=NONCE,
            now=NOW,
        )
        assert facts == {"age_over_16": True}


def test_batch_with_fixed_salts_matches_make_disclosure_per_credential() -> None:
    salts = bytes(range(256))[: 16 * len(AGE_OVER) * 2]
    credentials = issue_batch(_holder_keys(2), salts=salts)
    claims = sorted(AGE_OVER.items())
    for holder, credential in enumerate(credentials):
        for index, disclosure in enumerate(credential.split("~")[1:-1]):
            start = 16 * (holder * len(claims) + index)
            threshold, value = claims[index]
            expected, _ = sdjwt.make_disclosure(
                salts[start : start + 16], sdjwt.age_claim(threshold), value
            )
            assert disclosure == expected


def test_batch_refuses_bad_arguments() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    keys = _holder_keys(2)
    assert issue_batch([]) == []
    with pytest.raises(ValueError):
        issue_batch(keys, salts=bytes(16 * len(AGE_OVER)))  # salts for one holder, not two
    with pytest.raises(ValueError):
        issue_batch(keys, signing_key=ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(ValueError):
        issue_batch(keys, holder_jwks=[HOLDER_JWK, {**HOLDER_JWK, "d": "AAAA"}])
