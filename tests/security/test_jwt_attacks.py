"""Hostile tokens against the three places a JWT enters ageverify, each with its exact code.

The entry points:

- ``intake``: a verifier attestation sent to ``POST /v1/credentials`` through
  the Flask test client (the ES256 verifier ``es-verifier`` and, for the
  EdDSA rows, ``ed-verifier`` are registered);
- ``credential``: the issuer-signed JWT of a presentation, checked by
  ``ageverify.sdk.Verifier.verify`` with a static JWKS;
- ``key-binding``: the Key Binding JWT of a presentation of a good
  credential, checked the same way.

Every row builds one malicious token with real keys (``jwt_forgery``) and
names, for each entry point it applies to, the one error code that must come
back. A row that an entry point accepted would show up as ``accepted``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from flask import Flask
from flask.testing import FlaskClient
from jwt_forgery import (
    AGE_FACTS,
    ATTACKER_ED_KEY,
    ATTACKER_KEY,
    AUDIENCE,
    DISCLOSURES,
    DROP,
    ED_KID,
    ED_VERIFIER,
    ED_VERIFIER_KEY,
    ES_KID,
    ES_VERIFIER,
    ES_VERIFIER_KEY,
    HOLDER_KEY,
    ISSUER,
    ISSUER_KEY,
    ISSUER_KID,
    KEEP,
    NOW,
    P256_ORDER,
    VCT,
    Forge,
    b64,
    compact,
    digest,
    disclosure,
    ed25519_s_plus_order,
    high_s_twin,
    hmac_forgery,
    json_bytes,
    json_serializations,
    jwe_compact,
    public_jwk,
    public_key_secrets,
    rsa_signed,
    self_signed_certificate,
    set_unused_bits,
    signature_bytes,
    with_signature,
)
from presenting import HeldCredential, MovableClock

from ageverify import create_app
from ageverify.config import write_dev_settings
from ageverify.crypto import blindrsa
from ageverify.demo import DemoVerifier, register_demo_verifier
from ageverify.errors import CODES, IssuanceError, VerificationError
from ageverify.formats import jose, privacypass, strictjson
from ageverify.issuer import verifiers
from ageverify.issuer.intake import verify_attestation
from ageverify.sdk import Verifier
from ageverify.storage.db import transaction

ACCEPTED = "accepted"
INTAKE, CREDENTIAL, KEY_BINDING = "intake", "credential", "key-binding"
ENTRY_POINTS = (INTAKE, CREDENTIAL, KEY_BINDING)

TYP = {INTAKE: "age-attestation+jwt", CREDENTIAL: "dc+sd-jwt", KEY_BINDING: "kb+jwt"}
# For each entry point, the typ of a token of another kind that could be put in its place.
OTHER_TYP = {INTAKE: "dc+sd-jwt", CREDENTIAL: "kb+jwt", KEY_BINDING: "dc+sd-jwt"}
# For each entry point, a real kid of a key that serves another purpose.
OTHER_PURPOSE_KID = {INTAKE: ISSUER_KID, CREDENTIAL: ES_KID, KEY_BINDING: ISSUER_KID}


# --- the entry points ---------------------------------------------------------


@dataclass
class EntryPoint:
    """A forge for the entry point's legitimate token, and ``submit(token) -> code``."""

    forge: Forge
    submit: Callable[[str], str]


@dataclass
class IntakeApp:
    """The issuer app the intake rows run against, with its clock and issuer URL."""

    app: Flask
    client: FlaskClient
    clock: MovableClock
    issuer: str
    thresholds: tuple[int, ...]


@pytest.fixture(scope="module")
def intake_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IntakeApp]:
    """One development issuer for every intake row (refused rows change nothing).

    Rate limits are off: they are a separate control, and a hundred refused
    attestations from one test client would otherwise end in ``rate-limited``.
    """
    instance: Path = tmp_path_factory.mktemp("intake") / "instance"
    clock = MovableClock(time.time())
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("AGEVERIFY_"):
                patch.delenv(name)
        write_dev_settings(instance)
        app = create_app(
            {"env": "development", "instance_path": instance, "rate_limit_issuance": "none"},
            clock=clock,
        )
    state = app.extensions["ageverify"]
    with transaction(state.sessions) as session:
        for verifier_id, key in ((ES_VERIFIER, ES_VERIFIER_KEY), (ED_VERIFIER, ED_VERIFIER_KEY)):
            verifiers.add_verifier(
                session,
                id=verifier_id,
                name=f"test verifier {verifier_id}",
                jwks=[public_jwk(key)],
                methods=["other"],
                now=clock(),
            )
    settings = state.settings
    yield IntakeApp(app, app.test_client(), clock, settings.issuer_url, settings.thresholds)
    state.close()


def _intake(context: IntakeApp) -> EntryPoint:
    now = int(context.clock())

    def claims() -> dict[str, Any]:
        return {
            "iss": ES_VERIFIER,
            "aud": context.issuer,
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(16),
            "age_over": {str(threshold): True for threshold in context.thresholds},
            "method": "other",
        }

    forge = Forge(
        INTAKE,
        ES_VERIFIER_KEY,
        lambda: {"alg": "ES256", "typ": TYP[INTAKE], "kid": ES_KID},
        claims,
    )

    def submit(token: str) -> str:
        body = {"attestation": token, "holder_keys": [public_jwk(HOLDER_KEY)]}
        response = context.client.post("/v1/credentials", json=body)
        if response.status_code == 200:
            return ACCEPTED
        code = _body(response)["code"]
        # The status is the code's own, and a refusal is never a 500.
        assert response.status_code == CODES[code][0], (response.status_code, code)
        assert response.status_code < 500, code
        assert "credentials" not in _body(response)
        return code

    return EntryPoint(forge, submit)


