"""The admin API: bearer tokens, verifier registry, signing key operations."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from presenting import HolderKeys

from ageverify.demo import DEMO_VERIFIER_ID
from ageverify.formats import jose
from ageverify.issuer import admin_tokens
from ageverify.storage.db import transaction


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def revoked_token(app: Flask) -> str:
    sessions = app.extensions["ageverify"].sessions
    with transaction(sessions) as session:
        token = admin_tokens.create_token(session, "old")
    token_id = token.removeprefix("avat_").split(".")[0]
    with transaction(sessions) as session:
        admin_tokens.revoke_token(session, token_id)
    return token


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer not-a-token",
        "Bearer avat_AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
    ids=["absent", "empty", "no-credentials", "basic", "garbage", "unknown-token"],
)
def test_admin_requires_a_valid_bearer_token(
    client: FlaskClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in (("get", "/v1/admin/verifiers"), ("get", "/v1/admin/keys")):
        response = getattr(client, method)(path, headers=headers)
        assert (response.status_code, response.json["code"]) == (401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_refused(client: FlaskClient, revoked_token: str) -> None:
    response = client.get("/v1/admin/verifiers", headers=_auth(revoked_token))
    assert response.status_code == 401


def test_wrong_secret_for_a_real_token_id_is_refused(client: FlaskClient, admin_token: str) -> None:
    token_id, secret = admin_token.split(".")
    forged = token_id + "." + ("A" if secret[0] != "A" else "B") + secret[1:]
    assert client.get("/v1/admin/keys", headers=_auth(forged)).status_code == 401


def test_verifier_lifecycle(
    client: FlaskClient, admin_token: str, attest: Callable[..., str]
) -> None:
    key = Ed25519PrivateKey.generate()
    body = {
        "id": "bank-of-example",
        "name": "Bank of Example",
        "jwks": {"keys": [jose.public_jwk(key.public_key())]},
        "methods": ["bank"],
    }
    created = client.post("/v1/admin/verifiers", json=body, headers=_auth(admin_token))
    assert created.status_code == 201
    assert created.json["status"] == "active"
    assert created.json["keys"][0]["alg"] == "EdDSA"
    again = client.post("/v1/admin/verifiers", json=body, headers=_auth(admin_token))
    assert (again.status_code, again.json["code"]) == (409, "conflict")

    listed = client.get("/v1/admin/verifiers", headers=_auth(admin_token)).json["verifiers"]
    assert {v["id"] for v in listed} == {DEMO_VERIFIER_ID, "bank-of-example"}

    path = "/v1/admin/verifiers/bank-of-example"
    suspended = client.post(path + "/suspend", headers=_auth(admin_token))
    assert suspended.json["status"] == "suspended"
    assert client.get(path, headers=_auth(admin_token)).json["status"] == "suspended"
    resumed = client.post(path + "/resume", headers=_auth(admin_token))
    assert resumed.json["status"] == "active"

    second = jose.public_jwk(Ed25519PrivateKey.generate().public_key())
    added = client.post(path + "/keys", json={"jwk": second}, headers=_auth(admin_token))
    assert added.status_code == 201 and len(added.json["keys"]) == 2
    kid = added.json["keys"][0]["kid"]
    removed = client.delete(f"{path}/keys/{kid}", headers=_auth(admin_token))
    assert removed.status_code == 200 and len(removed.json["keys"]) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"id": "v", "name": "V", "jwks": [], "methods": ["bank"]}, "invalid-request"),
        (
            {"id": "v", "name": "V", "jwks": [{"kty": "oct", "k": "AA"}], "methods": ["bank"]},
            "invalid-request",
        ),
        ({"id": "v", "name": "V", "methods": ["psychic"]}, "invalid-request"),
        ({"id": 7, "name": "V", "jwks": [], "methods": ["bank"]}, "invalid-request"),
        ({"id": "v", "name": "V", "jwks": [], "methods": ["bank"], "extra": 1}, "invalid-request"),
    ],
    ids=["no-keys", "symmetric-key", "unknown-method", "id-not-string", "unknown-member"],
)
def test_bad_verifier_registrations(
    client: FlaskClient, admin_token: str, body: dict, code: str
) -> None:
    response = client.post("/v1/admin/verifiers", json=body, headers=_auth(admin_token))
    assert (response.status_code, response.json["code"]) == (400, code)


def test_private_verifier_key_is_refused(client: FlaskClient, admin_token: str) -> None:
    key = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives import serialization

    jwk = jose.public_jwk(key.public_key())
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    jwk["d"] = jose.b64url_encode(raw)
    body = {"id": "leaky", "name": "Leaky", "jwks": [jwk], "methods": ["bank"]}
    response = client.post("/v1/admin/verifiers", json=body, headers=_auth(admin_token))
    assert response.status_code == 400
    assert jwk["d"] not in response.get_data(as_text=True)


def test_unknown_verifier_and_key(client: FlaskClient, admin_token: str) -> None:
    missing = client.get("/v1/admin/verifiers/nobody", headers=_auth(admin_token))
    assert (missing.status_code, missing.json["code"]) == (404, "unknown-verifier-record")
    no_key = client.post("/v1/admin/keys/no-such-kid/revoke", headers=_auth(admin_token))
    assert (no_key.status_code, no_key.json["code"]) == (404, "unknown-key")


def test_retire_keeps_publishing_revoke_removes_at_once(
    client: FlaskClient, admin_token: str, attest: Callable[..., str]
) -> None:
    keys = client.get("/v1/admin/keys", headers=_auth(admin_token)).json["keys"]
    current = min(keys, key=lambda k: k["epoch_start"])["kid"]

    retired = client.post(f"/v1/admin/keys/{current}/retire", headers=_auth(admin_token))
    assert retired.status_code == 200
    published = {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]}
    assert current in published
    # The current epoch has no signing key now: issuance says so with a 503,
    # and the refused attestation stays unused.
    body = {"attestation": attest(), "holder_keys": HolderKeys.generate(1).jwks}
    refused = client.post("/v1/credentials", json=body)
    assert (refused.status_code, refused.json["code"]) == (503, "no-signing-key")
    generated = client.post("/v1/admin/keys/generate-ahead", headers=_auth(admin_token))
    assert len(generated.json["generated"]) == 1
    assert client.post("/v1/credentials", json=body).status_code == 200

    revoked = client.post(f"/v1/admin/keys/{current}/revoke", headers=_auth(admin_token))
    assert revoked.status_code == 200
    published = {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]}
    assert current not in published


@pytest.fixture
def audit_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    logger = logging.getLogger("ageverify")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="ageverify")
    yield caplog
    logger.removeHandler(caplog.handler)


def test_admin_changes_are_audited_without_the_token(
    client: FlaskClient, admin_token: str, audit_log: pytest.LogCaptureFixture
) -> None:
    client.post(f"/v1/admin/verifiers/{DEMO_VERIFIER_ID}/suspend", headers=_auth(admin_token))
    token_id, secret = admin_token.removeprefix("avat_").split(".")
    assert (
        f"admin verifier-suspended verifier={DEMO_VERIFIER_ID} token={token_id}" in audit_log.text
    )
    assert secret not in audit_log.text
