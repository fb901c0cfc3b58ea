"""The demo chat site through Flask's test client, with credentials from a real issuer.

The chat's gate verifies with the keys of the conftest issuer (its JWKS,
read once). A browser's part is played by hand: the test reads the
presentation request from the wallet URL, builds the presentation with the
held credential, and posts it to the callback as the callback page would.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from presenting import HeldCredential

from ageverify.sdk import Verifier
from examples.chat import create_chat_app

AUDIENCE = "http://127.0.0.1:8101"
HTML = {"Accept": "text/html"}


@pytest.fixture
def chat(app: Flask) -> Flask:
    """Demo chat A for the conftest issuer, verifying with that issuer's keys."""
    settings = app.extensions["ageverify"].settings
    jwks = app.test_client().get("/.well-known/jwks.json").json
    verifier = Verifier(
        AUDIENCE, issuer=settings.issuer_url, jwks=jwks, thresholds=settings.thresholds
    )
    return create_chat_app("Demo chat A", AUDIENCE, settings.issuer_url, verifier=verifier)


@pytest.fixture
def browser(chat: Flask) -> FlaskClient:
    """A browser at the chat site (it keeps the session cookie)."""
    return chat.test_client()


def _wallet_request(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 303, answer.get_data(as_text=True)
    _, _, fragment = answer.headers["Location"].partition("#request=")
    return json.loads(base64.urlsafe_b64decode(fragment + "=" * (-len(fragment) % 4)))


def _present(browser: FlaskClient, path: str, held: HeldCredential, claims: tuple[str, ...]):
    """Ask for ``path`` and answer the wallet request with ``claims`` of ``held``.

    Returns the callback's answer.
    """
    asked = _wallet_request(browser.get(path, headers=HTML))
    presentation = held.present(asked["aud"], asked["nonce"], claims=claims)
    return browser.post(
        "/ageverify/callback", json={"presentation": presentation, "nonce": asked["nonce"]}
    )


def test_the_lobby_links_both_rooms_and_says_what_the_site_learns(browser: FlaskClient) -> None:
    lobby = browser.get("/")
    assert lobby.status_code == 200
    html = lobby.get_data(as_text=True)
    assert 'id="enter-adult" href="/rooms/adult"' in html
    assert 'id="enter-teen" href="/rooms/teen"' in html
    assert "one fact" in html and "never who you are" in html
    assert '<meta name="viewport"' in html and "<main>" in html and "<h1>" in html
    assert "<script" not in html and "style=" not in html
    assert "script-src 'self'" in lobby.headers["Content-Security-Policy"]
    assert lobby.headers["Referrer-Policy"] == "no-referrer"
    css = browser.get("/static/chat.css")
    assert css.status_code == 200 and css.mimetype == "text/css"


def test_a_room_sends_the_browser_to_the_wallet_with_the_site_s_request(
    app: Flask, browser: FlaskClient
) -> None:
    issuer = app.extensions["ageverify"].settings.issuer_url
    answer = browser.get("/rooms/teen", headers=HTML)
    assert answer.headers["Location"].startswith(f"{issuer}/wallet/#request=")
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    asked = _wallet_request(answer)
    assert {k: asked[k] for k in ("aud", "name", "min_age", "max_age", "callback")} == {
        "aud": AUDIENCE,
        "name": "Demo chat A",
        "min_age": 13,
        "max_age": 17,
        "callback": f"{AUDIENCE}/ageverify/callback",
    }


def test_an_adult_enters_the_adult_room_chats_and_leaves(
    browser: FlaskClient, issue: Callable[..., list[HeldCredential]]
) -> None:
    (held,) = issue(count=1, age=30)
    answer = _present(browser, "/rooms/adult", held, ("age_over_18",))
    assert (answer.status_code, answer.json) == (200, {"next": "/rooms/adult"})

    room = browser.get("/rooms/adult", headers=HTML)
    html = room.get_data(as_text=True)
    assert room.status_code == 200
    assert 'id="room" data-room="adult"' in html
    assert '<label for="message">' in html and 'id="leave"' in html
    token = html.split('name="form_token" value="', 1)[1].split('"', 1)[0]

    sent = browser.post("/rooms/adult", data={"message": "hello <b>", "form_token": token})
    assert sent.status_code == 303
    shown = browser.get("/rooms/adult", headers=HTML).get_data(as_text=True)
    assert "hello &lt;b&gt;" in shown

    assert browser.get("/leave").status_code == 303
    again = browser.get("/rooms/adult", headers=HTML)
    assert again.status_code == 303 and "#request=" in again.headers["Location"]


def test_a_message_without_the_session_s_form_token_is_refused(
    browser: FlaskClient, issue: Callable[..., list[HeldCredential]]
) -> None:
    (held,) = issue(count=1, age=30)
    assert _present(browser, "/rooms/adult", held, ("age_over_18",)).status_code == 200
    for form in ({"message": "forged"}, {"message": "forged", "form_token": "guessed"}):
        assert browser.post("/rooms/adult", data=form).status_code == 400
    room = browser.get("/rooms/adult", headers=HTML).get_data(as_text=True)
    assert "forged" not in room and "No messages yet." in room


def test_a_teen_enters_the_teen_room_and_is_refused_from_the_adult_room(
    browser: FlaskClient, issue: Callable[..., list[HeldCredential]]
) -> None:
    (held,) = issue(count=1, age=15)
    answer = _present(browser, "/rooms/teen", held, ("age_over_13", "age_over_18"))
    assert (answer.status_code, answer.json) == (200, {"next": "/rooms/teen"})
    room = browser.get("/rooms/teen", headers=HTML)
    assert 'id="room" data-room="teen"' in room.get_data(as_text=True)
    lobby = " ".join(browser.get("/").get_data(as_text=True).split())
    assert "shown this site that you are 13 or over, not 18 or over." in lobby

    refused = browser.get("/rooms/adult", headers=HTML)
    assert refused.status_code == 403
    assert 'id="age-refused"' in refused.get_data(as_text=True)
    api = browser.get("/rooms/adult", headers={"Accept": "application/json"})
    assert (api.status_code, api.json["code"]) == (403, "requirement-not-met")


def test_an_adult_presenting_to_the_teen_room_is_refused(
    browser: FlaskClient, issue: Callable[..., list[HeldCredential]]
) -> None:
    (held,) = issue(count=1, age=30)
    answer = _present(browser, "/rooms/teen", held, ("age_over_13", "age_over_18"))
    assert (answer.status_code, answer.json["code"]) == (403, "requirement-not-met")
    assert answer.json["next"] == "/"
    assert browser.get("/rooms/teen", headers=HTML).status_code == 303


def test_the_same_presentation_twice_is_refused(
    browser: FlaskClient, issue: Callable[..., list[HeldCredential]]
) -> None:
    (held,) = issue(count=1, age=30)
    asked = _wallet_request(browser.get("/rooms/adult", headers=HTML))
    body = {"presentation": held.present(AUDIENCE, asked["nonce"]), "nonce": asked["nonce"]}
    assert browser.post("/ageverify/callback", json=body).status_code == 200
    replay = browser.post("/ageverify/callback", json=body)
    assert (replay.status_code, replay.json["code"]) == (400, "presentation-request-unknown")


def test_two_sites_on_one_host_keep_separate_sessions(app: Flask) -> None:
    issuer = app.extensions["ageverify"].settings.issuer_url
    chat_a = create_chat_app("Demo chat A", "http://127.0.0.1:8101", issuer)
    chat_b = create_chat_app("Demo chat B", "http://127.0.0.1:8102", issuer)
    # Cookies ignore ports: one name per site keeps A's proof when B writes its own.
    assert chat_a.config["SESSION_COOKIE_NAME"] != chat_b.config["SESSION_COOKIE_NAME"]


def test_privacy_pass_mode_has_no_teen_room(app: Flask) -> None:
    issuer = app.extensions["ageverify"].settings.issuer_url
    chat = create_chat_app("Demo chat", AUDIENCE, issuer, mode="privacy-pass")
    client = chat.test_client()
    assert client.get("/rooms/teen").status_code == 404
    assert 'id="enter-teen"' not in client.get("/").get_data(as_text=True)