def _credential_claims() -> dict[str, Any]:
    decoy = b64(b"decoy digest of thirty-two bytes")
    return {
        "iss": ISSUER,
        "iat": NOW - 3600,
        "exp": NOW + 86_400,
        "vct": VCT,
        "cnf": {"jwk": public_jwk(HOLDER_KEY)},
        "_sd": sorted([digest(d) for d in DISCLOSURES] + [decoy]),
        "_sd_alg": "sha-256",
    }


def _credential_header() -> dict[str, Any]:
    return {"alg": "ES256", "typ": TYP[CREDENTIAL], "kid": ISSUER_KID}


JWKS = {"keys": [{**public_jwk(ISSUER_KEY), "kid": ISSUER_KID, "alg": "ES256", "use": "sig"}]}
# A good credential and its disclosures: what the key-binding rows present.
GOOD_SD_JWT = (
    compact(_credential_header(), _credential_claims(), ISSUER_KEY)
    + "~"
    + "".join(d + "~" for d in DISCLOSURES)
)


def _platform() -> Verifier:
    """A platform's verifier with the issuer's keys cached (no network)."""
    return Verifier(AUDIENCE, issuer=ISSUER, jwks=JWKS, clock=lambda: NOW)


def _key_binding(sd_jwt: str, nonce: str, key: Any = HOLDER_KEY) -> str:
    claims = {"iat": NOW, "aud": AUDIENCE, "nonce": nonce, "sd_hash": digest(sd_jwt)}
    return compact({"alg": "ES256", "typ": TYP[KEY_BINDING]}, claims, key)


def _outcome(verify: Callable[[], object]) -> str:
    try:
        verify()
    except VerificationError as error:
        return error.code
    return ACCEPTED


def _credential() -> EntryPoint:
    forge = Forge(CREDENTIAL, ISSUER_KEY, _credential_header, _credential_claims)

    def submit(token: str) -> str:
        platform = _platform()
        nonce = platform.challenge()
        sd_jwt = token + "~" + "".join(d + "~" for d in forge.disclosures)
        presentation = sd_jwt + _key_binding(sd_jwt, nonce)
        return _outcome(lambda: platform.verify(presentation, nonce=nonce, min_age=18))

    return EntryPoint(forge, submit)


def _key_binding_entry() -> EntryPoint:
    platform = _platform()
    nonce = platform.challenge()
    forge = Forge(
        KEY_BINDING,
        HOLDER_KEY,
        lambda: {"alg": "ES256", "typ": TYP[KEY_BINDING]},
        lambda: {"iat": NOW, "aud": AUDIENCE, "nonce": nonce, "sd_hash": digest(GOOD_SD_JWT)},
    )

    def submit(token: str) -> str:
        return _outcome(lambda: platform.verify(GOOD_SD_JWT + token, nonce=nonce, min_age=18))

    return EntryPoint(forge, submit)


def _entry_point(name: str, request: pytest.FixtureRequest) -> EntryPoint:
    if name == INTAKE:
        return _intake(request.getfixturevalue("intake_app"))
    if name == CREDENTIAL:
        return _credential()
    return _key_binding_entry()


def _body(response: Any) -> dict[str, Any]:
    """The JSON object of a test client response."""
    body = response.get_json()
    assert isinstance(body, dict), response.get_data(as_text=True)
    return body


# --- the attack table -----------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    """One malicious token: ``build(forge)`` makes it, ``codes`` maps entry point -> code."""

    name: str
    build: Callable[[Forge], str]
    codes: dict[str, str]


def every(code: str) -> dict[str, str]:
    """The same code at every entry point."""
    return dict.fromkeys(ENTRY_POINTS, code)


BAD_ALG = {
    INTAKE: "attestation-bad-algorithm",
    CREDENTIAL: "credential-bad-algorithm",
    KEY_BINDING: "key-binding-bad-algorithm",
}
BAD_SIGNATURE = {
    INTAKE: "attestation-bad-signature",
    CREDENTIAL: "credential-bad-signature",
    KEY_BINDING: "key-binding-bad-signature",
}
BAD_TYPE = {
    INTAKE: "attestation-bad-type",
    CREDENTIAL: "credential-bad-type",
    KEY_BINDING: "key-binding-bad-type",
}
# A kid the registry does not hold (intake, credential); the KB-JWT is checked
# with the cnf key whatever its header says, so there a kid changes nothing
# and the attacker's signature fails.
UNKNOWN_KID = {
    INTAKE: "attestation-unknown-key",
    CREDENTIAL: "credential-unknown-key",
    KEY_BINDING: "key-binding-bad-signature",
}
MALFORMED_KID = {**UNKNOWN_KID, INTAKE: "attestation-malformed"}
TOO_LARGE = {
    INTAKE: "jws-too-large",
    CREDENTIAL: "presentation-too-large",
    KEY_BINDING: "presentation-too-large",
}


def _header_changed(key: Any = KEEP, **changes: Any) -> Callable[[Forge], str]:
    """A builder: the legitimate token with header ``changes``, signed by ``key``."""
    return lambda forge: forge.token(forge.header(**changes), key=key)


def _hmac_with_public_key(form: str) -> Callable[[Forge], str]:
    """A builder: HS256 keyed with the entry point's trusted public key in ``form``."""
    return lambda forge: hmac_forgery(
        forge.header(alg="HS256"), forge.claims(), forge.public_secrets[form]
    )


def _rsa_signed(alg: str) -> Callable[[Forge], str]:
    """A builder: the legitimate header and claims under ``alg``, genuinely RSA-signed."""
    return lambda forge: rsa_signed(forge.header(alg=alg), forge.claims(), pss=alg == "PS256")


