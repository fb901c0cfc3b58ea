"""Attestation intake: every refusal code, each from a hostile attestation built here."""

from __future__ import annotations

import json

import jwt
import pytest
from issuer_vectors import (
    DROP,
    ED_KEY,
    ED_KID,
    ED_VERIFIER,
    ES_KEY,
    ES_KID,
    ES_VERIFIER,
    ISSUER,
    OUTSIDER_KEY,
    attest,
    b64,
    claims,
    es_header,
    raw_token,
    verifier_jwk,
)

from ageverify.config import DEFAULT_THRESHOLDS
from ageverify.errors import IssuanceError
from ageverify.formats import jose
from ageverify.issuer.intake import verify_attestation
from ageverify.issuer.verifiers import add_key, remove_key, suspend


def _verify(sessions, token, now):
    with sessions() as session:
        return verify_attestation(
            session, token, issuer=ISSUER, now=now, leeway=60, thresholds=DEFAULT_THRESHOLDS
        )


def _psychic(now):
    # CVE-2022-21449: r = s = 0 verified anything in some ECDSA implementations.
    token = attest(now)
    return token.rsplit(".", 1)[0] + "." + b64(bytes(64))


def _tampered(now):
    token = attest(now)
    header, _, signature = token.split(".")
    payload = b64(json.dumps(claims(now, age_over={"18": True, "21": True})).encode())
    return f"{header}.{payload}.{signature}"


def _truncated(now):
    signing_input, signature = attest(now).rsplit(".", 1)
    return signing_input + "." + b64(jose.b64url_decode(signature)[:48])


def _hs256_with_public_key(now):
    # Algorithm confusion: the public key PEM used as an HMAC secret.
    secret = jose.public_jwk(ES_KEY)["x"].encode()
    header = es_header(alg="HS256")
    return raw_token(header, claims(now)).rsplit(".", 1)[0] + "." + b64(secret)


def _duplicate_member_payload(now):
    body = json.dumps(claims(now))[:-1] + ', "iss": "es-verifier"}'
    return raw_token(es_header(), body.encode(), ES_KEY)


