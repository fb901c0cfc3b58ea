"""Bad input through the HTTP API: every case gets its exact 4xx code, never a 500.

Each row builds one defective request the way an attacker or a broken
client would, sends it through the test client, and checks status and code.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient
from presenting import HeldCredential, HolderKeys, MovableClock
from werkzeug.test import TestResponse

from ageverify.demo import DEMO_VERIFIER_ID, DemoVerifier
from ageverify.errors import CODES
from ageverify.formats import jose
from ageverify.formats.attestation import ATTESTATION_TYP

PLATFORM = "https://video.example"
NONCE = "n-0S6_WzA2Mj"


@dataclass
class Context:
    """What a case needs: the client, signers, a clock, an admin token."""

    client: FlaskClient
    attest: Callable[..., str]
    issue: Callable[..., list[HeldCredential]]
    clock: MovableClock
    admin_token: str
    issuer: str
    demo_verifier: DemoVerifier

    def post_credentials(self, attestation: str, keys: int = 1) -> TestResponse:
        body = {"attestation": attestation, "holder_keys": HolderKeys.generate(keys).jwks}
        return self.client.post("/v1/credentials", json=body)

    def verify(self, presentation: str, **overrides: Any) -> TestResponse:
        body = {"presentation": presentation, "audience": PLATFORM, "nonce": NONCE, "min_age": 18}
        body.update(overrides)
        return self.client.post("/v1/presentations/verify", json=body)

    def adult(self) -> HeldCredential:
        return self.issue(count=1, age=30)[0]


def _b64(data: dict[str, Any]) -> str:
    return jose.b64url_encode(json.dumps(data).encode())


def _raw(ctx: Context, path: str, data: bytes, content_type: str = "application/json") -> Any:
    return ctx.client.post(path, data=data, content_type=content_type)


# --- envelope ---------------------------------------------------------------


def malformed_json(ctx: Context) -> TestResponse:
    return _raw(ctx, "/v1/credentials", b'{"attestation": ')


def duplicate_member(ctx: Context) -> TestResponse:
    return _raw(ctx, "/v1/credentials", b'{"attestation":"a.b.c","attestation":"d.e.f"}')


def nan_in_body(ctx: Context) -> TestResponse:
    return _raw(ctx, "/v1/presentations/verify", b'{"min_age": NaN}')


def not_utf8(ctx: Context) -> TestResponse:
    return _raw(ctx, "/v1/credentials", b'{"attestation":"\xff"}')


def body_is_array(ctx: Context) -> TestResponse:
    return _raw(ctx, "/v1/credentials", b"[]")


def wrong_content_type(ctx: Context) -> TestResponse:
    return _raw(ctx, "/v1/credentials", b"{}", content_type="text/plain")


def form_encoded(ctx: Context) -> TestResponse:
    return ctx.client.post("/v1/credentials", data={"attestation": "x"})


def oversized_body(ctx: Context) -> TestResponse:
    return _raw(ctx, "/v1/credentials", b'{"attestation":"' + b"a" * 70_000 + b'"}')


def attestation_wrong_type(ctx: Context) -> TestResponse:
    return ctx.client.post("/v1/credentials", json={"attestation": 42, "holder_keys": []})


def holder_keys_missing(ctx: Context) -> TestResponse:
    return ctx.client.post("/v1/credentials", json={"attestation": ctx.attest()})


def unknown_member(ctx: Context) -> TestResponse:
    body = {"attestation": ctx.attest(), "holder_keys": HolderKeys.generate(1).jwks, "name": "x"}
    return ctx.client.post("/v1/credentials", json=body)


def holder_keys_wrong_type(ctx: Context) -> TestResponse:
    return ctx.client.post(
        "/v1/credentials", json={"attestation": ctx.attest(), "holder_keys": "key"}
    )


def min_age_as_string(ctx: Context) -> TestResponse:
    return ctx.verify("x~", min_age="18")


def min_age_as_boolean(ctx: Context) -> TestResponse:
    return ctx.verify("x~", min_age=True)


def nonce_wrong_type(ctx: Context) -> TestResponse:
    return ctx.verify("x~", nonce=["n"])


# --- attestations -----------------------------------------------------------


def unknown_verifier(ctx: Context) -> TestResponse:
    stranger = DemoVerifier(Ed25519PrivateKey.generate())
    token = stranger.attest(
        issuer=ctx.issuer,
        age_over={18: True},
        now=ctx.clock(),
        extra_claims={"iss": "unregistered-verifier"},
    )
    return ctx.post_credentials(token)


def suspended_verifier(ctx: Context) -> TestResponse:
    headers = {"Authorization": f"Bearer {ctx.admin_token}"}
    suspended = ctx.client.post(f"/v1/admin/verifiers/{DEMO_VERIFIER_ID}/suspend", headers=headers)
    assert suspended.status_code == 200
    return ctx.post_credentials(ctx.attest())


def replayed_attestation(ctx: Context) -> TestResponse:
    token = ctx.attest()
    assert ctx.post_credentials(token).status_code == 200
    return ctx.post_credentials(token)


def expired_attestation(ctx: Context) -> TestResponse:
    return ctx.post_credentials(ctx.attest(now=ctx.clock() - 1_000, lifetime=300))


def future_attestation(ctx: Context) -> TestResponse:
    return ctx.post_credentials(ctx.attest(now=ctx.clock() + 1_000))


def attestation_lifetime_too_long(ctx: Context) -> TestResponse:
    return ctx.post_credentials(ctx.attest(lifetime=3_600))


def attestation_with_personal_data(ctx: Context) -> TestResponse:
    return ctx.post_credentials(ctx.attest(extra_claims={"birthdate": "2009-04-01"}))


def attestation_with_name(ctx: Context) -> TestResponse:
    return ctx.post_credentials(ctx.attest(extra_claims={"given_name": "Alex"}))


def attestation_for_other_issuer(ctx: Context) -> TestResponse:
    return ctx.post_credentials(ctx.attest(issuer="https://other-issuer.example"))


def attestation_method_not_accredited(ctx: Context) -> TestResponse:
    return ctx.post_credentials(ctx.attest(method="bank"))


def attestation_unknown_key(ctx: Context) -> TestResponse:
    claims = jwt.decode(ctx.attest(), options={"verify_signature": False})
    other = Ed25519PrivateKey.generate()
    token = jwt.encode(
        claims, other, algorithm="EdDSA", headers={"typ": ATTESTATION_TYP, "kid": "not-a-kid"}
    )
    return ctx.post_credentials(token)


def attestation_bad_signature(ctx: Context) -> TestResponse:
    claims = jwt.decode(ctx.attest(), options={"verify_signature": False})
    other = Ed25519PrivateKey.generate()
    headers = {"typ": ATTESTATION_TYP, "kid": ctx.demo_verifier.kid}
    return ctx.post_credentials(jwt.encode(claims, other, algorithm="EdDSA", headers=headers))


def attestation_alg_none(ctx: Context) -> TestResponse:
    header, payload, _ = ctx.attest().split(".")
    forged = _b64({"alg": "none", "typ": ATTESTATION_TYP, "kid": ctx.demo_verifier.kid})
    return ctx.post_credentials(f"{forged}.{payload}.")


def attestation_wrong_typ(ctx: Context) -> TestResponse:
    claims = jwt.decode(ctx.attest(), options={"verify_signature": False})
    headers = {"typ": "JWT", "kid": ctx.demo_verifier.kid}
    token = jwt.encode(claims, ctx.demo_verifier.private_key, algorithm="EdDSA", headers=headers)
    return ctx.post_credentials(token)


def attestation_not_a_jws(ctx: Context) -> TestResponse:
    return ctx.post_credentials("a.b.c.d.e")


def holder_key_private(ctx: Context) -> TestResponse:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = jose.public_jwk(key)
    jwk["d"] = jose.b64url_encode(key.private_numbers().private_value.to_bytes(32, "big"))
    return ctx.client.post(
        "/v1/credentials", json={"attestation": ctx.attest(), "holder_keys": [jwk]}
    )


def holder_keys_duplicate(ctx: Context) -> TestResponse:
    jwk = HolderKeys.generate(1).jwks[0]
    return ctx.client.post(
        "/v1/credentials", json={"attestation": ctx.attest(), "holder_keys": [jwk, jwk]}
    )


def holder_keys_too_many(ctx: Context) -> TestResponse:
    return ctx.post_credentials(ctx.attest(), keys=31)


# --- presentations ----------------------------------------------------------


def tampered_disclosure(ctx: Context) -> TestResponse:
    # A 15-year-old turns age_over_18 false into true, keeping the salt.
    teen = ctx.issue(count=1, age=15)[0]
    salt, name, _ = json.loads(base64.urlsafe_b64decode(teen.disclosure_for("age_over_18") + "=="))
    forged = jose.b64url_encode(json.dumps([salt, name, True]).encode())
    teen.credential = teen.credential.replace(teen.disclosure_for("age_over_18"), forged)
    return ctx.verify(teen.present(PLATFORM, NONCE, iat=int(ctx.clock())))


def stripped_kb_jwt(ctx: Context) -> TestResponse:
    presentation = ctx.adult().present(PLATFORM, NONCE, iat=int(ctx.clock()))
    return ctx.verify(presentation.rsplit("~", 1)[0] + "~")


def wrong_audience(ctx: Context) -> TestResponse:
    presentation = ctx.adult().present("https://other.example", NONCE, iat=int(ctx.clock()))
    return ctx.verify(presentation)


def wrong_nonce(ctx: Context) -> TestResponse:
    return ctx.verify(ctx.adult().present(PLATFORM, "another-nonce", iat=int(ctx.clock())))


def stale_key_binding(ctx: Context) -> TestResponse:
    return ctx.verify(ctx.adult().present(PLATFORM, NONCE, iat=int(ctx.clock()) - 3_600))


def expired_credential(ctx: Context) -> TestResponse:
    held = ctx.adult()
    exp = jwt.decode(held.issuer_jwt, options={"verify_signature": False})["exp"]
    ctx.clock.now = exp + 120
    return ctx.verify(held.present(PLATFORM, NONCE, iat=int(ctx.clock())))


def revoked_key(ctx: Context) -> TestResponse:
    held = ctx.adult()
    kid = jwt.get_unverified_header(held.issuer_jwt)["kid"]
    headers = {"Authorization": f"Bearer {ctx.admin_token}"}
    assert ctx.client.post(f"/v1/admin/keys/{kid}/revoke", headers=headers).status_code == 200
    return ctx.verify(held.present(PLATFORM, NONCE, iat=int(ctx.clock())))


def unknown_kid(ctx: Context) -> TestResponse:
    held = ctx.adult()
    _, payload, signature = held.issuer_jwt.split(".")
    header = _b64({"alg": "ES256", "typ": "dc+sd-jwt", "kid": "unknown-kid"})
    held.credential = held.credential.replace(held.issuer_jwt, f"{header}.{payload}.{signature}")
    return ctx.verify(held.present(PLATFORM, NONCE, iat=int(ctx.clock())))


def credential_alg_none(ctx: Context) -> TestResponse:
    held = ctx.adult()
    _, payload, _ = held.issuer_jwt.split(".")
    kid = jwt.get_unverified_header(held.issuer_jwt)["kid"]
    header = _b64({"alg": "none", "typ": "dc+sd-jwt", "kid": kid})
    held.credential = held.credential.replace(held.issuer_jwt, f"{header}.{payload}.")
    return ctx.verify(held.present(PLATFORM, NONCE, iat=int(ctx.clock())))


def kb_signed_by_other_key(ctx: Context) -> TestResponse:
    held = ctx.adult()
    held.holder_key = ec.generate_private_key(ec.SECP256R1())
    return ctx.verify(held.present(PLATFORM, NONCE, iat=int(ctx.clock())))


def garbage_presentation(ctx: Context) -> TestResponse:
    return ctx.verify("not a presentation")


def oversized_presentation(ctx: Context) -> TestResponse:
    return ctx.verify("A" * 20_000 + "~")


def requirement_invalid(ctx: Context) -> TestResponse:
    return ctx.verify(ctx.adult().present(PLATFORM, NONCE, iat=int(ctx.clock())), min_age=17)


def requirement_not_disclosed(ctx: Context) -> TestResponse:
    presentation = ctx.adult().present(
        PLATFORM, NONCE, claims=("age_over_13",), iat=int(ctx.clock())
    )
    return ctx.verify(presentation)


def underage_for_18(ctx: Context) -> TestResponse:
    teen = ctx.issue(count=1, age=15)[0]
    return ctx.verify(teen.present(PLATFORM, NONCE, iat=int(ctx.clock())))


def adult_in_teen_room(ctx: Context) -> TestResponse:
    presentation = ctx.adult().present(
        PLATFORM, NONCE, claims=("age_over_13", "age_over_18"), iat=int(ctx.clock())
    )
    return ctx.verify(presentation, min_age=13, max_age=17)


CASES: list[tuple[Callable[[Context], TestResponse], int, str]] = [
    (malformed_json, 400, "malformed-json"),
    (duplicate_member, 400, "malformed-json"),
    (nan_in_body, 400, "malformed-json"),
    (not_utf8, 400, "malformed-json"),
    (body_is_array, 400, "invalid-request"),
    (wrong_content_type, 415, "unsupported-media-type"),
    (form_encoded, 415, "unsupported-media-type"),
    (oversized_body, 413, "payload-too-large"),
    (attestation_wrong_type, 400, "invalid-request"),
    (holder_keys_missing, 400, "invalid-request"),
    (unknown_member, 400, "invalid-request"),
    (holder_keys_wrong_type, 400, "holder-keys-invalid"),
    (min_age_as_string, 400, "invalid-request"),
    (min_age_as_boolean, 400, "invalid-request"),
    (nonce_wrong_type, 400, "invalid-request"),
    (unknown_verifier, 403, "attestation-unknown-verifier"),
    (suspended_verifier, 403, "attestation-verifier-suspended"),
    (replayed_attestation, 409, "attestation-replayed"),
    (expired_attestation, 403, "attestation-expired"),
    (future_attestation, 403, "attestation-not-yet-valid"),
    (attestation_lifetime_too_long, 400, "attestation-bad-lifetime"),
    (attestation_with_personal_data, 400, "attestation-personal-data"),
    (attestation_with_name, 400, "attestation-personal-data"),
    (attestation_for_other_issuer, 403, "attestation-wrong-audience"),
    (attestation_method_not_accredited, 403, "attestation-method-not-allowed"),
    (attestation_unknown_key, 403, "attestation-unknown-key"),
    (attestation_bad_signature, 403, "attestation-bad-signature"),
    (attestation_alg_none, 400, "attestation-bad-algorithm"),
    (attestation_wrong_typ, 400, "attestation-bad-type"),
    (attestation_not_a_jws, 400, "jws-malformed"),
    (holder_key_private, 400, "holder-key-private"),
    (holder_keys_duplicate, 400, "holder-keys-duplicate"),
    (holder_keys_too_many, 400, "holder-keys-invalid"),
    (tampered_disclosure, 400, "disclosure-unreferenced"),
    (stripped_kb_jwt, 400, "key-binding-missing"),
    (wrong_audience, 400, "key-binding-wrong-audience"),
    (wrong_nonce, 400, "key-binding-wrong-nonce"),
    (stale_key_binding, 400, "key-binding-stale"),
    (expired_credential, 400, "credential-expired"),
    (revoked_key, 400, "credential-unknown-key"),
    (unknown_kid, 400, "credential-unknown-key"),
    (credential_alg_none, 400, "credential-bad-algorithm"),
    (kb_signed_by_other_key, 400, "key-binding-bad-signature"),
    (garbage_presentation, 400, "presentation-malformed"),
    (oversized_presentation, 413, "presentation-too-large"),
    (requirement_invalid, 400, "requirement-invalid"),
    (requirement_not_disclosed, 400, "requirement-not-disclosed"),
    (underage_for_18, 403, "requirement-not-met"),
    (adult_in_teen_room, 403, "requirement-not-met"),
]


@pytest.fixture
def ctx(
    client: FlaskClient,
    attest: Callable[..., str],
    issue: Callable[..., list[HeldCredential]],
    clock: MovableClock,
    admin_token: str,
    app: Any,
    demo_verifier: DemoVerifier,
) -> Context:
    issuer = app.extensions["ageverify"].settings.issuer_url
    return Context(client, attest, issue, clock, admin_token, issuer, demo_verifier)


@pytest.mark.parametrize(
    ("case", "status", "code"), CASES, ids=[case.__name__ for case, _, _ in CASES]
)
def test_bad_input_gets_its_code(
    ctx: Context, case: Callable[[Context], TestResponse], status: int, code: str
) -> None:
    response = case(ctx)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    assert response.json == {"code": code, "description": response.json["description"]}
    assert CODES[code][0] == status
    assert response.headers["Cache-Control"] == "no-store"
    assert "Traceback" not in response.get_data(as_text=True)