def _signature_with(forge: Forge, r: int | None = None, s: int | None = None) -> str:
    """The legitimate token with ``r`` and/or ``s`` of its ES256 signature replaced."""
    token = forge.token()
    raw = signature_bytes(token)
    r_bytes = raw[:32] if r is None else r.to_bytes(32, "big")
    s_bytes = raw[32:] if s is None else s.to_bytes(32, "big")
    return with_signature(token, r_bytes + s_bytes)


def _der_signature(forge: Forge) -> str:
    token = forge.token()
    raw = signature_bytes(token)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    return with_signature(token, der)


def _transplanted_signature(forge: Forge) -> str:
    # The signature of one real token put on another: signatures cover the exact text.
    donor = forge.token(payload=forge.claims(iat=forge.claims()["iat"] - 1))
    return with_signature(forge.token(), signature_bytes(donor))


def _duplicate_first_member(forge: Forge, part: str) -> str:
    """A token whose header or payload repeats its first member (first value a decoy)."""
    value = forge.header() if part == "header" else forge.claims()
    name = next(iter(value))
    text = json.dumps({name: "attacker"}, separators=(",", ":"))[:-1] + ","
    raw = text + json.dumps(value, separators=(",", ":"))[1:]
    if part == "header":
        return forge.token(header=raw)
    return forge.token(payload=raw)


def _duplicate_nested_member(forge: Forge) -> str:
    if forge.entry == INTAKE:
        raw = json.dumps(forge.claims(), separators=(",", ":")).replace(
            '"age_over":{', '"age_over":{"21":false,', 1
        )
    else:
        raw = json.dumps(forge.claims(), separators=(",", ":")).replace(
            '"jwk":{', '"jwk":{"x":"AAAA",', 1
        )
    return forge.token(payload=raw)


def _reencoded(forge: Forge, encode: Callable[[str], bytes], note: str = "café") -> str:
    """The legitimate claims plus ``note`` as JSON in another encoding, signed.

    With an ASCII ``note``, UTF-16 and UTF-32 text is valid UTF-8 (NUL bytes
    and ASCII): it is then refused as JSON, not as an encoding.
    """
    text = json.dumps(forge.claims(note=note), separators=(",", ":"), ensure_ascii=False)
    return forge.token(payload=encode(text))


def _with_url_alphabet(forge: Forge) -> str:
    # ECDSA signatures are random: sign until the text holds both '-' and '_'.
    for _ in range(200):
        token = forge.token()
        if "-" in token and "_" in token:
            return token.translate(str.maketrans("-_", "+/"))
    raise AssertionError("no token with '-' and '_' in 200 signatures")


def _part_changed(token: str, index: int, change: Callable[[str], str]) -> str:
    parts = token.split(".")
    parts[index] = change(parts[index])
    return ".".join(parts)


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def _deep_header(forge: Forge, levels: int) -> str:
    header = json.dumps(forge.header(), separators=(",", ":"))
    return forge.token(header=header[:-1] + ',"x":' + _deep(levels) + "}")


CERTIFICATE = self_signed_certificate(ATTACKER_KEY)


def _hashed_certificate(algorithm: str) -> str:
    return b64(hashlib.new(algorithm, CERTIFICATE).digest())


ALG_ROWS = [
    *[
        Attack(f"alg {alg!r} unsigned", _header_changed(key=None, alg=alg), BAD_ALG)
        for alg in ("none", "None", "NONE", "nOnE")
    ],
    Attack("alg none with a real signature", lambda f: f.token(f.header(alg="none")), BAD_ALG),
    Attack("alg missing", lambda f: f.token(f.header(alg=DROP)), every("jws-malformed")),
    Attack("alg null", lambda f: f.token(f.header(alg=None)), every("jws-malformed")),
    Attack("alg a list", lambda f: f.token(f.header(alg=["ES256"])), every("jws-malformed")),
    Attack("alg a list of none", lambda f: f.token(f.header(alg=["none"])), every("jws-malformed")),
    Attack(
        "alg an object", lambda f: f.token(f.header(alg={"alg": "ES256"})), every("jws-malformed")
    ),
    Attack("alg empty", lambda f: f.token(f.header(alg="")), BAD_ALG),
    Attack("alg lower case es256", lambda f: f.token(f.header(alg="es256")), BAD_ALG),
    Attack("alg with a trailing space", lambda f: f.token(f.header(alg="ES256 ")), BAD_ALG),
    *[
        Attack(f"alg {alg}", _header_changed(alg=alg), BAD_ALG)
        for alg in ("ES384", "ES512", "ES256K")
    ],
    *[
        Attack(
            f"alg {alg} signed by an RSA key",
            _rsa_signed(alg),
            BAD_ALG,
        )
        for alg in ("RS256", "PS256")
    ],
    Attack(
        "alg EdDSA signed by an Ed25519 key",
        lambda f: f.token(f.header(alg="EdDSA"), key=ATTACKER_ED_KEY),
        BAD_ALG,
    ),
    *[
        Attack(
            f"HS256 keyed with the trusted public key as {form}",
            _hmac_with_public_key(form),
            BAD_ALG,
        )
        for form in ("PEM", "DER", "JWK")
    ],
]

KEY_HEADER_ROWS = [
    Attack(
        "embedded jwk of the attacker",
        lambda f: f.token(f.header(jwk=public_jwk(ATTACKER_KEY)), key=ATTACKER_KEY),
        every("jws-forbidden-header"),
    ),
    Attack(
        "jku pointing at the attacker",
        lambda f: f.token(f.header(jku="https://attacker.example/jwks.json"), key=ATTACKER_KEY),
        every("jws-forbidden-header"),
    ),
    Attack(
        "x5u pointing at the attacker",
        lambda f: f.token(f.header(x5u="https://attacker.example/cert.pem"), key=ATTACKER_KEY),
        every("jws-forbidden-header"),
    ),
    Attack(
        "x5c with a self-signed certificate",
        lambda f: f.token(f.header(x5c=[base64.b64encode(CERTIFICATE).decode()]), key=ATTACKER_KEY),
        every("jws-forbidden-header"),
    ),
    Attack(
        "x5t of a certificate",
        lambda f: f.token(f.header(x5t=_hashed_certificate("sha1")), key=ATTACKER_KEY),
        every("jws-forbidden-header"),
    ),
    Attack(
        "x5t#S256 of a certificate",
        lambda f: f.token(
            f.header(**{"x5t#S256": _hashed_certificate("sha256")}), key=ATTACKER_KEY
        ),
        every("jws-forbidden-header"),
    ),
]

