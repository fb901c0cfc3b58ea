"""No input makes the gate answer 500: hostile headers, bodies and cookies, for both the
Flask extension and the middleware."""

from __future__ import annotations

from typing import Any

import pytest
from gate_support import API, BROWSER, Issuer, chat_app, middleware
from werkzeug.test import Client

HEADERS: list[dict[str, str]] = [
    {"Accept": "text/html;q=abc, */*;q=-1"},
    {"Accept": "," * 500},
    {"Accept": "text/html", "Authorization": "AgeCredential " + "x" * 30_000},
    {"Accept": "text/html", "Authorization": 'AgeCredential presentation="' + "a~" * 9000 + '"'},
    {"Authorization": "PrivateToken"},
    {"Authorization": "PrivateToken token=!!!"},
    {"Authorization": 'PrivateToken token="AAAA", token="BBBB"'},
    {"Authorization": "privatetoken token=" + "A" * 20_000},
    {"Authorization": 'AGECREDENTIAL PRESENTATION="a.b.c~", NONCE="n"'},
    {"Authorization": "\t"},
    {"Cookie": "session=garbage; ageverify=garbage"},
    {"Cookie": "session=" + "A" * 4000},
    {**BROWSER, "Cookie": "ageverify=eyJ4Ijoi.bad"},
]

BODIES: list[tuple[str, bytes]] = [
    ("application/json", b"\x00\x01\x02"),
    ("application/json", b"[" * 10_000),
    ("application/json", b'{"token": "' + b"A" * 15_000 + b'", "nonce": "n", "n": 1}'),
    ("application/json; charset=latin-1", b'{"error": "presentation-declined", "nonce": "n"}'),
    ("multipart/form-data; boundary=x", b"--x--"),
    ("", b""),
]


def apps(issuer: Issuer) -> list[Any]:
    return [
        chat_app(issuer)[0].test_client(),
        chat_app(issuer, mode="privacy-pass")[0].test_client(),
        Client(middleware(issuer)),
        Client(middleware(issuer, mode="privacy-pass")),
    ]


@pytest.mark.parametrize("headers", HEADERS)
def test_hostile_headers(issuer: Issuer, headers: dict[str, str]) -> None:
    for client in apps(issuer):
        for path in ("/rooms/adult", "/ageverify/callback", "/"):
            response = client.get(path, headers=headers)
            assert response.status_code < 500, (path, headers, response.data[:200])


@pytest.mark.parametrize(("content_type", "body"), BODIES)
def test_hostile_callback_bodies(issuer: Issuer, content_type: str, body: bytes) -> None:
    for client in apps(issuer):
        client.get("/rooms/adult", headers=BROWSER)
        response = client.post("/ageverify/callback", data=body, content_type=content_type)
        assert 400 <= response.status_code < 500
        assert response.json["code"] == "callback-malformed"


def test_a_callback_from_another_site_is_refused(issuer: Issuer) -> None:
    client = chat_app(issuer)[0].test_client()
    client.get("/rooms/adult", headers=BROWSER)
    response = client.post(
        "/ageverify/callback",
        json={"presentation": "x", "nonce": "n"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 400
    assert response.json is not None and response.json["code"] == "callback-malformed"


def test_methods_the_callback_does_not_take(issuer: Issuer) -> None:
    for client in apps(issuer):
        for method in ("PUT", "DELETE", "PATCH"):
            response = client.open("/ageverify/callback", method=method, headers=API)
            assert 400 <= response.status_code < 500
