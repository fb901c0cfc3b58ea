"""The demo verifier's page: a labelled age form that hands an attestation to the wallet.

The verifier signs with the key in the issuer's instance folder; the
attestation it hands over is accepted by that issuer (``POST /v1/credentials``).
"""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from presenting import HolderKeys

from ageverify.demo import DEMO_VERIFIER_ID, DEMO_VERIFIER_NAME, DemoVerifier
from examples.demo_verifier import create_verifier_app


@pytest.fixture
def verifier_client(app: Flask, instance: Path) -> FlaskClient:
    """The demo verifier for the conftest issuer, with the issuer's thresholds."""
    settings = app.extensions["ageverify"].settings
    verifier_app = create_verifier_app(
        settings.issuer_url, instance, thresholds=settings.thresholds
    )
    return verifier_app.test_client()


def test_the_page_says_demo_and_labels_the_age_input(
    app: Flask, verifier_client: FlaskClient
) -> None:
    page = verifier_client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert DEMO_VERIFIER_NAME in html
    assert '<meta name="viewport"' in html
    assert '<label for="age">' in html
    assert '<input id="age" name="age" type="number"' in html
    assert 'id="attest"' in html
    assert "<script" not in html
    assert page.headers["Referrer-Policy"] == "no-referrer"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    # The form's answer is a redirect to the wallet, which form-action governs too.
    issuer = app.extensions["ageverify"].settings.issuer_url
    assert f"form-action 'self' {issuer};" in policy
    css = verifier_client.get("/static/verifier.css")
    assert css.status_code == 200 and css.mimetype == "text/css"


def test_an_attestation_goes_to_the_wallet_and_the_issuer_accepts_it(
    app: Flask, instance: Path, verifier_client: FlaskClient
) -> None:
    settings = app.extensions["ageverify"].settings
    answer = verifier_client.post("/", data={"age": "15"})
    assert answer.status_code == 303
    wallet, _, fragment = answer.headers["Location"].partition("#")
    assert wallet == f"{settings.issuer_url}/wallet/"
    name, _, attestation = fragment.partition("=")
    assert name == "attestation"

    public_key = DemoVerifier.load_or_create(instance).private_key.public_key()
    claims = jwt.decode(attestation, public_key, algorithms=["EdDSA"], audience=settings.issuer_url)
    assert claims["iss"] == DEMO_VERIFIER_ID
    assert claims["age_over"] == {"13": True, "15": True, "16": False, "18": False, "21": False}
    assert set(claims) == {"iss", "aud", "iat", "exp", "jti", "age_over", "method"}

    keys = HolderKeys.generate(2)
    issued = app.test_client().post(
        "/v1/credentials", json={"attestation": attestation, "holder_keys": keys.jwks}
    )
    assert issued.status_code == 200, issued.json
    assert len(issued.json["credentials"]) == 2


@pytest.mark.parametrize("typed", ["", "abc", "-1", "131", "17.5", "１８"])
def test_an_age_that_is_not_a_whole_number_of_years_is_asked_again(
    verifier_client: FlaskClient, typed: str
) -> None:
    answer = verifier_client.post("/", data={"age": typed})
    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert 'id="age-error"' in answer.get_data(as_text=True)


def test_an_unreachable_issuer_is_said_plainly(instance: Path) -> None:
    # Nothing listens on port 9 of the loopback: the thresholds cannot be read.
    client = create_verifier_app("http://127.0.0.1:9", instance).test_client()
    answer = client.post("/", data={"age": "30"})
    assert answer.status_code == 503
    html = answer.get_data(as_text=True)
    assert "does not answer" in html and "Traceback" not in html