KID_ROWS = [
    Attack(
        "kid path traversal",
        lambda f: f.token(f.header(kid="../../keys/x"), key=ATTACKER_KEY),
        UNKNOWN_KID,
    ),
    Attack(
        "kid SQL injection",
        lambda f: f.token(f.header(kid="' OR 1=1 --"), key=ATTACKER_KEY),
        UNKNOWN_KID,
    ),
    Attack("kid empty", lambda f: f.token(f.header(kid=""), key=ATTACKER_KEY), MALFORMED_KID),
    Attack(
        "kid of 4000 characters",
        lambda f: f.token(f.header(kid="k" * 4000), key=ATTACKER_KEY),
        UNKNOWN_KID,
    ),
    Attack(
        "kid with a NUL character",
        lambda f: f.token(f.header(kid=ES_KID + "\x00"), key=ATTACKER_KEY),
        # On SQLite (these tests) no key has that kid. On PostgreSQL the storage
        # layer refuses NUL in a query parameter first, with invalid-request
        # (tests/storage/test_postgresql.py): refused either way, under two codes.
        UNKNOWN_KID,
    ),
    Attack("kid a number", lambda f: f.token(f.header(kid=7), key=ATTACKER_KEY), MALFORMED_KID),
    Attack("kid null", lambda f: f.token(f.header(kid=None), key=ATTACKER_KEY), MALFORMED_KID),
    Attack(
        "kid a list", lambda f: f.token(f.header(kid=[ES_KID]), key=ATTACKER_KEY), MALFORMED_KID
    ),
    Attack(
        "kid an object",
        lambda f: f.token(f.header(kid={"kid": ES_KID}), key=ATTACKER_KEY),
        MALFORMED_KID,
    ),
    Attack(
        "kid of a key with another purpose",
        lambda f: f.token(f.header(kid=OTHER_PURPOSE_KID[f.entry]), key=ATTACKER_KEY),
        UNKNOWN_KID,
    ),
]

CRIT_ROWS = [
    Attack(
        "crit with a known extension (b64)",
        lambda f: f.token(f.header(crit=["b64"], b64=False)),
        every("jws-forbidden-header"),
    ),
    Attack(
        "crit with an unknown extension",
        lambda f: f.token(f.header(crit=["urn:example:x"], **{"urn:example:x": True})),
        every("jws-forbidden-header"),
    ),
    Attack(
        "crit naming a registered claim",
        lambda f: f.token(f.header(crit=["exp"])),
        every("jws-forbidden-header"),
    ),
    Attack("crit empty", lambda f: f.token(f.header(crit=[])), every("jws-forbidden-header")),
]

SIGNATURE_ROWS = [
    Attack("psychic signature r = s = 0", lambda f: f.token(signature=bytes(64)), BAD_SIGNATURE),
    Attack(
        "psychic signature r = s = n",
        lambda f: f.token(signature=P256_ORDER.to_bytes(32, "big") * 2),
        BAD_SIGNATURE,
    ),
    Attack("r = 0 with the real s", lambda f: _signature_with(f, r=0), BAD_SIGNATURE),
    Attack("s = 0 with the real r", lambda f: _signature_with(f, s=0), BAD_SIGNATURE),
    Attack("r = n with the real s", lambda f: _signature_with(f, r=P256_ORDER), BAD_SIGNATURE),
    Attack("s = n with the real r", lambda f: _signature_with(f, s=P256_ORDER), BAD_SIGNATURE),
    Attack(
        "r = s = 2^256 - 1",
        lambda f: f.token(signature=b"\xff" * 64),
        BAD_SIGNATURE,
    ),
    Attack("empty signature", lambda f: f.token(key=None), BAD_SIGNATURE),
    Attack(
        "signature of 63 bytes",
        lambda f: with_signature(f.token(), signature_bytes(f.token())[:63]),
        BAD_SIGNATURE,
    ),
    Attack(
        "signature of 65 bytes",
        lambda f: with_signature(f.token(), signature_bytes(f.token()) + b"\x00"),
        BAD_SIGNATURE,
    ),
    Attack("DER-encoded ECDSA signature", _der_signature, BAD_SIGNATURE),
    Attack("signed by the attacker", lambda f: f.token(key=ATTACKER_KEY), BAD_SIGNATURE),
    Attack(
        "Ed25519 signature under alg ES256",
        lambda f: f.token(key=ATTACKER_ED_KEY),
        BAD_SIGNATURE,
    ),
    Attack("signature of another token", _transplanted_signature, BAD_SIGNATURE),
]

