"""AgeGate, the Flask extension, in credential mode: a real issuer, wallets holding its
credentials, and a chat platform's rooms behind ``@gate.require``."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from gate_support import (
    API,
    AUDIENCE,
    BROWSER,
    NAME,
    Issuer,
    chat_app,
    decode_request,
    session_of,
    wallet_answer,
)

from ageverify.platform import AgeGate
from ageverify.sdk import Holder


def ask(client: FlaskClient, path: str = "/rooms/adult") -> dict[str, Any]:
    """Navigate to ``path`` as a browser without a proof; the presentation request it gets."""
    response = client.get(path, headers=BROWSER)
    assert response.status_code == 303, response.data
    return decode_request(response.headers["Location"])


def enter(client: FlaskClient, holder: Holder, path: str = "/rooms/adult") -> Any:
    """The whole browser flow: redirect, the wallet's answer posted to the callback."""
    request = ask(client, path)
    return client.post("/ageverify/callback", json=wallet_answer(holder, request))


@pytest.fixture
def chat(issuer: Issuer) -> tuple[Flask, AgeGate]:
    return chat_app(issuer)


@pytest.fixture
def app(chat: tuple[Flask, AgeGate]) -> Flask:  # The chat platform, not the issuer.
    return chat[0]


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    return app.test_client()


# --- asking ------------------------------------------------------------------------


