"""AgeGate in privacy-pass mode: RFC 9577 tokens minted by the SDK's TokenClient against
the real issuer, redeemed at the callback or in an ``Authorization`` header."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from gate_support import (
    API,
    AUDIENCE,
    BROWSER,
    ORIGIN,
    Issuer,
    chat_app,
    decode_request,
    session_of,
    wallet_answer,
)

from ageverify.errors import AgeVerifyError
from ageverify.formats import jose
from ageverify.formats import privacypass as pp
from ageverify.platform import AgeGate
from ageverify.sdk import Holder


@pytest.fixture
def chat(issuer: Issuer) -> tuple[Flask, AgeGate]:
    return chat_app(issuer, mode="privacy-pass")


@pytest.fixture
def app(chat: tuple[Flask, AgeGate]) -> Flask:
    return chat[0]


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    return app.test_client()


def ask(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/rooms/adult", headers=BROWSER)
    assert response.status_code == 303
    assert response.headers["Referrer-Policy"] == "no-referrer"
    return decode_request(response.headers["Location"])


def test_the_request_carries_the_private_token_challenge(
    issuer: Issuer, browser: FlaskClient
) -> None:
    request = ask(browser)
    assert request["mode"] == "privacy-pass"
    assert (request["min_age"], request["max_age"], request["threshold"]) == (18, None, 18)
    assert request["issuer"] == issuer.url and request["aud"] == AUDIENCE
    (offered,) = pp.parse_www_authenticate(request["challenge"])
    assert offered.challenge.origin_info == (ORIGIN,)
    assert len(offered.challenge.redemption_context) == 32
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", request["nonce"])


def test_a_token_at_the_callback_lets_an_adult_in(
    app: Flask, browser: FlaskClient, adult: Holder
) -> None:
    request = ask(browser)
    response = browser.post("/ageverify/callback", json=wallet_answer(adult, request))
    assert response.status_code == 200
    assert response.json == {"next": "/rooms/adult"}
    session = session_of(app, browser)
    assert set(session) == {"ageverify"}
    assert session["ageverify"]["facts"] == {"age_over_18": True}
    assert browser.get("/rooms/adult", headers=BROWSER).status_code == 200


def test_a_token_for_another_browsers_challenge_is_refused(
    app: Flask, browser: FlaskClient, adult: Holder
) -> None:
    theirs = wallet_answer(adult, ask(app.test_client()))
    mine = ask(browser)
    response = browser.post(
        "/ageverify/callback", json={"token": theirs["token"], "nonce": mine["nonce"]}
    )
    assert response.status_code == 401
    assert response.json is not None and response.json["code"] == "token-unknown-challenge"


def test_a_replayed_token_is_refused(app: Flask, api_token: tuple[Holder, str]) -> None:
    _, authorization = api_token
    first = app.test_client().get("/rooms/adult", headers={**API, "Authorization": authorization})
    assert first.status_code == 200
    again = app.test_client().get("/rooms/adult", headers={**API, "Authorization": authorization})
    assert again.status_code == 401
    assert again.json is not None and again.json["code"] == "token-replayed"
    assert again.headers["WWW-Authenticate"].startswith("PrivateToken challenge=")


@pytest.fixture
def api_token(app: Flask, adult: Holder) -> tuple[Holder, str]:
    """An API client's answer to the 401 challenge of the adult room."""
    response = app.test_client().get("/rooms/adult", headers=API)
    assert response.status_code == 401
    assert response.json is not None and response.json["code"] == "age-proof-required"
    return adult, adult.answer(response.headers["WWW-Authenticate"], origin=ORIGIN)


def test_an_api_client_gets_a_private_token_challenge(app: Flask) -> None:
    response = app.test_client().get("/rooms/adult", headers=API)
    (offered,) = pp.parse_www_authenticate(response.headers["WWW-Authenticate"])
    assert offered.challenge.issuer_name == "127.0.0.1:8000"


def test_a_teen_gets_no_token_for_the_adult_room(app: Flask, teen: Holder) -> None:
    response = app.test_client().get("/rooms/adult", headers=API)
    with pytest.raises(AgeVerifyError) as refused:
        teen.answer(response.headers["WWW-Authenticate"], origin=ORIGIN)
    assert refused.value.code == "requirement-not-met"


def test_a_presentation_sent_to_a_privacy_pass_platform_is_malformed(
    browser: FlaskClient, adult: Holder
) -> None:
    request = ask(browser)
    presentation = adult.present(AUDIENCE, request["nonce"], min_age=18)
    response = browser.post(
        "/ageverify/callback", json={"presentation": presentation, "nonce": request["nonce"]}
    )
    assert response.status_code == 400
    assert response.json is not None and response.json["code"] == "callback-malformed"


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("not base64!", "callback-malformed"),
        ("AAAA=", "callback-malformed"),
        (jose.b64url_encode(b"\x00\x02" + b"\x00" * 10), "privacypass-malformed"),
        (jose.b64url_encode(b"\x00\x01" + b"\x00" * 352), "privacypass-unsupported-token-type"),
    ],
)
def test_bad_tokens_at_the_callback(browser: FlaskClient, token: str, code: str) -> None:
    request = ask(browser)
    response = browser.post("/ageverify/callback", json={"token": token, "nonce": request["nonce"]})
    assert 400 <= response.status_code < 500
    assert response.json is not None and response.json["code"] == code


def test_a_credential_authorization_is_malformed_here(app: Flask) -> None:
    response = app.test_client().get(
        "/rooms/adult",
        headers={**API, "Authorization": 'AgeCredential presentation="x", nonce="y"'},
    )
    assert response.status_code == 401
    assert response.json is not None and response.json["code"] == "age-authorization-malformed"


@pytest.mark.parametrize(("min_age", "max_age"), [(13, 17), (None, 17)])
def test_max_age_is_refused_at_decoration(
    chat: tuple[Flask, AgeGate], min_age: int | None, max_age: int
) -> None:
    _, gate = chat
    with pytest.raises(ValueError, match="max_age"):
        gate.require(min_age=min_age, max_age=max_age)