JSON_ROWS = [
    Attack(
        "duplicate alg in the header",
        lambda f: f.token(
            header='{"alg":"none",' + json.dumps(f.header(), separators=(",", ":"))[1:]
        ),
        every("json-duplicate-member"),
    ),
    Attack(
        "duplicate member in the header",
        lambda f: _duplicate_first_member(f, "header"),
        every("json-duplicate-member"),
    ),
    Attack(
        "duplicate member in the payload",
        lambda f: _duplicate_first_member(f, "payload"),
        every("json-duplicate-member"),
    ),
    Attack(
        "duplicate member nested in the payload",
        _duplicate_nested_member,
        {INTAKE: "json-duplicate-member", CREDENTIAL: "json-duplicate-member"},
    ),
    Attack(
        "payload in UTF-16 without a BOM",
        lambda f: _reencoded(f, lambda text: text.encode("utf-16-le"), note="cafe"),
        every("json-invalid"),
    ),
    Attack(
        "payload in UTF-16 with a non-ASCII character",
        lambda f: _reencoded(f, lambda text: text.encode("utf-16-le")),
        every("json-not-utf8"),
    ),
    Attack(
        "payload in UTF-16 with a BOM",
        lambda f: _reencoded(f, lambda text: text.encode("utf-16")),
        every("json-not-utf8"),
    ),
    Attack(
        "payload in UTF-32",
        lambda f: _reencoded(f, lambda text: text.encode("utf-32-le"), note="cafe"),
        every("json-invalid"),
    ),
    Attack(
        "payload in Latin-1",
        lambda f: _reencoded(f, lambda text: text.encode("latin-1")),
        every("json-not-utf8"),
    ),
    Attack(
        "payload with a UTF-8 BOM",
        lambda f: _reencoded(f, lambda text: b"\xef\xbb\xbf" + text.encode()),
        every("json-not-utf8"),
    ),
    Attack(
        "header with a UTF-8 BOM",
        lambda f: f.token(header=b"\xef\xbb\xbf" + json_bytes(f.header())),
        every("json-not-utf8"),
    ),
    Attack(
        "overlong UTF-8 sequence",
        lambda f: _reencoded(f, lambda text: text.encode().replace("é".encode(), b"\xc0\xaf")),
        every("json-not-utf8"),
    ),
    Attack(
        "UTF-8 encoded surrogate",
        lambda f: _reencoded(f, lambda text: text.encode().replace("é".encode(), b"\xed\xa0\x80")),
        every("json-not-utf8"),
    ),
    Attack(
        "lone surrogate escape",
        lambda f: _reencoded(f, lambda text: text.replace("é", "\\ud800").encode()),
        every("json-invalid"),
    ),
    Attack(
        "token over the size limit", lambda f: f.token(payload=f.claims(x="A" * 20_000)), TOO_LARGE
    ),
    Attack(
        "10,000 levels of nesting",
        lambda f: f.token(payload='{"x":' + _deep(10_000) + "}"),
        TOO_LARGE,
    ),
    Attack(
        "1,000 levels of nesting in the payload",
        lambda f: f.token(payload='{"x":' + _deep(1_000) + "}"),
        every("json-too-deep"),
    ),
    Attack(
        "1,000 levels of nesting in the header",
        lambda f: _deep_header(f, 1_000),
        every("json-too-deep"),
    ),
    Attack(
        "one level past the depth limit",
        lambda f: f.token(payload='{"x":' + _deep(strictjson.DEFAULT_MAX_DEPTH) + "}"),
        every("json-too-deep"),
    ),
]

ENCODING_ROWS = [
    Attack(
        "padding on the header",
        lambda f: _part_changed(f.token(), 0, lambda part: part + "="),
        every("base64url-invalid"),
    ),
    Attack("padding on the signature", lambda f: f.token() + "==", every("base64url-invalid")),
    Attack("standard alphabet + and /", _with_url_alphabet, every("base64url-invalid")),
    Attack(
        "unused bits set in the signature",
        lambda f: _part_changed(f.token(), 2, set_unused_bits),
        every("base64url-invalid"),
    ),
    Attack(
        "space in the payload",
        lambda f: _part_changed(f.token(), 1, lambda part: part[:8] + " " + part[8:]),
        every("jws-malformed"),
    ),
    Attack("newline at the end", lambda f: f.token() + "\n", every("jws-malformed")),
    Attack(
        "tab before the signature",
        lambda f: _part_changed(f.token(), 2, lambda part: "\t" + part),
        every("jws-malformed"),
    ),
    Attack(
        "non-ASCII character",
        lambda f: _part_changed(f.token(), 1, lambda part: part + "é"),
        {
            INTAKE: "jws-malformed",
            CREDENTIAL: "presentation-malformed",
            KEY_BINDING: "presentation-malformed",
        },
    ),
]

STRUCTURE_ROWS = [
    Attack("JWE compact of five parts", lambda f: jwe_compact(), every("jws-malformed")),
    Attack(
        "JWS JSON general serialization",
        lambda f: json_serializations(f.token())["general"],
        every("jws-malformed"),
    ),
    Attack(
        "JWS JSON flattened serialization",
        lambda f: json_serializations(f.token())["flattened"],
        every("jws-malformed"),
    ),
    Attack("two parts", lambda f: f.token().rsplit(".", 1)[0], every("jws-malformed")),
    Attack("four parts", lambda f: f.token() + ".AAAA", every("jws-malformed")),
]

TYP_ROWS = [
    Attack(
        "typ of another token kind", lambda f: f.token(f.header(typ=OTHER_TYP[f.entry])), BAD_TYPE
    ),
    Attack("typ JWT", lambda f: f.token(f.header(typ="JWT")), BAD_TYPE),
    Attack("typ missing", lambda f: f.token(f.header(typ=DROP)), BAD_TYPE),
    Attack("typ in upper case", lambda f: f.token(f.header(typ=TYP[f.entry].upper())), BAD_TYPE),
    Attack(
        "typ with the application/ prefix",
        lambda f: f.token(f.header(typ="application/" + TYP[f.entry])),
        BAD_TYPE,
    ),
    Attack("typ a list", lambda f: f.token(f.header(typ=[TYP[f.entry]])), BAD_TYPE),
]


def _claims_changed(**changes: Any) -> Callable[[Forge], str]:
    return lambda f: f.token(payload=f.claims(**changes))