def test_a_browser_is_sent_to_the_wallet_with_the_request_in_the_fragment(
    issuer: Issuer, app: Flask, browser: FlaskClient
) -> None:
    response = browser.get("/rooms/adult?lang=en", headers=BROWSER)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"{issuer.url}/wallet/#request=")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    request = decode_request(location)
    nonce = request.pop("nonce")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", nonce)
    assert request == {
        "v": 1,
        "mode": "credential",
        "issuer": issuer.url,
        "aud": AUDIENCE,
        "min_age": 18,
        "max_age": None,
        "callback": AUDIENCE + "/ageverify/callback",
        "name": NAME,
    }
    # The fragment is unpadded base64url of compact JSON.
    encoded = location.split("#request=")[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", encoded)
    pending = session_of(app, browser)["ageverify_pending"]
    assert list(pending) == [nonce]
    assert pending[nonce]["next"] == "/rooms/adult?lang=en"
    assert (pending[nonce]["min_age"], pending[nonce]["max_age"]) == (18, None)


def test_the_teen_room_asks_for_13_to_17(browser: FlaskClient) -> None:
    request = ask(browser, "/rooms/teen")
    assert (request["min_age"], request["max_age"]) == (13, 17)


def test_the_wallet_url_can_be_set(issuer: Issuer) -> None:
    app, _ = chat_app(issuer, wallet_url="https://wallet.example/open")
    response = app.test_client().get("/rooms/adult", headers=BROWSER)
    assert response.headers["Location"].startswith("https://wallet.example/open#request=")


@pytest.mark.parametrize("accept", ["application/json", "*/*", None, "text/html;q=0.5, */*"])
def test_an_api_client_gets_401_and_an_age_credential_challenge(
    browser: FlaskClient, accept: str | None
) -> None:
    response = browser.get("/rooms/teen", headers={"Accept": accept} if accept else {})
    assert response.status_code == 401
    assert response.json is not None and response.json["code"] == "age-proof-required"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Location" not in response.headers
    assert re.fullmatch(
        r'AgeCredential realm="age", audience="http://127\.0\.0\.1:8101", '
        r'nonce="[A-Za-z0-9_-]{22}", min_age="13", max_age="17"',
        response.headers["WWW-Authenticate"],
    )


def test_the_adult_room_challenge_has_no_max_age(browser: FlaskClient) -> None:
    response = browser.get("/rooms/adult", headers=API)
    assert response.headers["WWW-Authenticate"].endswith('min_age="18"')
    assert "max_age" not in response.headers["WWW-Authenticate"]


def test_a_page_without_requirement_is_not_gated(browser: FlaskClient) -> None:
    response = browser.get("/", headers=BROWSER)
    assert response.status_code == 200
    assert response.json == {"room": "lobby", "proof": None}


# --- the callback -----------------------------------------------------------------------


def test_the_whole_flow_lets_an_adult_into_the_adult_room(
    app: Flask, browser: FlaskClient, adult: Holder
) -> None:
    response = enter(browser, adult)
    assert response.status_code == 200
    assert response.json == {"next": "/rooms/adult"}
    assert response.headers["Cache-Control"] == "no-store"
    room = browser.get("/rooms/adult", headers=BROWSER)
    assert room.status_code == 200
    assert room.json is not None and room.json["room"] == "adult"
    assert room.json["proof"]["facts"] == {"age_over_18": True}


def test_the_session_keeps_only_the_facts_and_an_expiry(
    issuer: Issuer, app: Flask, browser: FlaskClient, adult: Holder
) -> None:
    enter(browser, adult)
    session = session_of(app, browser)
    assert set(session) == {"ageverify"}
    assert set(session["ageverify"]) == {"facts", "exp"}
    assert session["ageverify"]["facts"] == {"age_over_18": True}
    assert session["ageverify"]["exp"] == int(issuer.clock()) + 3600


def test_next_goes_back_to_the_page_asked_for_with_its_query(
    browser: FlaskClient, adult: Holder
) -> None:
    response = enter(browser, adult, "/rooms/adult?topic=films&page=2")
    assert response.json == {"next": "/rooms/adult?topic=films&page=2"}


def test_a_fifteen_year_old_enters_the_teen_room(browser: FlaskClient, teen: Holder) -> None:
    response = enter(browser, teen, "/rooms/teen")
    assert response.json == {"next": "/rooms/teen"}
    room = browser.get("/rooms/teen", headers=BROWSER)
    assert room.status_code == 200
    assert room.json is not None
    assert room.json["proof"]["facts"] == {"age_over_13": True, "age_over_18": False}


def test_a_fifteen_year_old_is_refused_at_the_adult_callback(
    app: Flask, browser: FlaskClient, teen: Holder
) -> None:
    response = enter(browser, teen)
    assert response.status_code == 403
    assert response.json is not None
    assert response.json["code"] == "requirement-not-met"
    assert response.json["next"] == "/"
    assert "ageverify" not in session_of(app, browser)
    assert browser.get("/rooms/adult", headers=BROWSER).status_code == 303


def test_an_adult_is_refused_from_the_teen_room_at_once(
    browser: FlaskClient, adult: Holder
) -> None:
    enter(browser, adult)
    page = browser.get("/rooms/teen", headers=BROWSER)
    assert page.status_code == 403
    assert "Location" not in page.headers
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert 'id="age-refused"' in html
    assert "13 to 17" in html
    api = browser.get("/rooms/teen", headers=API)
    assert api.status_code == 403
    assert api.json is not None and api.json["code"] == "requirement-not-met"
    assert "WWW-Authenticate" not in api.headers


def test_a_teen_is_refused_from_the_adult_room_at_once(browser: FlaskClient, teen: Holder) -> None:
    enter(browser, teen, "/rooms/teen")
    page = browser.get("/rooms/adult", headers=BROWSER)
    assert page.status_code == 403
    assert 'id="age-refused"' in page.get_data(as_text=True)


def test_a_replayed_callback_is_refused(browser: FlaskClient, adult: Holder) -> None:
    request = ask(browser)
    body = wallet_answer(adult, request)
    assert browser.post("/ageverify/callback", json=body).status_code == 200
    again = browser.post("/ageverify/callback", json=body)
    assert again.status_code == 400
    assert again.json is not None and again.json["code"] == "presentation-request-unknown"


def test_a_presentation_replayed_as_authorization_is_refused(
    app: Flask, browser: FlaskClient, adult: Holder
) -> None:
    request = ask(browser)
    body = wallet_answer(adult, request)
    assert browser.post("/ageverify/callback", json=body).status_code == 200
    authorization = f'AgeCredential presentation="{body["presentation"]}", nonce="{body["nonce"]}"'
    response = app.test_client().get(
        "/rooms/adult", headers={**API, "Authorization": authorization}
    )
    assert response.status_code == 401
    assert response.json is not None and response.json["code"] == "nonce-reused"
    assert response.headers["WWW-Authenticate"].startswith("AgeCredential ")


def test_a_nonce_of_another_browser_session_is_refused(
    app: Flask, browser: FlaskClient, adult: Holder
) -> None:
    request = ask(browser)
    body = wallet_answer(adult, request)
    other = app.test_client()
    ask(other)
    response = other.post("/ageverify/callback", json=body)
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["code"] == "presentation-request-unknown"
    assert response.json["next"] == "/"
    assert "ageverify" not in session_of(app, other)
    # The nonce was not used up by the foreign session: its own browser still completes.
    assert browser.post("/ageverify/callback", json=body).status_code == 200


def test_a_presentation_for_another_platform_is_refused(
    issuer: Issuer, browser: FlaskClient, adult: Holder
) -> None:
    request = ask(browser)
    presentation = adult.present("http://127.0.0.1:8102", request["nonce"], min_age=18)
    response = browser.post(
        "/ageverify/callback", json={"presentation": presentation, "nonce": request["nonce"]}
    )
    assert response.status_code == 400
    assert response.json is not None and response.json["code"] == "key-binding-wrong-audience"


def test_an_expired_proof_asks_again(
    issuer: Issuer, app: Flask, browser: FlaskClient, adult: Holder
) -> None:
    enter(browser, adult)
    issuer.clock.advance(3599)
    assert browser.get("/rooms/adult", headers=BROWSER).status_code == 200
    issuer.clock.advance(1)
    response = browser.get("/rooms/adult", headers=BROWSER)
    assert response.status_code == 303
    assert "ageverify" not in session_of(app, browser)


def test_the_proof_never_outlives_the_credential(
    issuer: Issuer, app: Flask, browser: FlaskClient, adult: Holder
) -> None:
    gate_app, _ = chat_app(issuer, proof_lifetime=10**9)
    client = gate_app.test_client()
    enter(client, adult)
    exp = session_of(gate_app, client)["ageverify"]["exp"]
    assert exp == min(held.exp for held in adult.credentials())


def test_a_pending_request_expires_with_its_nonce(
    issuer: Issuer, browser: FlaskClient, adult: Holder
) -> None:
    request = ask(browser)
    issuer.clock.advance(301)
    response = browser.post("/ageverify/callback", json=wallet_answer(adult, request))
    assert response.status_code == 400
    assert response.json is not None and response.json["code"] == "presentation-request-unknown"


def test_at_most_five_requests_are_pending(
    issuer: Issuer, app: Flask, browser: FlaskClient
) -> None:
    nonces = []
    for _ in range(7):
        nonces.append(ask(browser)["nonce"])
        issuer.clock.advance(1)
    assert set(session_of(app, browser)["ageverify_pending"]) == set(nonces[2:])


@pytest.mark.parametrize(
    ("error", "status"), [("presentation-declined", 400), ("requirement-not-met", 403)]
)
def test_the_wallet_answers_that_there_is_no_proof(
    app: Flask, browser: FlaskClient, error: str, status: int
) -> None:
    request = ask(browser)
    response = browser.post("/ageverify/callback", json={"error": error, "nonce": request["nonce"]})
    assert response.status_code == status
    assert response.json is not None
    assert response.json["code"] == error
    assert response.json["next"] == "/"
    assert response.json["description"]
    assert session_of(app, browser) == {}


def test_leaving_forgets_the_proof(app: Flask, browser: FlaskClient, adult: Holder) -> None:
    enter(browser, adult)
    browser.get("/leave")
    assert "ageverify" not in session_of(app, browser)
    assert browser.get("/rooms/adult", headers=BROWSER).status_code == 303


def test_proofs_of_two_rooms_add_up_when_they_agree(issuer: Issuer, adult: Holder) -> None:
    app, gate = chat_app(issuer)

    @app.get("/rooms/21")
    @gate.require(min_age=21)
    def over_21() -> Any:
        return {"proof": gate.proof()}

    client = app.test_client()
    enter(client, adult)
    enter(client, adult, "/rooms/21")
    assert session_of(app, client)["ageverify"]["facts"] == {
        "age_over_18": True,
        "age_over_21": True,
    }
    assert client.get("/rooms/adult", headers=BROWSER).status_code == 200


# --- malformed callbacks ------------------------------------------------------------------

MALFORMED = {
    "not json": ("application/json", b"presentation=x&nonce=y"),
    "form media type": ("application/x-www-form-urlencoded", b"presentation=x&nonce=y"),
    "text media type": ("text/plain", b'{"presentation": "x", "nonce": "y"}'),
    "array": ("application/json", b'["x", "y"]'),
    "no nonce": ("application/json", b'{"presentation": "x"}'),
    "no answer": ("application/json", b'{"nonce": "y"}'),
    "two answers": ("application/json", b'{"presentation": "x", "token": "t", "nonce": "y"}'),
    "extra member": ("application/json", b'{"presentation": "x", "nonce": "y", "next": "/"}'),
    "number nonce": ("application/json", b'{"presentation": "x", "nonce": 7}'),
    "empty nonce": ("application/json", b'{"presentation": "x", "nonce": ""}'),
    "null presentation": ("application/json", b'{"presentation": null, "nonce": "y"}'),
    "duplicate member": ("application/json", b'{"nonce": "y", "nonce": "z", "token": "t"}'),
    "unknown error": ("application/json", b'{"error": "server-error", "nonce": "y"}'),
    "long nonce": ("application/json", b'{"presentation": "x", "nonce": "' + b"n" * 200 + b'"}'),
    "too large": ("application/json", b'{"presentation": "' + b"x" * 30_000 + b'", "nonce": "y"}'),
    "not utf-8": ("application/json", b'{"presentation": "\xff", "nonce": "y"}'),
    "empty": ("application/json", b""),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_callbacks_are_refused(browser: FlaskClient, case: str) -> None:
    ask(browser)
    content_type, body = MALFORMED[case]
    response = browser.post("/ageverify/callback", data=body, content_type=content_type)
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["code"] == "callback-malformed"
    assert response.json["next"] == "/"


def test_a_token_sent_to_a_credential_platform_is_malformed(browser: FlaskClient) -> None:
    request = ask(browser)
    response = browser.post(
        "/ageverify/callback", json={"token": "AAAA", "nonce": request["nonce"]}
    )
    assert response.status_code == 400
    assert response.json is not None and response.json["code"] == "callback-malformed"


@pytest.mark.parametrize(
    "presentation", ["x", "a~b~c", "~" * 50, "eyJ0eXAiOiJ4In0.e30.sig~", "é" * 10]
)
def test_garbage_presentations_are_refused_with_their_code(
    browser: FlaskClient, presentation: str
) -> None:
    request = ask(browser)
    response = browser.post(
        "/ageverify/callback", json={"presentation": presentation, "nonce": request["nonce"]}
    )
    assert 400 <= response.status_code < 500
    assert response.json is not None and response.json["code"] != "callback-malformed"


# --- the callback page --------------------------------------------------------------------


def test_the_callback_page_is_small_accessible_html(browser: FlaskClient) -> None:
    response = browser.get("/ageverify/callback", headers=BROWSER)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<main>" in html and "<h1>" in html
    assert '<script src="/ageverify/callback.js" defer></script>' in html
    assert 'id="age-error"' in html and 'id="age-error-back"' in html
    # No inline script or style: everything runs under the strict policy.
    assert re.findall(r"<script[^>]*>([^<]*)</script>", html) == [""]
    assert "style=" not in html and "<style" not in html


def test_the_callback_script_and_style_are_served(browser: FlaskClient) -> None:
    script = browser.get("/ageverify/callback.js")
    assert script.status_code == 200
    assert script.mimetype == "text/javascript"
    assert script.headers["Cache-Control"] == "no-store"
    text = script.get_data(as_text=True)
    assert "history.replaceState" in text and "location.replace" in text
    style = browser.get("/ageverify/gate.css")
    assert style.status_code == 200 and style.mimetype == "text/css"


def test_the_refusal_page_is_accessible_html(browser: FlaskClient, adult: Holder) -> None:
    enter(browser, adult)
    html = browser.get("/rooms/teen", headers=BROWSER).get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<main>" in html and "<h1>" in html
    assert '<a id="age-refused-back" href="/">' in html
    assert "<script" not in html and "style=" not in html


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("min_age", "max_age"), [(None, None), (18, 17), (-1, None), (True, None), ("18", None)]
)
def test_impossible_requirements_fail_at_decoration(
    chat: tuple[Flask, AgeGate], min_age: Any, max_age: Any
) -> None:
    _, gate = chat
    with pytest.raises(ValueError):
        gate.require(min_age=min_age, max_age=max_age)


@pytest.mark.parametrize(
    "audience",
    ["http://127.0.0.1:8101/chat", "127.0.0.1:8101", "ftp://x", "http://u@h", "http://h:99999"],
)
def test_the_audience_must_be_an_origin(issuer: Issuer, audience: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        AgeGate(issuer=issuer.url, audience=audience, name=NAME)


def test_the_verifier_must_be_for_the_audience(issuer: Issuer) -> None:
    with pytest.raises(ValueError, match="audience"):
        AgeGate(
            issuer=issuer.url,
            audience=AUDIENCE,
            name=NAME,
            verifier=issuer.verifier("http://127.0.0.1:8102"),
        )


def test_init_app_later_and_a_missing_secret_key(issuer: Issuer) -> None:
    gate = AgeGate(issuer=issuer.url, audience=AUDIENCE, name=NAME, verifier=issuer.verifier())
    app = Flask("late")
    app.testing = True  # The error reaches the test instead of a 500 page.
    gate.init_app(app)

    @app.get("/x")
    @gate.require(min_age=18)
    def x() -> str:
        return "x"

    assert "ageverify" in app.blueprints
    with pytest.raises(RuntimeError, match="secret_key"):
        app.test_client().get("/x", headers=BROWSER)


def test_nothing_secret_reaches_the_logs_or_the_answers(
    browser: FlaskClient, adult: Holder, teen: Holder, caplog: pytest.LogCaptureFixture
) -> None:
    # The issuer app in this process configures the "ageverify" logger; listen
    # to the gate's own directly.
    gate_log = logging.getLogger("ageverify.platform")
    gate_log.addHandler(caplog.handler)
    level = gate_log.level
    gate_log.setLevel(logging.DEBUG)
    request = ask(browser)
    refused_body = wallet_answer(teen, request)
    refused = browser.post("/ageverify/callback", json=refused_body)
    request = ask(browser)
    body = wallet_answer(adult, request)
    accepted = browser.post("/ageverify/callback", json=body)
    replayed = browser.post("/ageverify/callback", json=body)
    gate_log.removeHandler(caplog.handler)
    gate_log.setLevel(level)
    logged = caplog.text
    answers = b"".join(r.data for r in (refused, accepted, replayed)).decode()
    for secret in (body["presentation"], body["nonce"], refused_body["presentation"]):
        assert secret not in logged
        assert secret not in answers
    assert "code=requirement-not-met" in logged
    assert "code=presentation-request-unknown" in logged
