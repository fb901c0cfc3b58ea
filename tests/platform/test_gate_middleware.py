"""AgeGateMiddleware around a tiny WSGI application without a framework: the same redirect,
401 challenge and callback as AgeGate, with its own signed cookie."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gate_support import (
    API,
    AUDIENCE,
    BROWSER,
    ORIGIN,
    SECRET,
    Issuer,
    decode_request,
    middleware,
    wallet_answer,
)
from itsdangerous import URLSafeSerializer
from werkzeug.test import Client, TestResponse

from ageverify.platform import AgeGateMiddleware, Requirement
from ageverify.sdk import Holder


@pytest.fixture
def gate(issuer: Issuer) -> AgeGateMiddleware:
    return middleware(issuer)


@pytest.fixture
def browser(gate: AgeGateMiddleware) -> Client:
    return Client(gate)


def ask(client: Client, path: str = "/rooms/adult") -> dict[str, Any]:
    response = client.get(path, headers=BROWSER)
    assert response.status_code == 303, response.data
    return decode_request(response.headers["Location"])


def post(client: Client, body: Any) -> TestResponse:
    return client.post("/ageverify/callback", json=body)


def cookie_of(client: Client) -> dict[str, Any]:
    cookie = client.get_cookie("ageverify")
    if cookie is None:
        return {}
    return dict(URLSafeSerializer(SECRET, salt="ageverify.platform.session").loads(cookie.value))


def test_a_browser_is_sent_to_the_wallet(issuer: Issuer, browser: Client) -> None:
    response = browser.get("/rooms/teen/chat", headers=BROWSER)
    assert response.status_code == 303
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    request = decode_request(response.headers["Location"])
    assert request["callback"] == AUDIENCE + "/ageverify/callback"
    assert (request["min_age"], request["max_age"], request["issuer"]) == (13, 17, issuer.url)
    set_cookie = response.headers["Set-Cookie"]
    assert set_cookie.startswith("ageverify=")
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "Secure" not in set_cookie  # The audience is http on loopback.
    assert cookie_of(browser)["ageverify_pending"][request["nonce"]]["next"] == "/rooms/teen/chat"


def test_an_api_client_gets_401(browser: Client) -> None:
    response = browser.get("/rooms/adult", headers=API)
    assert response.status_code == 401
    assert response.json["code"] == "age-proof-required"
    assert response.headers["WWW-Authenticate"].startswith('AgeCredential realm="age"')


def test_the_whole_flow_and_the_proof_reaches_the_app(browser: Client, adult: Holder) -> None:
    request = ask(browser)
    response = post(browser, wallet_answer(adult, request))
    assert response.status_code == 200
    assert response.json == {"next": "/rooms/adult"}
    room = browser.get("/rooms/adult", headers=BROWSER)
    assert room.status_code == 200
    assert room.json["proof"]["facts"] == {"age_over_18": True}
    cookie = cookie_of(browser)
    assert set(cookie) == {"ageverify"} and set(cookie["ageverify"]) == {"facts", "exp"}
    # Pages without a rule see the proof too, and can drop it.
    assert browser.get("/", headers=BROWSER).json["proof"]["facts"] == {"age_over_18": True}
    browser.get("/leave")
    assert cookie_of(browser) == {}
    assert browser.get("/rooms/adult", headers=BROWSER).status_code == 303


def test_an_adult_is_refused_from_the_teen_room(browser: Client, adult: Holder) -> None:
    post(browser, wallet_answer(adult, ask(browser)))
    page = browser.get("/rooms/teen", headers=BROWSER)
    assert page.status_code == 403
    assert "Location" not in page.headers
    assert 'id="age-refused"' in page.get_data(as_text=True)


def test_a_teen_is_refused_at_the_adult_callback(browser: Client, teen: Holder) -> None:
    response = post(browser, wallet_answer(teen, ask(browser)))
    assert response.status_code == 403
    assert response.json["code"] == "requirement-not-met"


def test_replay_and_foreign_sessions_are_refused(gate: AgeGateMiddleware, adult: Holder) -> None:
    browser, other = Client(gate), Client(gate)
    body = wallet_answer(adult, ask(browser))
    ask(other)
    assert post(other, body).json["code"] == "presentation-request-unknown"
    assert post(browser, body).status_code == 200
    assert post(browser, body).json["code"] == "presentation-request-unknown"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("//evil.example/rooms/adult", "/evil.example/rooms/adult"),
        ("///evil.example", "/evil.example"),
        ("/\\evil.example", "/evil.example"),
        ("/rooms/\\evil", "/rooms/%5Cevil"),
        ("/rooms/adult/../adult", "/rooms/adult/../adult"),
    ],
)
def test_next_is_never_another_site(
    issuer: Issuer, adult: Holder, path: str, expected: str
) -> None:
    client = Client(middleware(issuer, rules={"/": Requirement(min_age=18)}))
    # PATH_INFO as a server hands it over, whatever the request line held.
    response = client.get("/", headers=BROWSER, environ_overrides={"PATH_INFO": path})
    request = decode_request(response.headers["Location"])
    answer = post(client, wallet_answer(adult, request))
    assert answer.json == {"next": expected}


@pytest.mark.parametrize("path", ["/rooms//adult", "/x/../rooms/adult", "/rooms/./adult/"])
def test_paths_that_reach_a_room_another_way_are_gated(browser: Client, path: str) -> None:
    response = browser.get("/", headers=API, environ_overrides={"PATH_INFO": path})
    assert response.status_code == 401


def test_rules_match_whole_path_segments(browser: Client) -> None:
    assert browser.get("/rooms/adultish", headers=BROWSER).status_code == 200
    assert browser.get("/rooms/adult/42", headers=BROWSER).status_code == 303


def test_a_tampered_cookie_is_ignored(browser: Client, adult: Holder) -> None:
    forged = URLSafeSerializer("another key", salt="ageverify.platform.session").dumps(
        {"ageverify": {"facts": {"age_over_18": True}, "exp": 4_000_000_000}}
    )
    browser.set_cookie("ageverify", forged)
    assert browser.get("/rooms/adult", headers=BROWSER).status_code == 303


def test_the_cookie_is_secure_for_an_https_audience(issuer: Issuer) -> None:
    client = Client(middleware(issuer, audience="https://chat.example"))
    response = client.get("/rooms/adult", headers=BROWSER, base_url="https://chat.example")
    assert "Secure" in response.headers["Set-Cookie"]
    assert decode_request(response.headers["Location"])["callback"] == (
        "https://chat.example/ageverify/callback"
    )


def test_the_callback_page_and_script(browser: Client) -> None:
    page = browser.get("/ageverify/callback", headers=BROWSER)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert browser.get("/ageverify/callback.js").mimetype == "text/javascript"
    assert browser.get("/ageverify/unknown").status_code == 404


def test_malformed_callbacks(browser: Client) -> None:
    ask(browser)
    for body in (b"{", b"[]", b'{"nonce": "x"}', b'{"token": 1, "nonce": "x"}'):
        response = browser.post("/ageverify/callback", data=body, content_type="application/json")
        assert response.status_code == 400
        assert response.json["code"] == "callback-malformed"


def test_privacy_pass_through_the_middleware(issuer: Issuer, adult: Holder) -> None:
    gate = middleware(issuer, mode="privacy-pass")
    browser = Client(gate)
    request = ask(browser)
    assert request["mode"] == "privacy-pass"
    assert post(browser, wallet_answer(adult, request)).json == {"next": "/rooms/adult"}
    assert browser.get("/rooms/adult", headers=BROWSER).status_code == 200
    api = Client(gate)
    header = api.get("/rooms/adult", headers=API).headers["WWW-Authenticate"]
    authorization = adult.answer(header, origin=ORIGIN)
    assert api.get("/rooms/adult", headers={"Authorization": authorization}).status_code == 200
    replay = Client(gate).get("/rooms/adult", headers={**API, "Authorization": authorization})
    assert replay.json["code"] == "token-replayed"


def test_privacy_pass_rules_with_max_age_are_refused(issuer: Issuer) -> None:
    with pytest.raises(ValueError, match="max_age"):
        middleware(
            issuer, mode="privacy-pass", rules={"/teen": Requirement(min_age=13, max_age=17)}
        )


def test_an_api_client_through_the_middleware(browser: Client, adult: Holder) -> None:
    header = browser.get("/rooms/adult", headers=API).headers["WWW-Authenticate"]
    authorization = adult.answer(header, origin=ORIGIN)
    response = browser.get("/rooms/adult", headers={**API, "Authorization": authorization})
    assert response.status_code == 200
    assert json.loads(response.data)["proof"]["facts"] == {"age_over_18": True}


def test_a_secret_key_is_required(issuer: Issuer) -> None:
    with pytest.raises(ValueError, match="secret_key"):
        AgeGateMiddleware(
            lambda environ, start_response: [],
            issuer=issuer.url,
            audience=AUDIENCE,
            secret_key="",
            rules={},
            name="x",
            verifier=issuer.verifier(),
        )