def _age_over_disclosed_as_string(forge: Forge) -> str:
    forged = disclosure("age_over_18", "true", b64(b"salt of the forgery"))
    forge.disclosures = [forged]
    return forge.token(payload=forge.claims(_sd=[digest(forged)]))


HUGE = 10**400  # an integer JSON allows and no double can hold

NUMBER_ROWS = [
    Attack(
        "iat a 400-digit integer",
        _claims_changed(iat=HUGE),
        {
            INTAKE: "attestation-bad-lifetime",
            CREDENTIAL: "credential-not-yet-valid",
            KEY_BINDING: "key-binding-stale",
        },
    ),
    Attack(
        "iat a 400-digit integer, exp a float near the double limit",
        # exp - iat overflows a float: the checks must compare, not subtract.
        _claims_changed(iat=HUGE, exp=1.7e308),
        {INTAKE: "attestation-bad-lifetime", CREDENTIAL: "credential-not-yet-valid"},
    ),
    Attack(
        "exp a 400-digit integer",
        _claims_changed(exp=HUGE),
        {INTAKE: "attestation-bad-lifetime"},
    ),
]

INTAKE_CLAIM_ROWS = [
    Attack(f"attestation {name}", build, {INTAKE: code})
    for name, build, code in [
        (
            "iat as a string",
            lambda f: f.token(payload=f.claims(iat=str(f.claims()["iat"]))),
            "attestation-bad-claims",
        ),
        ("exp as a boolean", _claims_changed(exp=True), "attestation-bad-claims"),
        ("aud as a list of numbers", _claims_changed(aud=[1]), "attestation-bad-claims"),
        ("aud as an empty list", _claims_changed(aud=[]), "attestation-bad-claims"),
        ("aud as an object", _claims_changed(aud={"aud": "x"}), "attestation-bad-claims"),
        ("cnf as a string", _claims_changed(cnf="holder"), "attestation-personal-data"),
        (
            "age_over values as strings",
            lambda f: f.token(
                payload=f.claims(age_over={k: "true" for k in f.claims()["age_over"]})
            ),
            "attestation-bad-claims",
        ),
        ("age_over as a string", _claims_changed(age_over="18"), "attestation-bad-claims"),
        ("iss as a list", _claims_changed(iss=[ES_VERIFIER]), "attestation-bad-claims"),
        ("jti as a number", _claims_changed(jti=2**100), "attestation-bad-claims"),
        ("method as a list", _claims_changed(method=["other"]), "attestation-bad-claims"),
    ]
]

CREDENTIAL_CLAIM_ROWS = [
    Attack(f"credential {name}", build, {CREDENTIAL: code})
    for name, build, code in [
        ("iat as a string", _claims_changed(iat=str(NOW - 3600)), "credential-bad-claims"),
        ("exp as a boolean", _claims_changed(exp=True), "credential-bad-claims"),
        ("cnf as a string", _claims_changed(cnf="holder"), "credential-bad-claims"),
        ("cnf.jwk as a string", _claims_changed(cnf={"jwk": "holder"}), "credential-bad-claims"),
        (
            "cnf with a jwk and a kid",
            _claims_changed(cnf={"jwk": public_jwk(HOLDER_KEY), "kid": "k"}),
            "credential-bad-claims",
        ),
        ("iss as a list", _claims_changed(iss=[ISSUER]), "credential-wrong-issuer"),
        ("vct as a number", _claims_changed(vct=1), "credential-bad-claims"),
        ("_sd_alg as a list", _claims_changed(_sd_alg=["sha-256"]), "credential-bad-claims"),
        (
            "age_over_18 disclosed as a string",
            _age_over_disclosed_as_string,
            "credential-bad-claims",
        ),
    ]
]

KEY_BINDING_CLAIM_CHANGES: list[tuple[str, dict[str, Any], str]] = [
    ("iat as a string", {"iat": str(NOW)}, "key-binding-bad-claims"),
    ("iat as a boolean", {"iat": True}, "key-binding-bad-claims"),
    ("aud as a list", {"aud": [AUDIENCE]}, "key-binding-bad-claims"),
    ("aud as an object", {"aud": {"aud": AUDIENCE}}, "key-binding-bad-claims"),
    ("nonce as a number", {"nonce": 12345}, "key-binding-bad-claims"),
    ("sd_hash as a list", {"sd_hash": [digest(GOOD_SD_JWT)]}, "key-binding-bad-claims"),
]
KEY_BINDING_CLAIM_ROWS = [
    Attack(f"key binding {name}", _claims_changed(**changes), {KEY_BINDING: code})
    for name, changes, code in KEY_BINDING_CLAIM_CHANGES
]


def _eddsa(forge: Forge, key: Any = ED_VERIFIER_KEY, signature: bytes | None = None) -> str:
    """An attestation of the registered Ed25519 verifier."""
    return forge.token(
        forge.header(alg="EdDSA", kid=ED_KID),
        forge.claims(iss=ED_VERIFIER),
        key=key,
        signature=signature,
    )


EDDSA_ROWS = [
    Attack(f"EdDSA {name}", build, {INTAKE: code})
    for name, build, code in [
        (
            "psychic signature (all zeros)",
            lambda f: _eddsa(f, signature=bytes(64)),
            "attestation-bad-signature",
        ),
        (
            "S + L (non-canonical twin)",
            lambda f: ed25519_s_plus_order(_eddsa(f)),
            "attestation-bad-signature",
        ),
        (
            "signed by the attacker",
            lambda f: _eddsa(f, key=ATTACKER_ED_KEY),
            "attestation-bad-signature",
        ),
        (
            "HS256 keyed with the Ed25519 public key as PEM",
            lambda f: hmac_forgery(
                f.header(alg="HS256", kid=ED_KID),
                f.claims(iss=ED_VERIFIER),
                public_key_secrets(ED_VERIFIER_KEY)["PEM"],
            ),
            "attestation-bad-algorithm",
        ),
        (
            "ES256 signature under the Ed25519 kid",
            lambda f: f.token(f.header(kid=ED_KID), f.claims(iss=ED_VERIFIER)),
            "attestation-bad-algorithm",
        ),
    ]
]

