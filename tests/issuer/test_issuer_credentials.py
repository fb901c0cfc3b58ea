"""Holder keys in, credentials out: the bad-input table, implied facts, batch signing."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st
from issuer_vectors import ISSUER, holder_keys

from ageverify.errors import IssuanceError
from ageverify.formats import jose
from ageverify.issuer.credentials import entailed_facts, issue_batch, parse_holder_keys

GOOD = jose.public_jwk(ec.generate_private_key(ec.SECP256R1()))
OTHER = jose.public_jwk(ec.generate_private_key(ec.SECP256R1()))
P384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()


def _off_curve() -> dict[str, str]:
    y = bytearray(jose.b64url_decode(GOOD["y"]))
    y[-1] ^= 1
    return {**GOOD, "y": jose.b64url_encode(bytes(y))}


def _unused_bits_set() -> dict[str, str]:
    # The last of 43 characters carries two bits past the 32 bytes: set one.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(GOOD["x"][-1]) | 1]
    return {**GOOD, "x": GOOD["x"][:-1] + last}


BAD_HOLDER_KEYS = [
    ("not a list", {"keys": [GOOD]}, "holder-keys-invalid"),
    ("a string", "[]", "holder-keys-invalid"),
    ("null", None, "holder-keys-invalid"),
    ("empty list", [], "holder-keys-invalid"),
    ("over the batch limit", [GOOD] * 31, "holder-keys-invalid"),
    ("entry not an object", [GOOD, "jwk"], "holder-keys-invalid"),
    ("private member d", [{**GOOD, "d": "AAAA"}], "holder-key-private"),
    ("private key after a bad one", ["x", {**OTHER, "d": "AAAA"}], "holder-key-private"),
    ("symmetric key", [{"kty": "oct", "k": "c2VjcmV0"}], "holder-key-private"),
    ("Ed25519 key", [jose.public_jwk(ed25519.Ed25519PrivateKey.generate())], "holder-keys-invalid"),
    ("RSA key", [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}], "holder-keys-invalid"),
    (
        "P-384 key",
        [
            {
                "kty": "EC",
                "crv": "P-384",
                "x": jose.b64url_encode(P384.x.to_bytes(48, "big")),
                "y": jose.b64url_encode(P384.y.to_bytes(48, "big")),
            }
        ],
        "holder-keys-invalid",
    ),
    ("point off the curve", [_off_curve()], "holder-keys-invalid"),
    ("short coordinate", [{**GOOD, "x": GOOD["x"][:-2]}], "holder-keys-invalid"),
    ("padded coordinate", [{**GOOD, "x": GOOD["x"] + "="}], "holder-keys-invalid"),
    ("coordinate's unused bits set", [_unused_bits_set()], "holder-keys-invalid"),
    ("coordinate not ASCII", [{**GOOD, "x": GOOD["x"][:-1] + "\u00e9"}], "holder-keys-invalid"),
    ("coordinate a number", [{**GOOD, "x": 5}], "holder-keys-invalid"),
    ("missing y", [{k: v for k, v in GOOD.items() if k != "y"}], "holder-keys-invalid"),
    ("unexpected member", [{**GOOD, "x5c": ["MIIB"]}], "holder-keys-invalid"),
    ("alg other than ES256", [{**GOOD, "alg": "HS256"}], "holder-keys-invalid"),
    ("same key twice", [GOOD, OTHER, GOOD], "holder-keys-duplicate"),
    (
        "same key, different kid",
        [{**GOOD, "kid": "a"}, {**GOOD, "kid": "b"}],
        "holder-keys-duplicate",
    ),
]


@pytest.mark.parametrize(
    ("value", "code"), [(b[1], b[2]) for b in BAD_HOLDER_KEYS], ids=[b[0] for b in BAD_HOLDER_KEYS]
)
def test_bad_holder_keys(value, code):
    with pytest.raises(IssuanceError) as caught:
        parse_holder_keys(value, 30)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("value", "code"),
    [(b[1], b[2]) for b in BAD_HOLDER_KEYS if isinstance(b[1], list) and len(b[1]) == 1],
    ids=[b[0] for b in BAD_HOLDER_KEYS if isinstance(b[1], list) and len(b[1]) == 1],
)
def test_a_bad_key_among_good_ones_is_found_wherever_it_is(value, code):
    # Valid batches are checked all at once; a bad key anywhere must still fail it.
    _, good = holder_keys(4)
    for place in range(5):
        with pytest.raises(IssuanceError) as caught:
            parse_holder_keys(good[:place] + value + good[place:], 30)
        assert caught.value.code == code


def test_the_first_bad_key_decides_the_error():
    assert _code([GOOD, GOOD, _off_curve()]) == "holder-keys-duplicate"
    assert _code([GOOD, _off_curve(), GOOD]) == "holder-keys-invalid"


def _code(value: object) -> str:
    with pytest.raises(IssuanceError) as caught:
        parse_holder_keys(value, 30)
    return caught.value.code


def test_batch_limit_follows_the_setting():
    _, jwks = holder_keys(3)
    with pytest.raises(IssuanceError) as caught:
        parse_holder_keys(jwks, 2)
    assert caught.value.code == "holder-keys-invalid"


def test_good_holder_keys_come_back_minimal():
    with_extras = {**GOOD, "kid": "wallet-1", "alg": "ES256", "use": "sig"}
    assert parse_holder_keys([with_extras, OTHER], 30) == [GOOD, OTHER]


@pytest.mark.parametrize(
    ("attested", "expected"),
    [
        ({18: True}, {13: True, 15: True, 16: True, 18: True}),
        ({18: False}, {18: False, 21: False}),
        ({16: False, 13: True}, {13: True, 16: False, 18: False, 21: False}),
        ({13: True, 15: True, 16: False}, {13: True, 15: True, 16: False, 18: False, 21: False}),
        ({21: True}, {13: True, 15: True, 16: True, 18: True, 21: True}),
        ({13: False}, {13: False, 15: False, 16: False, 18: False, 21: False}),
        ({15: True, 18: False}, {13: True, 15: True, 16: None, 18: False, 21: False}),
    ],
)
def test_entailed_facts(attested, expected):
    expected = {k: v for k, v in expected.items() if v is not None}
    assert entailed_facts(attested, (13, 15, 16, 18, 21)) == expected


def _issue(count, facts, decoys=3):
    signing_key = ec.generate_private_key(ec.SECP256R1())
    kid = jose.thumbprint(jose.public_jwk(signing_key))
    keys, jwks = holder_keys(count)
    credentials = issue_batch(
        signing_key=signing_key,
        kid=kid,
        issuer=ISSUER,
        epoch_start=1_700_000_000,
        lifetime=7_776_000,
        holder_keys=parse_holder_keys(jwks, 30),
        age_over=facts,
        decoys=decoys,
    )
    return signing_key, kid, keys, jwks, credentials


def test_batch_binds_each_credential_to_its_key_and_decodes_with_pyjwt():
    signing_key, kid, _, jwks, credentials = _issue(3, {13: True, 18: True})
    for jwk, credential in zip(jwks, credentials, strict=True):
        issuer_jwt = credential.split("~")[0]
        header = jwt.get_unverified_header(issuer_jwt)
        assert header == {"alg": "ES256", "typ": "dc+sd-jwt", "kid": kid}
        payload = jwt.decode(
            issuer_jwt,
            signing_key.public_key(),
            algorithms=["ES256"],
            options={"verify_exp": False, "verify_iat": False},
        )
        assert payload["cnf"] == {"jwk": jwk}
        assert (payload["iat"], payload["exp"]) == (1_700_000_000, 1_707_776_000)
        assert len(payload["_sd"]) == 2 + 3
        assert credential.endswith("~") and len(credential.split("~")) == 4


def test_batch_of_thirty_is_thirty_distinct_credentials():
    *_, credentials = _issue(30, {18: True})
    assert len(set(credentials)) == 30
    digests = [tuple(c.split("~")[1:]) for c in credentials]
    assert len(set(digests)) == 30  # fresh salts per credential


def _jose_accepts(jwk) -> bool:
    try:
        jose.public_key_from_jwk(jwk, kinds=("EC-P-256",))
    except jose.JWKError:
        return False
    return True


def _we_accept(jwk) -> bool:
    try:
        parse_holder_keys([jwk], 30)
    except IssuanceError:
        return False
    return True


# Every single JWK of the bad-input table, plus two edge cases. Holder keys
# additionally refuse an alg other than ES256, which jose leaves to callers.
SINGLE_JWKS = [
    entry
    for _, value, _ in BAD_HOLDER_KEYS
    if isinstance(value, list)
    for entry in value
    if not (isinstance(entry, dict) and entry.get("alg", "ES256") != "ES256")
] + [{**GOOD, "kid": "k", "use": "sig", "key_ops": ["verify"]}, {**GOOD, "crv": "P-384"}]


@pytest.mark.parametrize("jwk", SINGLE_JWKS)
def test_holder_key_check_agrees_with_jose(jwk):
    assert _we_accept(jwk) == _jose_accepts(jwk)


@settings(max_examples=300, deadline=None)
@given(x=st.binary(min_size=32, max_size=32), y=st.binary(min_size=32, max_size=32))
def test_holder_key_check_agrees_with_jose_on_random_points(x, y):
    jwk = {"kty": "EC", "crv": "P-256", "x": jose.b64url_encode(x), "y": jose.b64url_encode(y)}
    assert _we_accept(jwk) == _jose_accepts(jwk)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(min_value=1, max_value=2**255))
def test_holder_key_check_accepts_real_keys_and_their_negation(seed):
    numbers = ec.derive_private_key(seed, ec.SECP256R1()).public_key().public_numbers()
    p = 2**256 - 2**224 + 2**192 + 2**96 - 1
    for y in (numbers.y, p - numbers.y):  # (x, -y) is also on the curve
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": jose.b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": jose.b64url_encode(y.to_bytes(32, "big")),
        }
        assert _we_accept(jwk) and _jose_accepts(jwk)


def test_coordinate_equal_to_the_field_prime_is_refused():
    p = 2**256 - 2**224 + 2**192 + 2**96 - 1
    jwk = {**GOOD, "x": jose.b64url_encode(p.to_bytes(32, "big"))}
    assert not _we_accept(jwk) and not _jose_accepts(jwk)
