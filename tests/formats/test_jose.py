"""Strict compact JWS, base64url and JWK handling."""

from __future__ import annotations

import base64
import json

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from format_vectors import ISSUER_KEY, OTHER_KEY, b64, es256, jwk_of, jws
from hypothesis import given
from hypothesis import strategies as st

from ageverify.errors import AgeVerifyError
from ageverify.formats import jose

# RFC 7638 section 3.1: the example RSA key and its thumbprint.
RFC7638_JWK = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
        "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
        "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def code_of(call, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(AgeVerifyError) as caught:
        call(*args, **kwargs)
    return caught.value.code


# --- base64url ---------------------------------------------------------------


@given(st.binary(max_size=200))
def test_b64url_round_trip(data: bytes) -> None:
    text = jose.b64url_encode(data)
    assert "=" not in text
    assert text == base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    assert jose.b64url_decode(text) == data


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=1, max_value=15))
def test_every_non_canonical_spelling_is_refused(data: bytes, bits: int) -> None:
    text = jose.b64url_encode(data)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {0: 0, 2: 0b1111, 3: 0b11}[len(text) % 4]
    if not unused or not bits & unused:
        return
    spelled = text[:-1] + alphabet[alphabet.index(text[-1]) | (bits & unused)]
    assert code_of(jose.b64url_decode, spelled) == "base64url-invalid"


_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@given(
    st.text(_B64URL, max_size=40),
    st.lists(
        st.tuples(st.integers(min_value=0), st.sampled_from("+/=*. \n\t\x00~!\x7f")),
        max_size=3,
    ),
)
def test_b64url_decode_accepts_exactly_the_canonical_texts(
    text: str, strangers: list[tuple[int, str]]
) -> None:
    # Strangers put anywhere: the decoder skips them, and must still refuse.
    for position, character in strangers:
        at = position % (len(text) + 1)
        text = text[:at] + character + text[at:]
    try:
        decoded = jose.b64url_decode(text)
    except AgeVerifyError as error:
        assert error.code == "base64url-invalid"
        canonical = not strangers and len(text) % 4 != 1
        if canonical:
            # Refused without a stranger only for unused bits set.
            reference = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            assert jose.b64url_encode(reference) != text
        return
    assert not strangers
    assert jose.b64url_encode(decoded) == text


@pytest.mark.parametrize(
    "text", ["AA==", "AA=", "A", "AAAAA", "a+b/", "ab cd", "ab\n", "é", "AB", "AAB", "A\x00"]
)
def test_b64url_refusals(text: str) -> None:
    assert code_of(jose.b64url_decode, text) == "base64url-invalid"


def test_b64url_decode_refuses_bytes() -> None:
    assert code_of(jose.b64url_decode, b"AAAA") == "base64url-invalid"


# --- compact JWS ----------------------------------------------------------------


def test_parse_compact_splits_a_token() -> None:
    token = jws({"alg": "ES256", "kid": "k"}, {"a": 1}, ISSUER_KEY)
    parsed = jose.parse_compact(token, max_size=1000)
    assert parsed.header == {"alg": "ES256", "kid": "k"}
    assert parsed.payload == {"a": 1}
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode()
    assert len(parsed.signature) == 64
    assert jose.verify_signature(parsed, ISSUER_KEY.public_key())


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("a.b", "jws-malformed"),
        ("a.b.c.d.e", "jws-malformed"),
        ('{"payload":"e30","signatures":[]}', "jws-malformed"),
        ("e30.e30.", "jws-malformed"),  # no alg
        (" eyJhbGciOiJFUzI1NiJ9.e30.", "jws-malformed"),
        ("eyJhbGciOiJFUzI1NiJ9.e30.\t", "jws-malformed"),
        ("eyJhbGciOiJFUzI1NiJ9.W10.", "jws-malformed"),  # payload []
        ("W10.e30.", "jws-malformed"),  # header []
        ("eyJhbGciOiJFUzI1NiJ9.e30.é", "jws-malformed"),
        ("eyJhbGciOiJFUzI1NiJ9.e30.a+b", "base64url-invalid"),
        ("eyJhbGciOiJFUzI1NiJ9.e30=.", "base64url-invalid"),
        (b64(b'{"alg":"ES256","alg":"none"}') + ".e30.", "json-duplicate-member"),
        (b64(b'{"alg":1}') + ".e30.", "jws-malformed"),
        ("eyJhbGciOiJFUzI1NiJ9." + b64(b"\xff") + ".", "json-not-utf8"),
        ("eyJhbGciOiJFUzI1NiJ9." + b64(b"{") + ".", "json-invalid"),
    ],
)
def test_parse_compact_refusals(token: str, code: str) -> None:
    assert code_of(jose.parse_compact, token, max_size=1000) == code