ATTACKS: list[Attack] = [
    *ALG_ROWS,
    *KEY_HEADER_ROWS,
    *KID_ROWS,
    *CRIT_ROWS,
    *SIGNATURE_ROWS,
    *JSON_ROWS,
    *NUMBER_ROWS,
    *ENCODING_ROWS,
    *STRUCTURE_ROWS,
    *TYP_ROWS,
    *INTAKE_CLAIM_ROWS,
    *CREDENTIAL_CLAIM_ROWS,
    *KEY_BINDING_CLAIM_ROWS,
    *EDDSA_ROWS,
]
CASES = [
    pytest.param(entry, attack, id=f"{entry}: {attack.name}")
    for attack in ATTACKS
    for entry in ENTRY_POINTS
    if entry in attack.codes
]


def test_attack_names_are_unique() -> None:
    names = [attack.name for attack in ATTACKS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("entry", "attack"), CASES)
def test_attack_is_refused_with_its_exact_code(
    entry: str, attack: Attack, request: pytest.FixtureRequest
) -> None:
    point = _entry_point(entry, request)
    code = attack.codes[entry]
    assert code in CODES
    assert point.submit(attack.build(point.forge)) == code


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_the_untouched_token_is_accepted(entry: str, request: pytest.FixtureRequest) -> None:
    # The control for every row above: each refusal is caused by the defect alone.
    point = _entry_point(entry, request)
    assert point.submit(point.forge.token()) == ACCEPTED


def test_the_untouched_eddsa_attestation_is_accepted(request: pytest.FixtureRequest) -> None:
    point = _entry_point(INTAKE, request)
    assert point.submit(_eddsa(point.forge)) == ACCEPTED


# --- substitution of one token kind for another (RFC 8725 sections 3.11, 3.12) ----


def test_the_three_token_kinds_have_distinct_types() -> None:
    from ageverify.formats import attestation, sdjwt

    kinds = {attestation.ATTESTATION_TYP, sdjwt.CREDENTIAL_TYP, sdjwt.KB_TYP}
    assert len(kinds) == 3
    assert kinds == set(TYP.values())


@pytest.mark.parametrize(
    ("source", "target"),
    [(source, target) for source in ENTRY_POINTS for target in ENTRY_POINTS if source != target],
)
def test_a_valid_token_of_one_kind_is_refused_in_the_place_of_another(
    source: str, target: str, request: pytest.FixtureRequest
) -> None:
    token = _entry_point(source, request).forge.token()
    assert _entry_point(target, request).submit(token) == BAD_TYPE[target]


# --- malleable signatures -----------------------------------------------------------
#
# ES256 verification accepts both (r, s) and (r, n - s): RFC 7518 does not ask
# for low-s signatures and the signers in the field (PyJWT, WebCrypto, HSMs)
# produce either. Nothing in ageverify may therefore treat a token's text as
# its identity; single use is decided by jti (attestations) and by nonce (KB-JWT).


def test_high_s_twin_of_an_attestation_is_the_same_single_use_attestation(
    request: pytest.FixtureRequest,
) -> None:
    point = _entry_point(INTAKE, request)
    token = point.forge.token()
    twin = high_s_twin(token)
    assert twin != token
    assert point.submit(twin) == ACCEPTED
    assert point.submit(token) == "attestation-replayed"


def test_high_s_twin_of_a_credential_verifies_with_the_same_facts() -> None:
    token = _credential().forge.token()
    facts = []
    for issuer_jwt in (token, high_s_twin(token)):
        platform = _platform()
        nonce = platform.challenge()
        sd_jwt = issuer_jwt + "~" + DISCLOSURES[2] + "~"
        proof = platform.verify(sd_jwt + _key_binding(sd_jwt, nonce), nonce=nonce, min_age=18)
        facts.append(proof.facts)
    assert facts == [{"age_over_18": AGE_FACTS["age_over_18"]}] * 2


def test_high_s_twin_of_a_key_binding_jwt_cannot_reuse_its_nonce() -> None:
    platform = _platform()
    nonce = platform.challenge()
    kb_jwt = _key_binding(GOOD_SD_JWT, nonce)
    platform.verify(GOOD_SD_JWT + kb_jwt, nonce=nonce, min_age=18)
    outcome = _outcome(
        lambda: platform.verify(GOOD_SD_JWT + high_s_twin(kb_jwt), nonce=nonce, min_age=18)
    )
    assert outcome == "nonce-reused"
    # On a nonce of its own the twin is simply a valid KB-JWT: the holder signed it.
    fresh = platform.challenge()
    twin = high_s_twin(_key_binding(GOOD_SD_JWT, fresh))
    platform.verify(GOOD_SD_JWT + twin, nonce=fresh, min_age=18)


# The one place where the twin must not count as another credential: the
# Privacy Pass daily quota, counted per credential. It is keyed on the signed
# part of the credential (ageverify.issuer.tokens._credential_hash), which the
# twin shares; keyed on the signature's bytes, the twin would be a second quota.
QUOTA = 3
TOKEN_REQUEST_PATH = "/v1/privacy-pass/token-request"  # noqa: S105 - a path


@pytest.fixture
def app(instance: Path, clock: MovableClock) -> Iterator[Flask]:
    """The development issuer of tests/conftest.py with a daily token quota of QUOTA."""
    application = create_app(
        {"env": "development", "instance_path": instance, "token_daily_quota": QUOTA},
        clock=clock,
    )
    state = application.extensions["ageverify"]
    register_demo_verifier(state.sessions, DemoVerifier.load_or_create(instance), now=clock())
    yield application
    state.close()


