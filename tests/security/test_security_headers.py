"""Security headers on every answer of the issuer: each route, each method, and the errors.

Routes are read from the app's ``url_map`` (path parameters filled with
real-looking values), so a new route is checked as soon as it exists. The
API's answers carry the headers of ``ageverify.web.envelope`` exactly; the
wallet's pages (``/wallet/``) set a stricter policy of their own, accepted
when it keeps ``default-src`` to ``'none'`` or ``'self'`` and forbids framing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from presenting import MovableClock
from werkzeug.test import TestResponse

from ageverify import create_app
from ageverify.config import write_dev_settings
from ageverify.demo import DEMO_VERIFIER_ID, DemoVerifier, register_demo_verifier
from ageverify.issuer import admin_tokens
from ageverify.storage.db import transaction
from ageverify.web.envelope import SECURITY_HEADERS

WALLET_PREFIX = "/wallet/"
# A value for each path parameter name a route may have; a new name fails
# test_every_path_parameter_has_a_value until it is added here.
PATH_VALUES = {
    "verifier_id": DEMO_VERIFIER_ID,
    "kid": "kid-of-no-key",
    "name": "wallet.js",
    "path": "0/000",
}


@dataclass
class Issuer:
    """The app, a client and a live admin token (so admin routes answer past authentication)."""

    app: Flask
    client: FlaskClient
    admin_token: str


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    instance = tmp_path_factory.mktemp("headers") / "instance"
    clock = MovableClock(time.time())
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("AGEVERIFY_"):
                patch.delenv(name)
        write_dev_settings(instance)
        app = create_app({"env": "development", "instance_path": instance}, clock=clock)
    state = app.extensions["ageverify"]
    register_demo_verifier(state.sessions, DemoVerifier.load_or_create(instance), now=clock())
    with transaction(state.sessions) as session:
        token = admin_tokens.create_token(session, "headers")
    yield Issuer(app, app.test_client(), token)
    state.close()


def _rules(issuer: Issuer) -> list[tuple[str, str]]:
    return sorted(
        (rule.rule, method)
        for rule in issuer.app.url_map.iter_rules()
        for method in rule.methods or ()
    )


def _path(rule: str) -> str:
    """``rule`` with each ``<converter:name>`` replaced by a value for ``name``."""
    path = rule
    while "<" in path:
        start, end = path.index("<"), path.index(">")
        name = path[start + 1 : end].rsplit(":", 1)[-1]
        path = path[:start] + PATH_VALUES[name] + path[end + 1 :]
    return path


def assert_security_headers(path: str, response: TestResponse) -> None:
    """The headers every answer carries, whatever its status."""
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") == "no-referrer", path
    assert headers.get("Cache-Control"), path
    policy = headers.get("Content-Security-Policy", "")
    directives = {
        directive.split()[0]: directive.split()[1:]
        for directive in policy.split(";")
        if directive.strip()
    }
    assert directives.get("frame-ancestors") == ["'none'"] or headers.get("X-Frame-Options") in (
        "DENY",
        "SAMEORIGIN",
    ), path
    if path.startswith(WALLET_PREFIX) and response.status_code < 400:
        assert directives.get("default-src") in (["'none'"], ["'self'"]), (path, policy)
        assert directives.get("frame-ancestors") == ["'none'"], (path, policy)
    else:
        for name, value in SECURITY_HEADERS.items():
            assert headers.get(name) == value, (path, name, headers.get(name))
    if response.status_code >= 400:
        # A refusal is about this one exchange: never stored by a cache.
        assert headers["Cache-Control"] == "no-store", (path, response.status_code)


def test_every_path_parameter_has_a_value(issuer: Issuer) -> None:
    for rule in issuer.app.url_map.iter_rules():
        assert set(rule.arguments) <= set(PATH_VALUES), rule.rule


def test_routes_are_found(issuer: Issuer) -> None:
    rules = {rule for rule, _ in _rules(issuer)}
    assert {"/v1/credentials", "/wallet/", "/v1/admin/keys", "/healthz"} <= rules


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "admin-token"])
def test_every_route_and_method_answers_with_the_security_headers(
    issuer: Issuer, authenticated: bool
) -> None:
    headers = {"Authorization": f"Bearer {issuer.admin_token}"} if authenticated else {}
    checked = 0
    for rule, method in _rules(issuer):
        path = _path(rule)
        body: dict[str, Any] | None = {} if method in ("POST", "DELETE") else None
        response = issuer.client.open(path, method=method, json=body, headers=headers)
        assert response.status_code < 500, (method, path, response.get_data(as_text=True))
        assert_security_headers(path, response)
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("unknown path", 404),
        ("unknown wallet file", 404),
        ("method not allowed", 405),
        ("body too large", 413),
        ("not JSON", 415),
        ("admin without token", 401),
        ("bad JSON", 400),
        ("server fault", 500),
    ],
)
def test_error_answers_carry_the_security_headers(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch, case: str, status: int
) -> None:
    client = issuer.client
    if case == "unknown path":
        path, response = "/no/such/path", client.get("/no/such/path")
    elif case == "unknown wallet file":
        path, response = "/wallet/secret.txt", client.get("/wallet/secret.txt")
    elif case == "method not allowed":
        path, response = "/v1/credentials", client.get("/v1/credentials")
    elif case == "body too large":
        path = "/v1/credentials"
        response = client.post(
            path, data=b"{" + b" " * 1_000_000 + b"}", content_type="application/json"
        )
    elif case == "not JSON":
        path, response = "/v1/credentials", client.post("/v1/credentials", data="x=1")
    elif case == "admin without token":
        path, response = "/v1/admin/keys", client.get("/v1/admin/keys")
    elif case == "bad JSON":
        path = "/v1/credentials"
        response = client.post(path, data=b"{", content_type="application/json")
    else:

        def fail() -> None:
            raise RuntimeError("a fault of the server's own")

        monkeypatch.setitem(issuer.app.view_functions, "ops.healthz", fail)
        path, response = "/healthz", client.get("/healthz")
    assert response.status_code == status
    assert "Traceback" not in response.get_data(as_text=True)
    assert_security_headers(path, response)


def test_wallet_pages_keep_their_own_stricter_policy(issuer: Issuer) -> None:
    for path in ("/wallet/", "/wallet/index.html", "/wallet/wallet.js"):
        response = issuer.client.get(path)
        assert response.status_code == 200
        assert_security_headers(path, response)
        # Revalidated (304) answers are answers too.
        etag = response.headers["ETag"]
        again = issuer.client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert_security_headers(path, again)