def test_parse_compact_refuses_non_strings() -> None:
    assert code_of(jose.parse_compact, b"a.b.c", max_size=1000) == "jws-malformed"


def test_size_is_checked_first() -> None:
    assert code_of(jose.parse_compact, "é" * 2000, max_size=1000) == "jws-too-large"


@pytest.mark.parametrize("member", sorted(jose.FORBIDDEN_HEADER_MEMBERS))
def test_forbidden_header_members(member: str) -> None:
    token = jws({"alg": "ES256", member: "x"}, {}, ISSUER_KEY)
    assert code_of(jose.parse_compact, token, max_size=1000) == "jws-forbidden-header"


def test_header_cache_hands_out_copies() -> None:
    token = jws({"alg": "ES256", "typ": "t"}, {}, ISSUER_KEY)
    first = jose.parse_compact(token, max_size=1000)
    first.header["alg"] = "none"
    assert jose.parse_compact(token, max_size=1000).header["alg"] == "ES256"


# --- signatures -----------------------------------------------------------------


def _parsed(header: dict, key: ec.EllipticCurvePrivateKey = ISSUER_KEY) -> jose.CompactJWS:
    return jose.parse_compact(jws(header, {"a": 1}, key), max_size=1000)


def test_es256_signature_verifies_only_with_its_key() -> None:
    parsed = _parsed({"alg": "ES256"})
    assert jose.verify_signature(parsed, ISSUER_KEY.public_key())
    assert not jose.verify_signature(parsed, OTHER_KEY.public_key())


def test_alg_must_match_key_type() -> None:
    ed_key = ed25519.Ed25519PrivateKey.generate()
    assert not jose.verify_signature(_parsed({"alg": "ES256"}), ed_key.public_key())
    token = jose.sign(ed_key, {"alg": "EdDSA"}, {"a": 1})
    parsed = jose.parse_compact(token, max_size=1000)
    assert jose.verify_signature(parsed, ed_key.public_key())
    assert not jose.verify_signature(parsed, ISSUER_KEY.public_key())


@pytest.mark.parametrize("alg", ["none", "HS256", "ES384", "RS256", "PS256", "es256"])
def test_other_algorithms_never_verify(alg: str) -> None:
    assert not jose.verify_signature(_parsed({"alg": alg}), ISSUER_KEY.public_key())


def test_p384_key_is_refused_for_es256() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    assert not jose.verify_signature(_parsed({"alg": "ES256"}), key.public_key())


@pytest.mark.parametrize(
    "signature",
    [
        bytes(64),  # r = s = 0: the "psychic signature"
        bytes(32) + b"\x01" * 32,
        b"\x01" * 32 + bytes(32),
        bytes.fromhex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551")
        * 2,  # r = s = n
        b"\xff" * 64,
        b"\x01" * 63,
        b"\x01" * 65,
        b"",
    ],
)
def test_malformed_es256_signatures_are_refused(signature: bytes) -> None:
    parsed = _parsed({"alg": "ES256"})
    forged = jose.CompactJWS(parsed.header, parsed.payload, parsed.signing_input, signature)
    assert not jose.verify_signature(forged, ISSUER_KEY.public_key())


def test_der_signature_is_refused() -> None:
    parsed = _parsed({"alg": "ES256"})
    from cryptography.hazmat.primitives import hashes

    der = ISSUER_KEY.sign(parsed.signing_input, ec.ECDSA(hashes.SHA256()))
    forged = jose.CompactJWS(parsed.header, parsed.payload, parsed.signing_input, der)
    assert not jose.verify_signature(forged, ISSUER_KEY.public_key())


def test_sign_decodes_with_pyjwt() -> None:
    token = jose.sign(ISSUER_KEY, {"alg": "ES256", "typ": "JWT", "kid": "k"}, {"sub": "x", "n": 1})
    assert pyjwt.decode(token, ISSUER_KEY.public_key(), algorithms=["ES256"]) == {
        "sub": "x",
        "n": 1,
    }
    assert pyjwt.get_unverified_header(token) == {"alg": "ES256", "typ": "JWT", "kid": "k"}


def test_pyjwt_token_verifies_here() -> None:
    token = pyjwt.encode({"a": 1}, ISSUER_KEY, algorithm="ES256", headers={"kid": "k"})
    assert jose.verify_signature(jose.parse_compact(token, max_size=1000), ISSUER_KEY.public_key())


def test_sign_refuses_a_header_alg_that_does_not_match_the_key() -> None:
    with pytest.raises(ValueError):
        jose.sign(ISSUER_KEY, {"alg": "EdDSA"}, {})
    with pytest.raises(ValueError):
        jose.sign(ISSUER_KEY, {"typ": "JWT"}, {})


