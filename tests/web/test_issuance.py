"""POST /v1/credentials through the HTTP API."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from presenting import HolderKeys, decode_disclosure

from ageverify.web.issuance import _credentials_response


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


@contextmanager
def _encoder_calls(app: Flask) -> Iterator[list[object]]:
    """The values the app's shared JSON encoder encodes while the block runs."""
    provider = app.json
    shared = provider._encode  # type: ignore[attr-defined]
    calls: list[object] = []
    provider._encode = lambda value: calls.append(value) or shared(value)  # type: ignore[attr-defined]
    try:
        yield calls
    finally:
        provider._encode = shared  # type: ignore[attr-defined]


def test_the_credentials_body_is_the_encoders_bytes(
    client: FlaskClient, attest: Callable[..., str], app: Flask
) -> None:
    keys = HolderKeys.generate(3)
    response = client.post(
        "/v1/credentials", json={"attestation": attest(), "holder_keys": keys.jwks}
    )
    credentials = response.json["credentials"]
    with app.app_context():
        assert response.get_data() == app.json.response(credentials=credentials).get_data()
        # Credentials as issued take the direct path: no encoder involved.
        with _encoder_calls(app) as encoded:
            _credentials_response(credentials)
        assert encoded == []
    assert response.mimetype == "application/json"


@pytest.mark.parametrize(
    "odd",
    ['eyJ"x', "eyJ\\x", "eyJ\nx", "eyJ\x7fx", "eyJé", "eyJ x", "eyJ,x"],
)
def test_a_credential_with_any_other_character_goes_through_the_encoder(
    app: Flask, odd: str
) -> None:
    credentials = ["eyJh.eyJi.c2ln~WyJh~", odd]
    with app.app_context():
        with _encoder_calls(app) as encoded:
            body = _credentials_response(credentials).get_data()
        assert encoded == [{"credentials": credentials}]
        assert body == app.json.response(credentials=credentials).get_data()
    assert json.loads(body) == {"credentials": credentials}


def test_no_credentials_is_an_empty_list(app: Flask) -> None:
    with app.app_context():
        assert json.loads(_credentials_response([]).get_data()) == {"credentials": []}