def _non_canonical_base64(now):
    token = attest(now)
    header, payload, signature = token.split(".")
    # The last character of a 64-byte signature (86 chars) carries 4 unused bits.
    last = signature[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twisted = alphabet[alphabet.index(last) | 1]
    return f"{header}.{payload}.{signature[:-1]}{twisted}"


# (name, token builder taking `now`, expected code)
ATTACKS = [
    ("not a token", lambda now: "not-a-token", "jws-malformed"),
    ("not a string", lambda now: {"iss": ES_VERIFIER}, "jws-malformed"),
    ("oversized", lambda now: "a" * 9000, "jws-too-large"),
    ("jwe five parts", lambda now: "a.b.c.d.e", "jws-malformed"),
    ("json serialization", lambda now: json.dumps({"payload": "x"}), "jws-malformed"),
    ("whitespace", lambda now: attest(now).replace(".", " .", 1), "jws-malformed"),
    (
        "alg none",
        lambda now: raw_token(es_header(alg="none"), claims(now)),
        "attestation-bad-algorithm",
    ),
    ("alg HS256 with public key", _hs256_with_public_key, "attestation-bad-algorithm"),
    (
        "alg RS256",
        lambda now: raw_token(es_header(alg="RS256"), claims(now), ES_KEY),
        "attestation-bad-algorithm",
    ),
    ("typ JWT", lambda now: attest(now, typ="JWT"), "attestation-bad-type"),
    ("typ missing", lambda now: attest(now, typ=None), "attestation-bad-type"),
    ("typ of a credential", lambda now: attest(now, typ="dc+sd-jwt"), "attestation-bad-type"),
    ("kid missing", lambda now: attest(now, kid=None), "attestation-malformed"),
    (
        "kid not a string",
        lambda now: raw_token(es_header(kid=7), claims(now), ES_KEY),
        "attestation-malformed",
    ),
    (
        "embedded jwk",
        lambda now: attest(now, extra_headers={"jwk": jose.public_jwk(OUTSIDER_KEY)}),
        "jws-forbidden-header",
    ),
    (
        "jku",
        lambda now: attest(now, extra_headers={"jku": "https://evil.test/jwks"}),
        "jws-forbidden-header",
    ),
    ("crit", lambda now: attest(now, extra_headers={"crit": ["exp"]}), "jws-forbidden-header"),
    ("x5c", lambda now: attest(now, extra_headers={"x5c": ["MIIB"]}), "jws-forbidden-header"),
    ("duplicate member in payload", _duplicate_member_payload, "json-duplicate-member"),
    (
        "duplicate member in header",
        lambda now: raw_token(
            b'{"alg":"ES256","typ":"age-attestation+jwt","kid":"es-key-1","kid":"x"}',
            claims(now),
            ES_KEY,
        ),
        "json-duplicate-member",
    ),
    (
        "payload not utf-8",
        lambda now: raw_token(es_header(), b'{"iss":"\xff"}', ES_KEY),
        "json-not-utf8",
    ),
    ("payload is an array", lambda now: raw_token(es_header(), b"[1]", ES_KEY), "jws-malformed"),
    ("non-canonical base64url", _non_canonical_base64, "base64url-invalid"),
    ("iss unknown", lambda now: attest(now, iss="nobody"), "attestation-unknown-verifier"),
    (
        "iss not a string",
        lambda now: raw_token(es_header(), claims(now, iss=["es-verifier"]), ES_KEY),
        "attestation-bad-claims",
    ),
    ("iss missing", lambda now: attest(now, iss=DROP), "attestation-bad-claims"),
    ("kid unknown", lambda now: attest(now, kid="es-key-2"), "attestation-unknown-key"),
    ("kid of another verifier", lambda now: attest(now, kid=ED_KID), "attestation-unknown-key"),
    (
        "EdDSA under an ES256 kid",
        lambda now: attest(now, key=ED_KEY, alg="EdDSA"),
        "attestation-bad-algorithm",
    ),
    (
        "ES256 under an EdDSA kid",
        lambda now: attest(now, kid=ED_KID, iss=ED_VERIFIER, method="eid"),
        "attestation-bad-algorithm",
    ),
    (
        "signed by an outsider",
        lambda now: attest(now, key=OUTSIDER_KEY),
        "attestation-bad-signature",
    ),
    ("tampered payload", _tampered, "attestation-bad-signature"),
    ("psychic signature", _psychic, "attestation-bad-signature"),
    ("truncated signature", _truncated, "attestation-bad-signature"),
    ("personal data: name", lambda now: attest(now, name="Jane Doe"), "attestation-personal-data"),
    (
        "personal data: birthdate",
        lambda now: attest(now, birthdate="2001-02-03"),
        "attestation-personal-data",
    ),
    ("personal data: sub", lambda now: attest(now, sub="user-42"), "attestation-personal-data"),
    ("jti missing", lambda now: attest(now, jti=DROP), "attestation-bad-claims"),
    ("jti too short", lambda now: attest(now, jti="abc"), "attestation-bad-claims"),
    (
        "jti a number",
        lambda now: attest(now, jti=12345678901234567890123),
        "attestation-bad-claims",
    ),
    ("exp as string", lambda now: attest(now, exp=str(int(now) + 300)), "attestation-bad-claims"),
    ("iat as boolean", lambda now: attest(now, iat=True), "attestation-bad-claims"),
    ("age_over value 1", lambda now: attest(now, age_over={"18": 1}), "attestation-bad-claims"),
    (
        "age_over unknown threshold",
        lambda now: attest(now, age_over={"17": True}),
        "attestation-bad-claims",
    ),
    (
        "age_over padded key",
        lambda now: attest(now, age_over={"018": True}),
        "attestation-bad-claims",
    ),
    ("age_over empty", lambda now: attest(now, age_over={}), "attestation-bad-claims"),
    ("age_over a list", lambda now: attest(now, age_over=[18]), "attestation-bad-claims"),
    (
        "age_over not monotone",
        lambda now: attest(now, age_over={"18": False, "21": True}),
        "attestation-bad-claims",
    ),
    ("method unknown", lambda now: attest(now, method="horoscope"), "attestation-bad-claims"),
    (
        "aud other issuer",
        lambda now: attest(now, aud="https://other.test"),
        "attestation-wrong-audience",
    ),
    (
        "aud list without us",
        lambda now: attest(now, aud=["https://other.test"]),
        "attestation-wrong-audience",
    ),
    (
        "aud prefix of us",
        lambda now: attest(now, aud=ISSUER + ".evil"),
        "attestation-wrong-audience",
    ),
    ("lifetime zero", lambda now: attest(now, exp=int(now)), "attestation-bad-lifetime"),
    ("lifetime too long", lambda now: attest(now, exp=int(now) + 601), "attestation-bad-lifetime"),
    ("expired", lambda now: attest(now - 1000, exp=int(now) - 400), "attestation-expired"),
    ("issued in the future", lambda now: attest(now + 3600), "attestation-not-yet-valid"),
    (
        "method not accredited",
        lambda now: attest(now, method="facial_estimation"),
        "attestation-method-not-allowed",
    ),
]


@pytest.mark.usefixtures("verifiers")
@pytest.mark.parametrize(
    ("token", "code"), [(a[1], a[2]) for a in ATTACKS], ids=[a[0] for a in ATTACKS]
)
def test_hostile_attestation_is_refused_with_its_code(sessions, clock, token, code):
    with pytest.raises(IssuanceError) as caught:
        _verify(sessions, token(clock.now), clock.now)
    assert caught.value.code == code


@pytest.mark.usefixtures("verifiers")
def test_good_es256_attestation(sessions, clock):
    attestation = _verify(sessions, attest(clock.now), clock.now)
    assert attestation.verifier_id == ES_VERIFIER
    assert attestation.kid == ES_KID
    assert attestation.method == "id_document"
    assert attestation.age_over == {13: True, 16: True, 18: True, 21: False}


@pytest.mark.usefixtures("verifiers")
def test_good_eddsa_attestation(sessions, clock):
    token = attest(clock.now, key=ED_KEY, alg="EdDSA", kid=ED_KID, iss=ED_VERIFIER, method="eid")
    assert _verify(sessions, token, clock.now).verifier_id == ED_VERIFIER


@pytest.mark.usefixtures("verifiers")
def test_audience_list_containing_the_issuer(sessions, clock):
    token = attest(clock.now, aud=["https://other.test", ISSUER])
    assert _verify(sessions, token, clock.now).verifier_id == ES_VERIFIER


@pytest.mark.usefixtures("verifiers")
def test_clock_skew_within_leeway_is_accepted(sessions, clock):
    assert _verify(sessions, attest(clock.now + 50), clock.now)
    assert _verify(sessions, attest(clock.now - 340), clock.now)


@pytest.mark.usefixtures("verifiers")
def test_suspended_verifier_is_refused(sessions, clock):
    with sessions.begin() as session:
        suspend(session, ES_VERIFIER)
    with pytest.raises(IssuanceError) as caught:
        _verify(sessions, attest(clock.now), clock.now)
    assert caught.value.code == "attestation-verifier-suspended"


@pytest.mark.usefixtures("verifiers")
def test_removed_key_is_refused_and_a_new_key_accepted(sessions, clock):
    with sessions.begin() as session:
        add_key(session, ES_VERIFIER, verifier_jwk(OUTSIDER_KEY, "es-key-2"))
        remove_key(session, ES_VERIFIER, ES_KID)
    with pytest.raises(IssuanceError) as caught:
        _verify(sessions, attest(clock.now), clock.now)
    assert caught.value.code == "attestation-unknown-key"
    token = attest(clock.now, key=OUTSIDER_KEY, kid="es-key-2")
    assert _verify(sessions, token, clock.now).kid == "es-key-2"


@pytest.mark.usefixtures("verifiers")
def test_pyjwt_agrees_our_good_attestation_is_good(sessions, clock):
    token = attest(clock.now)
    decoded = jwt.decode(
        token,
        ES_KEY.public_key(),
        algorithms=["ES256"],
        audience=ISSUER,
        options={"require": ["iss", "aud", "iat", "exp", "jti"]},
    )
    assert _verify(sessions, token, clock.now).jti == decoded["jti"]