def _token_request(client: FlaskClient, now: float, threshold: int = 18) -> bytes:
    """A TokenRequest for the key of ``threshold`` signing at ``now``, built as RFC 9578 says."""
    metadata = _body(client.get("/.well-known/age-verification"))["privacy_pass"]
    directory = privacypass.parse_directory(
        client.get("/.well-known/private-token-issuer-directory").data
    )
    spki = {key.token_key_id: key.token_key for key in directory.token_keys}
    for encoded, entry in metadata["token_keys"].items():
        key_id = jose.b64url_decode(encoded)
        if entry["threshold"] == threshold and entry["not_before"] <= now and key_id in spki:
            break
    else:
        raise AssertionError("no token key signs now")
    public_key = privacypass.decode_pss_spki(spki[key_id])
    challenge = privacypass.TokenChallenge(
        issuer_name="127.0.0.1:8000",
        redemption_context=os.urandom(32),
        origin_info=("platform.example",),
    )
    token_input = privacypass.authenticator_input(
        os.urandom(32), privacypass.challenge_digest(challenge), key_id
    )
    blinded = blindrsa.blind(public_key, token_input)
    return privacypass.TokenRequest(
        truncated_token_key_id=privacypass.truncated_token_key_id(key_id),
        blinded_msg=blinded.blinded_msg,
    ).encode()


def test_high_s_twin_of_a_credential_gets_no_second_token_quota(
    client: FlaskClient, clock: MovableClock, issue: Callable[..., list[HeldCredential]]
) -> None:
    (held,) = issue(count=1)
    twin = HeldCredential(
        held.credential.replace(held.issuer_jwt, high_s_twin(held.issuer_jwt), 1), held.holder_key
    )

    def request_token(credential: HeldCredential) -> int:
        nonce = _body(client.post("/v1/privacy-pass/nonce"))["nonce"]
        presentation = credential.present("http://127.0.0.1:8000", nonce, iat=int(clock()))
        response = client.post(
            TOKEN_REQUEST_PATH,
            data=_token_request(client, clock()),
            headers={"Authorization": f'AgeCredential presentation="{presentation}"'},
            content_type="application/private-token-request",
        )
        return response.status_code

    assert [request_token(held) for _ in range(QUOTA + 1)] == [200] * QUOTA + [429]
    assert request_token(twin) == 429


# --- size: refused before anything is parsed ----------------------------------------


def _never_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*_: object, **__: object) -> None:
        raise AssertionError("an oversized token reached a parser")

    monkeypatch.setattr(strictjson, "loads", never)
    monkeypatch.setattr(jose, "_decode_checked", never)
    monkeypatch.setattr(jose, "b64url_decode", never)


def test_oversized_attestation_is_refused_by_intake_before_parsing(
    intake_app: IntakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    point = _intake(intake_app)
    token = point.forge.token(payload=point.forge.claims(x="A" * 1_000_000))
    _never_parse(monkeypatch)
    state = intake_app.app.extensions["ageverify"]
    with state.sessions() as session, pytest.raises(IssuanceError) as caught:
        verify_attestation(
            session,
            token,
            issuer=intake_app.issuer,
            now=intake_app.clock(),
            leeway=60,
            thresholds=intake_app.thresholds,
        )
    assert caught.value.code == "jws-too-large"


def test_oversized_attestation_over_http_parses_the_body_only(
    intake_app: IntakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    point = _intake(intake_app)
    token = point.forge.token(payload=point.forge.claims(x="A" * 20_000))
    parsed: list[int] = []
    loads = strictjson.loads

    def counting(data: bytes | str, **options: Any) -> Any:
        parsed.append(len(data))
        return loads(data, **options)

    monkeypatch.setattr(strictjson, "loads", counting)
    assert point.submit(token) == "jws-too-large"
    # One parse: the request body. The token inside it was refused on its length.
    assert len(parsed) == 1
    assert parsed[0] > len(token)


def test_body_over_the_limit_is_refused_before_it_is_read(
    intake_app: IntakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    _never_parse(monkeypatch)
    body = b'{"attestation":"' + b"A" * 1_000_000 + b'"}'
    response = intake_app.client.post("/v1/credentials", data=body, content_type="application/json")
    assert (response.status_code, _body(response)["code"]) == (413, "payload-too-large")


def test_body_nested_ten_thousand_levels_is_malformed_json(intake_app: IntakeApp) -> None:
    body = b'{"attestation":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    response = intake_app.client.post("/v1/credentials", data=body, content_type="application/json")
    assert (response.status_code, _body(response)["code"]) == (400, "malformed-json")


@pytest.mark.parametrize("entry", [CREDENTIAL, KEY_BINDING])
def test_oversized_presentation_is_refused_by_the_sdk_before_parsing(
    entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = _platform()
    nonce = platform.challenge()
    if entry == CREDENTIAL:
        big = compact(
            _credential_header(), _credential_claims() | {"x": "A" * 1_000_000}, ISSUER_KEY
        )
        sd_jwt = big + "~" + DISCLOSURES[2] + "~"
        presentation = sd_jwt + _key_binding(sd_jwt, nonce)
    else:
        claims = {"iat": NOW, "aud": AUDIENCE, "nonce": nonce, "x": "A" * 1_000_000}
        presentation = GOOD_SD_JWT + compact({"alg": "ES256", "typ": "kb+jwt"}, claims, HOLDER_KEY)
    _never_parse(monkeypatch)
    monkeypatch.setattr(jose, "decode_compact", lambda *_, **__: pytest.fail("parsed"))
    outcome = _outcome(lambda: platform.verify(presentation, nonce=nonce, min_age=18))
    assert outcome == "presentation-too-large"
