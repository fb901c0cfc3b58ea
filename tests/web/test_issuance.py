"""POST /v1/credentials through the HTTP API."""

from __future__ import annotations

from collections.abc import Callable

import jwt
from flask import Flask
from flask.testing import FlaskClient
from presenting import HolderKeys, decode_disclosure


def test_issues_one_credential_per_holder_key(
    client: FlaskClient, attest: Callable[..., str]
) -> None:
    keys = HolderKeys.generate(10)
    response = client.post(
        "/v1/credentials", json={"attestation": attest(), "holder_keys": keys.jwks}
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    credentials = response.json["credentials"]
    assert len(credentials) == 10 == len(set(credentials))
    for credential, jwk in zip(credentials, keys.jwks, strict=True):
        claims = jwt.decode(credential.split("~")[0], options={"verify_signature": False})
        assert claims["cnf"]["jwk"] == jwk


def test_credentials_carry_the_attested_facts_only_as_disclosures(
    client: FlaskClient, attest: Callable[..., str], app: Flask
) -> None:
    keys = HolderKeys.generate(1)
    response = client.post(
        "/v1/credentials", json={"attestation": attest(age=15), "holder_keys": keys.jwks}
    )
    credential = response.json["credentials"][0]
    facts = {name: value for _, name, value in map(decode_disclosure, credential.split("~")[1:-1])}
    thresholds = app.extensions["ageverify"].settings.thresholds
    assert facts == {f"age_over_{t}": t <= 15 for t in thresholds}
