"""verify_presentation: a good presentation, then one malicious input per row and its exact code."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from format_vectors import (
    AUDIENCE,
    DISCLOSURES,
    HOLDER_JWK,
    HOLDER_KEY,
    ISSUER,
    ISSUER_KEY,
    KID,
    NONCE,
    NOW,
    OTHER_KEY,
    b64,
    credential_header,
    credential_payload,
    digest,
    disclosure,
    issuer_jwt,
    jwk_of,
    jws,
    kb_header,
    present,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from ageverify.errors import AgeVerifyError, VerificationError
from ageverify.formats import jose, sdjwt, strictjson

KEYS = {KID: ISSUER_KEY.public_key()}


def verify(text: str, **overrides: object) -> dict[str, bool]:
    arguments: dict[str, object] = {
        "keys": KEYS.get,
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "nonce": NONCE,
        "now": NOW,
    }
    arguments.update(overrides)
    return sdjwt.verify_presentation(text, **arguments)  # type: ignore[arg-type]


def test_good_presentation_gives_the_disclosed_facts() -> None:
    assert verify(present()) == {"age_over_18": True}


def test_two_disclosures_give_two_facts() -> None:
    text = present(disclosures=[DISCLOSURES["age_over_13"], DISCLOSURES["age_over_21"]])
    assert verify(text) == {"age_over_13": True, "age_over_21": False}


def test_no_disclosure_gives_no_facts() -> None:
    assert verify(present(disclosures=[])) == {}


def test_verified_presentation_reports_the_credential() -> None:
    result = sdjwt.verified_presentation(
        present(), keys=KEYS.get, issuer=ISSUER, audience=AUDIENCE, nonce=NONCE, now=NOW
    )
    assert result.facts == {"age_over_18": True}
    assert result.issuer == ISSUER
    assert result.kid == KID
    assert result.expires_at == NOW + 86400


def _signed(payload: dict, disclosures: list[str]) -> str:
    return present(issuer_jwt(payload=payload), disclosures)


def _hs256_with_public_key() -> str:
    # The classic confusion: HMAC keyed with the issuer's public key bytes.
    secret = ISSUER_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        b64(json.dumps(credential_header(alg="HS256")).encode())
        + "."
        + b64(json.dumps(credential_payload()).encode())
    )
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return present(signing_input + "." + b64(mac))


def _tampered_payload() -> str:
    good = issuer_jwt()
    forged = issuer_jwt(payload=credential_payload(exp=NOW + 10**9), key=None)
    header, payload, _ = forged.split(".")
    return present(header + "." + payload + "." + good.split(".")[2])


def _psychic_signature() -> str:
    head, body, _ = issuer_jwt().split(".")
    return present(head + "." + body + "." + b64(bytes(64)))


def _non_canonical_signature() -> str:
    jwt = issuer_jwt()
    # 64 bytes -> 86 characters, the last encoding 2 bits plus 4 unused ones.
    last = jwt[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return present(jwt[:-1] + alphabet[alphabet.index(last) | 1])


def _tampered_disclosure() -> str:
    # age_over_21 false -> true, same salt: the digest no longer matches.
    original = json.loads(jose.b64url_decode(DISCLOSURES["age_over_21"]))
    return present(disclosures=[disclosure("age_over_21", True, salt=original[0])])


def _sd_hash_over_other_disclosures() -> str:
    jwt = issuer_jwt()
    other = jwt + "~" + DISCLOSURES["age_over_13"] + "~"
    return present(jwt, [DISCLOSURES["age_over_18"]], sd_hash_over=other)


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def _kb_signed_like_a_credential() -> str:
    # A credential's issuer JWT put where the KB-JWT goes: typ keeps them apart.
    jwt = issuer_jwt()
    return jwt + "~" + DISCLOSURES["age_over_18"] + "~" + issuer_jwt()


ATTACKS: list[tuple[str, Callable[[], str], str]] = [
    # Envelope and structure.
    ("oversized garbage", lambda: "A" * 1_000_000, "presentation-too-large"),
    ("no tilde at all", lambda: issuer_jwt(), "presentation-malformed"),
    ("empty disclosure", lambda: present().replace("~", "~~", 1), "presentation-malformed"),
    ("non-ASCII text", lambda: present() + "é", "presentation-malformed"),
    (
        "stripped KB-JWT",
        lambda: issuer_jwt() + "~" + DISCLOSURES["age_over_18"] + "~",
        "key-binding-missing",
    ),
    ("JWE of five parts", lambda: present(issuer_jwt() + ".AAAA.AAAA"), "jws-malformed"),
    (
        "JSON serialization",
        lambda: present(
            b64(b"x") + json.dumps({"payload": "e30", "signatures": []}).replace(" ", "")
        ),
        "jws-malformed",
    ),
    ("whitespace in the JWT", lambda: present(issuer_jwt().replace(".", " .", 1)), "jws-malformed"),
    ("padding in base64url", lambda: present(issuer_jwt() + "=="), "base64url-invalid"),
    ("non-canonical base64url", _non_canonical_signature, "base64url-invalid"),
    ("standard base64 alphabet", lambda: present(issuer_jwt()[:-2] + "+/"), "base64url-invalid"),
    (
        "non-UTF-8 payload",
        lambda: present(jws(credential_header(), b'{"iss":"\xff"}', ISSUER_KEY)),
        "json-not-utf8",
    ),
    (
        "duplicate member in header",
        lambda: present(
            jws(
                '{"alg":"none","alg":"ES256","typ":"dc+sd-jwt","kid":"' + KID + '"}',
                credential_payload(),
                ISSUER_KEY,
            )
        ),
        "json-duplicate-member",
    ),
    (
        "duplicate member in payload",
        lambda: present(
            jws(
                credential_header(),
                json.dumps(credential_payload())[:-1] + ',"iss":"https://evil.example"}',
                ISSUER_KEY,
            )
        ),
        "json-duplicate-member",
    ),
    (
        "duplicate member in KB-JWT",
        lambda: (
            present().rsplit("~", 1)[0]
            + "~"
            + jws(kb_header(), '{"aud":"x","aud":"' + AUDIENCE + '"}', HOLDER_KEY)
        ),
        "json-duplicate-member",
    ),
    (
        "deep nesting",
        lambda: present(jws(credential_header(), '{"a":' + _deep(40) + "}", ISSUER_KEY)),
        "json-too-deep",
    ),
    (
        "NaN in payload",
        lambda: present(jws(credential_header(), '{"iat":NaN}', ISSUER_KEY)),
        "json-invalid",
    ),
    (
        "payload is an array",
        lambda: present(jws(credential_header(), "[1]", ISSUER_KEY)),
        "jws-malformed",
    ),
    (
        "crit header",
        lambda: present(jws(credential_header(crit=["exp"]), credential_payload(), ISSUER_KEY)),
        "jws-forbidden-header",
    ),
    (
        "embedded jwk header",
        lambda: present(
            jws(credential_header(jwk=jwk_of(OTHER_KEY)), credential_payload(), OTHER_KEY)
        ),
        "jws-forbidden-header",
    ),
    (
        "jku header",
        lambda: present(
            jws(credential_header(jku="https://evil.example/jwks"), credential_payload(), OTHER_KEY)
        ),
        "jws-forbidden-header",
    ),
    (
        "x5c header",
        lambda: present(jws(credential_header(x5c=["MIIB"]), credential_payload(), OTHER_KEY)),
        "jws-forbidden-header",
    ),
    (
        "b64 false header",
        lambda: present(jws(credential_header(b64=False), credential_payload(), ISSUER_KEY)),
        "jws-forbidden-header",
    ),
    (
        "alg not a string",
        lambda: present(jws(credential_header(alg=["ES256"]), credential_payload(), ISSUER_KEY)),
        "jws-malformed",
    ),
    # Credential header and signature.
    ("wrong typ", lambda: present(issuer_jwt(credential_header(typ="JWT"))), "credential-bad-type"),
    (
        "KB typ on the credential",
        lambda: present(issuer_jwt(credential_header(typ="kb+jwt"))),
        "credential-bad-type",
    ),
    (
        "alg none",
        lambda: present(issuer_jwt(credential_header(alg="none"), key=None)),
        "credential-bad-algorithm",
    ),
    ("alg HS256 with the public key as secret", _hs256_with_public_key, "credential-bad-algorithm"),
    (
        "alg ES384",
        lambda: present(issuer_jwt(credential_header(alg="ES384"))),
        "credential-bad-algorithm",
    ),
    (
        "missing kid",
        lambda: present(issuer_jwt(credential_header(kid=None))),
        "credential-unknown-key",
    ),
    (
        "kid not a string",
        lambda: present(issuer_jwt(credential_header(kid=1))),
        "credential-unknown-key",
    ),
    (
        "unknown kid",
        lambda: present(issuer_jwt(credential_header(kid="unknown"))),
        "credential-unknown-key",
    ),
    (
        "signed by another key",
        lambda: present(issuer_jwt(key=OTHER_KEY)),
        "credential-bad-signature",
    ),
    ("tampered payload", _tampered_payload, "credential-bad-signature"),
    ("psychic signature r = s = 0", _psychic_signature, "credential-bad-signature"),
    ("empty signature", lambda: present(issuer_jwt(key=None)), "credential-bad-signature"),
    # Credential claims.
    (
        "wrong issuer",
        lambda: _signed(
            credential_payload(iss="https://evil.example"), [DISCLOSURES["age_over_18"]]
        ),
        "credential-wrong-issuer",
    ),
    (
        "issuer not a string",
        lambda: _signed(credential_payload(iss=[ISSUER]), []),
        "credential-wrong-issuer",
    ),
    (
        "expired credential",
        lambda: _signed(credential_payload(exp=NOW - 61), []),
        "credential-expired",
    ),
    (
        "credential from the future",
        lambda: _signed(credential_payload(iat=NOW + 61), []),
        "credential-not-yet-valid",
    ),
    (
        "number as string",
        lambda: _signed(credential_payload(exp="999"), []),
        "credential-bad-claims",
    ),
    ("boolean as exp", lambda: _signed(credential_payload(exp=True), []), "credential-bad-claims"),
    ("missing iat", lambda: _signed(credential_payload(iat=None), []), "credential-bad-claims"),
    (
        "wrong vct",
        lambda: _signed(credential_payload(vct="urn:other"), []),
        "credential-bad-claims",
    ),
    (
        "wrong _sd_alg",
        lambda: _signed(credential_payload(_sd_alg="sha-1"), []),
        "credential-bad-claims",
    ),
    ("_sd not a list", lambda: _signed(credential_payload(_sd="abc"), []), "credential-bad-claims"),
    (
        "_sd with a number",
        lambda: _signed(credential_payload(_sd=[1]), []),
        "credential-bad-claims",
    ),
    (
        "digest duplicate in _sd",
        lambda: _signed(
            credential_payload(extra_digests=(digest(DISCLOSURES["age_over_18"]),)), []
        ),
        "digest-duplicate",
    ),
    ("no cnf", lambda: _signed(credential_payload(cnf=None), []), "credential-bad-claims"),
    (
        "cnf with a private key",
        lambda: _signed(
            credential_payload(cnf={"jwk": {**jwk_of(HOLDER_KEY), "d": b64(bytes(32))}}), []
        ),
        "credential-bad-claims",
    ),
    (
        "cnf point off the curve",
        lambda: _signed(
            credential_payload(cnf={"jwk": {**jwk_of(HOLDER_KEY), "y": b64(bytes(32))}}), []
        ),
        "credential-bad-claims",
    ),
    (
        "cnf with kid instead of jwk",
        lambda: _signed(credential_payload(cnf={"kid": "k"}), []),
        "credential-bad-claims",
    ),
    # Disclosures.
    (
        "duplicate disclosure",
        lambda: present(disclosures=[DISCLOSURES["age_over_18"]] * 2),
        "disclosure-duplicate",
    ),
    ("tampered disclosure", _tampered_disclosure, "disclosure-unreferenced"),
    (
        "extra disclosure forged by the holder",
        lambda: present(disclosures=[DISCLOSURES["age_over_18"], disclosure("age_over_25", True)]),
        "disclosure-unreferenced",
    ),
    (
        "unreferenced disclosure",
        lambda: present(disclosures=[disclosure("age_over_18", True, salt="b3RoZXJjcmVkZW50aWFs")]),
        "disclosure-unreferenced",
    ),
    (
        "disclosure of two elements",
        lambda: present(disclosures=[b64(b'["salt","age_over_18"]')]),
        "disclosure-malformed",
    ),
    (
        "disclosure not an array",
        lambda: present(disclosures=[b64(b'{"a":1}')]),
        "disclosure-malformed",
    ),
    (
        "disclosure name not a string",
        lambda: present(disclosures=[b64(b'["salt",18,true]')]),
        "disclosure-malformed",
    ),
    ("disclosure not base64url", lambda: present(disclosures=["a+b"]), "base64url-invalid"),
    (
        "disclosure with duplicate member",
        lambda: present(disclosures=[b64(b'["s","n",{"a":1,"a":2}]')]),
        "json-duplicate-member",
    ),
    (
        "reserved name _sd",
        lambda: _signed(
            credential_payload(extra_digests=(digest(disclosure("_sd", ["x"])),)),
            [disclosure("_sd", ["x"])],
        ),
        "disclosure-reserved-name",
    ),
    (
        "reserved name cnf",
        lambda: _signed(
            credential_payload(extra_digests=(digest(disclosure("cnf", {})),)),
            [disclosure("cnf", {})],
        ),
        "disclosure-reserved-name",
    ),
    (
        "name already in the payload",
        lambda: _signed(
            credential_payload(extra_digests=(digest(disclosure("iss", "x")),)),
            [disclosure("iss", "x")],
        ),
        "disclosure-conflict",
    ),
    (
        "same claim disclosed twice",
        lambda: _signed(
            credential_payload(
                extra_digests=(digest(disclosure("age_over_18", False, salt="AAAA")),)
            ),
            [DISCLOSURES["age_over_18"], disclosure("age_over_18", False, salt="AAAA")],
        ),
        "disclosure-conflict",
    ),
    (
        "boolean as 1",
        lambda: _signed(
            credential_payload(extra_digests=(digest(disclosure("age_over_15", 1)),)),
            [disclosure("age_over_15", 1)],
        ),
        "credential-bad-claims",
    ),
    (
        "not an age claim",
        lambda: _signed(
            credential_payload(extra_digests=(digest(disclosure("name", "Alice")),)),
            [disclosure("name", "Alice")],
        ),
        "credential-bad-claims",
    ),
    (
        "age claim with a leading zero",
        lambda: _signed(
            credential_payload(extra_digests=(digest(disclosure("age_over_018", True)),)),
            [disclosure("age_over_018", True)],
        ),
        "credential-bad-claims",
    ),
    # Key Binding JWT.
    ("KB typ wrong", lambda: present(header=kb_header(typ="JWT")), "key-binding-bad-type"),
    ("KB typ missing", lambda: present(header=kb_header(typ=None)), "key-binding-bad-type"),
    ("issuer JWT as KB-JWT", _kb_signed_like_a_credential, "key-binding-bad-type"),
    ("KB alg none", lambda: present(header=kb_header(alg="none")), "key-binding-bad-algorithm"),
    ("KB alg EdDSA", lambda: present(header=kb_header(alg="EdDSA")), "key-binding-bad-algorithm"),
    ("KB crit header", lambda: present(header=kb_header(crit=["nonce"])), "jws-forbidden-header"),
    (
        "KB embedded jwk",
        lambda: present(header=kb_header(jwk=jwk_of(OTHER_KEY)), holder_key=OTHER_KEY),
        "jws-forbidden-header",
    ),
    (
        "KB signed by another key",
        lambda: present(holder_key=OTHER_KEY),
        "key-binding-bad-signature",
    ),
    (
        "KB signed by the issuer",
        lambda: present(holder_key=ISSUER_KEY),
        "key-binding-bad-signature",
    ),
    ("KB stale iat", lambda: present(iat=NOW - 300 - 61), "key-binding-stale"),
    ("KB iat in the future", lambda: present(iat=NOW + 61), "key-binding-stale"),
    ("KB iat as string", lambda: present(iat=str(NOW)), "key-binding-bad-claims"),
    ("KB iat as boolean", lambda: present(iat=True), "key-binding-bad-claims"),
    ("KB iat missing", lambda: present(iat=None), "key-binding-bad-claims"),
    (
        "KB wrong aud",
        lambda: present(aud="https://other-platform.example"),
        "key-binding-wrong-audience",
    ),
    ("KB aud as array", lambda: present(aud=[AUDIENCE]), "key-binding-bad-claims"),
    ("KB wrong nonce", lambda: present(nonce="another-nonce"), "key-binding-wrong-nonce"),
    ("KB nonce missing", lambda: present(nonce=None), "key-binding-bad-claims"),
    ("KB nonce not a string", lambda: present(nonce=12), "key-binding-bad-claims"),
    ("sd_hash mismatch", _sd_hash_over_other_disclosures, "sd-hash-mismatch"),
    ("sd_hash missing", lambda: present(sd_hash=None), "key-binding-bad-claims"),
    ("sd_hash over the wrong bytes", lambda: present(sd_hash=digest("x")), "sd-hash-mismatch"),
]


@pytest.mark.parametrize(("attack", "build", "code"), ATTACKS, ids=[row[0] for row in ATTACKS])
def test_attack_is_refused_with_its_code(attack: str, build: Callable[[], str], code: str) -> None:
    # Twice: as a first visit, then with the credential's signature already
    # verified (when it was valid). The code must not depend on which.
    text = build()
    for visit in ("first", "again"):
        with pytest.raises(VerificationError) as caught:
            verify(text)
        assert caught.value.code == code, (attack, visit)


def _kb_by_other_key(disclosures: list[str] | None = None, jwt: str | None = None) -> str:
    return present(jwt, disclosures, holder_key=OTHER_KEY)


# Two faults in one presentation: the first in the documented order is
# reported, although a first visit checks the holder's signature early.
TWO_FAULTS: list[tuple[str, Callable[[], str], str]] = [
    (
        "tampered disclosure, KB-JWT by another key",
        lambda: _kb_by_other_key([_tampered_disclosure().split("~")[1]]),
        "disclosure-unreferenced",
    ),
    (
        "expired credential, KB-JWT by another key",
        lambda: _kb_by_other_key(jwt=issuer_jwt(payload=credential_payload(exp=NOW - 3600))),
        "credential-expired",
    ),
    (
        "reserved name disclosed, KB-JWT by another key",
        lambda: _kb_by_other_key([disclosure("_sd", True)]),
        "disclosure-reserved-name",
    ),
    (
        "KB-JWT of the wrong typ, by another key",
        lambda: present(header=kb_header(typ="JWT"), holder_key=OTHER_KEY),
        "key-binding-bad-type",
    ),
    (
        "broken KB-JWT, tampered disclosure",
        lambda: _tampered_disclosure().rsplit("~", 1)[0] + "~e30.e30",
        "disclosure-unreferenced",
    ),
    (
        "cnf of another curve, KB-JWT by another key",
        lambda: _kb_by_other_key(
            jwt=issuer_jwt(payload=credential_payload(cnf={"jwk": {**HOLDER_JWK, "crv": "P-384"}}))
        ),
        "credential-bad-claims",
    ),
]


@pytest.mark.parametrize(("case", "build", "code"), TWO_FAULTS, ids=[row[0] for row in TWO_FAULTS])
def test_the_first_fault_in_order_is_reported(
    case: str, build: Callable[[], str], code: str
) -> None:
    text = build()
    for visit in ("first", "again"):
        with pytest.raises(VerificationError) as caught:
            verify(text)
        assert caught.value.code == code, (case, visit)


def test_a_first_visit_checks_the_two_signatures_back_to_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each signature once, the holder's right after the issuer's (while the
    # ECDSA code is warm), before any disclosure is opened; a returning
    # visitor's credential signature is not checked again.
    events: list[str] = []
    verify_parts, open_disclosures = jose.verify_parts, sdjwt._open_disclosures

    def recording_verify(*arguments: object) -> bool:
        events.append("signature")
        return verify_parts(*arguments)  # type: ignore[arg-type]

    def recording_open(*arguments: object) -> dict[str, bool]:
        events.append("disclosures")
        return open_disclosures(*arguments)  # type: ignore[arg-type]

    monkeypatch.setattr(jose, "verify_parts", recording_verify)
    monkeypatch.setattr(sdjwt, "_open_disclosures", recording_open)
    jwt = issuer_jwt()
    assert verify(present(jwt)) == {"age_over_18": True}
    assert events == ["signature", "signature", "disclosures"]
    events.clear()
    assert verify(present(jwt)) == {"age_over_18": True}
    assert events == ["disclosures", "signature"]


def test_oversized_presentation_is_refused_before_any_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*_: object, **__: object) -> None:
        raise AssertionError("parsed an oversized presentation")

    monkeypatch.setattr(jose, "decode_compact", never)
    monkeypatch.setattr(jose, "b64url_decode", never)
    with pytest.raises(VerificationError) as caught:
        verify("A" * 1_000_000, keys=never)
    assert caught.value.code == "presentation-too-large"


def test_presentation_of_exactly_the_maximum_size_is_parsed() -> None:
    text = present()
    padded = text + "A" * (sdjwt.MAX_PRESENTATION_SIZE - len(text))
    with pytest.raises(VerificationError) as caught:
        verify(padded)
    assert caught.value.code != "presentation-too-large"


def test_leeway_accepts_small_clock_skew() -> None:
    text = _signed(credential_payload(exp=NOW - 30), [DISCLOSURES["age_over_18"]])
    assert verify(text) == {"age_over_18": True}
    assert verify(present(iat=NOW + 30)) == {"age_over_18": True}


def test_kb_max_age_is_honoured() -> None:
    text = present(iat=NOW - 200)
    assert verify(text, kb_max_age=300) == {"age_over_18": True}
    with pytest.raises(VerificationError) as caught:
        verify(text, kb_max_age=100)
    assert caught.value.code == "key-binding-stale"


def test_unknown_kid_is_looked_up_by_exact_kid_only() -> None:
    asked: list[str] = []

    def keys(kid: str) -> object:
        asked.append(kid)
        return None

    with pytest.raises(VerificationError):
        verify(present(), keys=keys)
    assert asked == [KID]


def test_key_of_the_wrong_type_fails_the_signature() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    with pytest.raises(VerificationError) as caught:
        verify(present(), keys=lambda kid: ed25519.Ed25519PrivateKey.generate().public_key())
    assert caught.value.code == "credential-bad-signature"


def test_every_error_is_a_verification_error_with_a_known_code() -> None:
    from ageverify.errors import CODES

    for _, _, code in ATTACKS:
        assert code in CODES


def test_a_credential_seen_before_is_still_checked_against_keys_and_clock() -> None:
    # The second presentation of a credential skips its signature check only
    # while the very key object that verified it is still served.
    text = present()
    assert verify(text) == {"age_over_18": True}
    for overrides, code in [
        ({"keys": {}.get}, "credential-unknown-key"),
        ({"keys": {KID: OTHER_KEY.public_key()}.get}, "credential-bad-signature"),
        ({"now": NOW + 86400 + 61}, "credential-expired"),
        ({"now": NOW - 7200}, "credential-not-yet-valid"),
        ({"issuer": "https://other.example"}, "credential-wrong-issuer"),
    ]:
        with pytest.raises(VerificationError) as caught:
            verify(text, **overrides)
        assert caught.value.code == code
    refreshed = {KID: ISSUER_KEY.public_key()}  # a new object for the same key
    assert verify(text, keys=refreshed.get) == {"age_over_18": True}
    assert verify(text) == {"age_over_18": True}


def test_a_verified_signature_vouches_for_its_own_signing_input_only() -> None:
    # The seen signature, moved onto another payload, is checked again and fails.
    text = present()
    assert verify(text) == {"age_over_18": True}
    signature = text.split("~")[0].split(".")[2]
    header, payload = issuer_jwt(payload=credential_payload(exp=NOW + 86401)).split(".")[:2]
    forged = f"{header}.{payload}.{signature}"
    with pytest.raises(VerificationError) as caught:
        verify(present(forged))
    assert caught.value.code == "credential-bad-signature"


# Texts around the layout issuance writes: '["', a salt, '","age_over_NN",value]'.
_OPENINGS = st.sampled_from([b'["', b'[ "', b"[", b'{"', b'"["', b""])
_SALTS = st.one_of(
    # As issuance writes them: 22 base64url characters.
    st.text(alphabet=st.sampled_from(jose.B64URL_ALPHABET.decode()), min_size=22, max_size=22),
    st.text(alphabet=st.sampled_from("AZaz09-_" + '"\\ é\x00+/='), min_size=20, max_size=24),
).map(lambda salt: salt.encode("utf-8"))
_TAILS = st.sampled_from(
    [
        b'","age_over_18",true]',
        b'","age_over_13",false]',
        b'","age_over_999",true]',
        b'","age_over_1000",true]',
        b'","age_over_018",true]',
        b'", "age_over_18", true]',
        b'","age_over_18",True]',
        b'","age_over_18",true] ',
        b'","age_over_18",true,1]',
        b'","age_over_18",1]',
        b'","_sd",true]',
        b'","age_over_18",true',
    ]
)


def _parsed_in_full(text: str) -> object:
    try:
        return strictjson.loads(jose.b64url_decode(text))
    except AgeVerifyError as error:
        return error.code


def _read(text: str) -> object:
    try:
        return sdjwt._disclosure_element(text)
    except VerificationError as error:
        return error.code


@settings(max_examples=400, deadline=None)
@given(opening=_OPENINGS, salt=_SALTS, tail=_TAILS)
def test_a_disclosure_reads_as_the_json_parser_reads_it(
    opening: bytes, salt: bytes, tail: bytes
) -> None:
    text = b64(opening + salt + tail)
    assert _read(text) == _parsed_in_full(text)


@pytest.mark.parametrize(
    "text",
    [
        b64(b'["' + b"A" * 22 + b'","age_over_18",true]')[:-1],  # cut short
        b64(b'["' + b"A" * 22 + b'","age_over_18",true]') + "=",
        "",
        "*" * 40,
    ],
)
def test_a_broken_disclosure_reads_as_the_json_parser_reads_it(text: str) -> None:
    assert _read(text) == _parsed_in_full(text)


def test_issued_disclosures_do_not_reach_the_json_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    credential = sdjwt.issue_credential(
        signing_key=ISSUER_KEY,
        kid=KID,
        issuer=ISSUER,
        iat=NOW - 3600,
        exp=NOW + 86400,
        holder_jwk=HOLDER_JWK,
        age_over={13: True, 18: True, 21: False},
        decoys=4,
    )
    jwt, *disclosures, _ = credential.split("~")

    class NoParser:
        @staticmethod
        def loads(_: object) -> object:
            raise AssertionError("a disclosure went through the JSON parser")

    monkeypatch.setattr(sdjwt, "strictjson", NoParser)
    facts = verify(present(jwt, disclosures))
    assert facts == {"age_over_13": True, "age_over_18": True, "age_over_21": False}


@given(st.text("ab~", max_size=12))
def test_a_presentation_splits_at_every_tilde_and_refuses_empty_parts(text: str) -> None:
    parts = text.split("~")
    if len(parts) < 2 or not all(parts[:-1]):
        with pytest.raises(VerificationError) as refused:
            sdjwt._split_presentation(text, 100)
        assert refused.value.code == "presentation-malformed"
        return
    assert sdjwt._split_presentation(text, 100) == (
        parts[0],
        parts[1:-1],
        parts[-1] or None,
        text[: len(text) - len(parts[-1])].encode(),
    )