def test_sign_input_gives_raw_signature() -> None:
    assert len(jose.sign_input(ISSUER_KEY, b"abc")) == 64
    assert es256(ISSUER_KEY, b"abc") != jose.sign_input(ISSUER_KEY, b"abc")  # randomised


# --- JWK ------------------------------------------------------------------------


def test_rfc7638_thumbprint_example() -> None:
    assert jose.thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT


def test_thumbprint_ignores_optional_members_and_order() -> None:
    jwk = jwk_of(ISSUER_KEY)
    shuffled = {"y": jwk["y"], "kid": "k", "use": "sig", "x": jwk["x"], "crv": "P-256", "kty": "EC"}
    assert jose.thumbprint(shuffled) == jose.thumbprint(jwk)


def test_thumbprint_needs_the_required_members() -> None:
    with pytest.raises(jose.JWKError):
        jose.thumbprint({"kty": "EC", "crv": "P-256", "x": "AA"})
    with pytest.raises(jose.JWKError):
        jose.thumbprint({"kty": "oct", "k": "AA"})


def test_public_jwk_round_trip() -> None:
    ec_key = ISSUER_KEY.public_key()
    assert jose.public_jwk(ec_key) == jwk_of(ISSUER_KEY)
    assert jose.public_jwk(ISSUER_KEY) == jwk_of(ISSUER_KEY)
    rebuilt = jose.public_key_from_jwk(jose.public_jwk(ec_key))
    assert rebuilt.public_numbers() == ec_key.public_numbers()  # type: ignore[union-attr]
    ed_key = ed25519.Ed25519PrivateKey.generate().public_key()
    ed_jwk = jose.public_jwk(ed_key)
    assert set(ed_jwk) == {"kty", "crv", "x"}
    assert jose.public_key_from_jwk(ed_jwk) == ed_key


def _bad_jwk(**changes: object) -> dict:
    jwk: dict = {**jwk_of(ISSUER_KEY), **changes}
    return {k: v for k, v in jwk.items() if v is not None}


@pytest.mark.parametrize(
    ("jwk", "private"),
    [
        (_bad_jwk(d=b64(bytes(32))), True),
        (_bad_jwk(k="AAAA"), True),
        (_bad_jwk(x=None), False),
        (_bad_jwk(x=b64(bytes(31))), False),
        (_bad_jwk(x=b64(bytes(33))), False),
        (_bad_jwk(y=b64(bytes(32))), False),  # off the curve
        (_bad_jwk(x=jwk_of(ISSUER_KEY)["x"] + "="), False),
        (_bad_jwk(crv="P-384"), False),
        (_bad_jwk(kty="RSA"), False),
        (_bad_jwk(x5c=["MIIB"]), False),
        (_bad_jwk(ext=True), False),
        ({"kty": "OKP", "crv": "X25519", "x": b64(bytes(32))}, False),
        ({"kty": "OKP", "crv": "Ed25519", "x": b64(bytes(31))}, False),
        ([1, 2], False),
    ],
)
def test_public_key_from_jwk_refusals(jwk: dict, private: bool) -> None:
    with pytest.raises(jose.JWKError) as caught:
        jose.public_key_from_jwk(jwk)
    assert caught.value.private is private


def test_jwk_kinds_restrict_key_types() -> None:
    ed_jwk = jose.public_jwk(ed25519.Ed25519PrivateKey.generate().public_key())
    with pytest.raises(jose.JWKError):
        jose.public_key_from_jwk(ed_jwk, kinds=("EC-P-256",))
    with pytest.raises(jose.JWKError):
        jose.public_key_from_jwk(jwk_of(ISSUER_KEY), kinds=("OKP-Ed25519",))


def test_jwk_with_allowed_extra_members() -> None:
    jwk = {**jwk_of(ISSUER_KEY), "kid": "k", "alg": "ES256", "use": "sig", "key_ops": ["verify"]}
    assert jose.public_key_from_jwk(jwk) is not None


def test_jwk_error_is_a_value_error() -> None:
    assert issubclass(jose.JWKError, ValueError)
    assert json.dumps(sorted(jose.PRIVATE_JWK_MEMBERS)) == json.dumps(
        sorted({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
    )


def test_es256_signer_gives_raw_signatures_that_verify() -> None:
    sign = jose.es256_signer(ISSUER_KEY)
    signature = sign(b"abc")
    assert len(signature) == 64
    assert jose.verify_parts("ES256", b"abc", signature, ISSUER_KEY.public_key())
    assert not jose.verify_parts("ES256", b"abd", signature, ISSUER_KEY.public_key())


@pytest.mark.parametrize(
    "key",
    [ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP384R1())],
    ids=["ed25519", "p384"],
)
def test_es256_signer_refuses_other_keys(key: object) -> None:
    with pytest.raises(ValueError):
        jose.es256_signer(key)  # type: ignore[arg-type]
