"""Authorization matrix of the admin API: every route under /v1/admin, every method.

Routes are read from the app's ``url_map``: a new admin endpoint is covered
as soon as it exists, and :func:`test_every_admin_route_is_in_the_matrix`
fails until it has a row in :data:`ROUTES` saying how to call it. Each
refused credential must give ``401 unauthorized`` with a ``WWW-Authenticate:
Bearer`` challenge and leave every table of the database and every key file
exactly as it was. A live token gets past authentication (not a 401).

Admin tokens carry no scopes (ageverify/issuer/admin_tokens.py): a live
token may call every admin endpoint, so there is no wrong-scope row.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from presenting import MovableClock
from sqlalchemy import select
from werkzeug.routing import Rule

from ageverify import create_app
from ageverify.config import write_dev_settings
from ageverify.demo import DEMO_VERIFIER_ID, DemoVerifier, register_demo_verifier
from ageverify.formats import jose
from ageverify.issuer import admin_tokens
from ageverify.storage.db import transaction
from ageverify.storage.models import Base

ADMIN_PREFIX = "/v1/admin"
# Methods werkzeug adds to a rule by itself; they are checked like the others.
AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Call:
    """How to call one admin route so that a live token would succeed.

    ``path(ids)`` builds the path from the ids of real objects (``verifier``,
    ``verifier_kid``, ``signing_kid``); ``body(ids)`` the JSON body, if any.
    """

    path: Callable[[dict[str, str]], str]
    body: Callable[[dict[str, str]], dict[str, Any]] | None = None


def _new_jwk() -> dict[str, str]:
    return jose.public_jwk(ec.generate_private_key(ec.SECP256R1()))


# (rule, method) -> how to call it. Every admin route of the app must appear here.
ROUTES: dict[tuple[str, str], Call] = {
    ("/v1/admin/verifiers", "GET"): Call(lambda ids: "/v1/admin/verifiers"),
    ("/v1/admin/verifiers", "POST"): Call(
        lambda ids: "/v1/admin/verifiers",
        lambda ids: {
            "id": "new-verifier",
            "name": "A new verifier",
            "jwks": [_new_jwk()],
            "methods": ["id_document"],
        },
    ),
    ("/v1/admin/verifiers/<verifier_id>", "GET"): Call(
        lambda ids: f"/v1/admin/verifiers/{ids['verifier']}"
    ),
    ("/v1/admin/verifiers/<verifier_id>/suspend", "POST"): Call(
        lambda ids: f"/v1/admin/verifiers/{ids['verifier']}/suspend"
    ),
    ("/v1/admin/verifiers/<verifier_id>/resume", "POST"): Call(
        lambda ids: f"/v1/admin/verifiers/{ids['verifier']}/resume"
    ),
    ("/v1/admin/verifiers/<verifier_id>/keys", "POST"): Call(
        lambda ids: f"/v1/admin/verifiers/{ids['verifier']}/keys",
        lambda ids: {"jwk": _new_jwk()},
    ),
    ("/v1/admin/verifiers/<verifier_id>/keys/<kid>", "DELETE"): Call(
        lambda ids: f"/v1/admin/verifiers/{ids['verifier']}/keys/{ids['verifier_kid']}"
    ),
    ("/v1/admin/keys", "GET"): Call(lambda ids: "/v1/admin/keys"),
    ("/v1/admin/keys/generate-ahead", "POST"): Call(lambda ids: "/v1/admin/keys/generate-ahead"),
    ("/v1/admin/keys/<kid>/retire", "POST"): Call(
        lambda ids: f"/v1/admin/keys/{ids['signing_kid']}/retire"
    ),
    ("/v1/admin/keys/<kid>/revoke", "POST"): Call(
        lambda ids: f"/v1/admin/keys/{ids['signing_kid']}/revoke"
    ),
}


def _admin_rules(app: Flask) -> list[Rule]:
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith(ADMIN_PREFIX + "/")]


def _route_methods(app: Flask) -> set[tuple[str, str]]:
    """Every (rule, method) the app serves under /v1/admin, automatic methods included."""
    return {(rule.rule, method) for rule in _admin_rules(app) for method in rule.methods or ()}


def _explicit(rule: str, method: str) -> tuple[str, str]:
    """The ROUTES row a (rule, method) is called by: HEAD and OPTIONS borrow a sibling's."""
    if method not in AUTOMATIC_METHODS:
        return rule, method
    preferred = ("GET",) if method == "HEAD" else ("GET", "POST", "DELETE")
    for sibling in preferred:
        if (rule, sibling) in ROUTES:
            return rule, sibling
    raise KeyError((rule, method))


@dataclass
class Admin:
    """An issuer app with the ids of real objects, a live token and a token revoked."""

    app: Flask
    client: FlaskClient
    ids: dict[str, str]
    live_token: str
    revoked_token: str

    def send(self, rule: str, method: str, headers: dict[str, str], query: str = "") -> Any:
        call = ROUTES[_explicit(rule, method)]
        body = call.body(self.ids) if call.body is not None else None
        return self.client.open(
            call.path(self.ids) + query, method=method, json=body, headers=headers
        )


def _make_admin(app: Flask, instance: Path, clock: MovableClock) -> Admin:
    state = app.extensions["ageverify"]
    demo = DemoVerifier.load_or_create(instance)
    register_demo_verifier(state.sessions, demo, now=clock())
    with transaction(state.sessions) as session:
        live = admin_tokens.create_token(session, "live")
        revoked = admin_tokens.create_token(session, "revoked")
    with transaction(state.sessions) as session:
        admin_tokens.revoke_token(session, revoked.removeprefix("avat_").split(".")[0])
    ids = {
        "verifier": DEMO_VERIFIER_ID,
        "verifier_kid": demo.kid,
        "signing_kid": state.signing_keys.list()[0]["kid"],
    }
    return Admin(app, app.test_client(), ids, live, revoked)


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    """One issuer for every refused request: a refusal must change nothing anyway."""
    instance = tmp_path_factory.mktemp("admin") / "instance"
    clock = MovableClock(time.time())
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("AGEVERIFY_"):
                patch.delenv(name)
        write_dev_settings(instance)
        app = create_app({"env": "development", "instance_path": instance}, clock=clock)
    yield _make_admin(app, instance, clock)
    app.extensions["ageverify"].close()


def _snapshot(app: Flask) -> tuple[Any, ...]:
    """Every row of every table, and every key file with its digest."""
    state = app.extensions["ageverify"]
    with state.sessions() as session:
        rows = tuple(
            (table.name, tuple(tuple(row) for row in session.execute(select(table))))
            for table in Base.metadata.sorted_tables
        )
    keys_dir = Path(state.settings.keys_dir)
    files = tuple(
        sorted(
            (str(path.relative_to(keys_dir)), hashlib.sha256(path.read_bytes()).hexdigest())
            for path in keys_dir.rglob("*")
            if path.is_file()
        )
    )
    return rows, files


# name -> Authorization header value (None: no header) built from the admin fixture.
CREDENTIALS: dict[str, Callable[[Admin], str | None]] = {
    "no token": lambda a: None,
    "empty header": lambda a: "",
    "scheme only": lambda a: "Bearer",
    "scheme and spaces": lambda a: "Bearer   ",
    "basic scheme": lambda a: "Basic YWRtaW46YWRtaW4=",
    "basic scheme with the live token": lambda a: f"Basic {a.live_token}",
    "token without a scheme": lambda a: a.live_token,
    "token with trailing data": lambda a: f"Bearer {a.live_token} extra",
    "token cut short": lambda a: f"Bearer {a.live_token[:-1]}",
    "token not of the avat_ form": lambda a: "Bearer not-a-token",
    "unknown token id": lambda a: "Bearer avat_" + "A" * 16 + "." + "A" * 43,
    "wrong secret for a live id": lambda a: "Bearer " + a.live_token.split(".")[0] + "." + "A" * 43,
    "revoked token": lambda a: f"Bearer {a.revoked_token}",
}

REFUSALS = [
    pytest.param(rule, method, credential, id=f"{method} {rule} [{credential}]")
    for rule, method in sorted(
        {
            (rule, method)
            for rule, explicit_method in ROUTES
            for method in (explicit_method, "OPTIONS")
        }
        | {(rule, "HEAD") for rule, method in ROUTES if method == "GET"}
    )
    for credential in CREDENTIALS
]


def test_every_admin_route_is_in_the_matrix(admin: Admin) -> None:
    served = _route_methods(admin.app)
    assert served, "no admin routes found"
    explicit = {(rule, method) for rule, method in served if method not in AUTOMATIC_METHODS}
    assert explicit == set(ROUTES), "admin routes and the matrix differ: add the new row"
    covered = {(rule, method) for param in REFUSALS for rule, method in [param.values[:2]]}
    assert served == covered


@pytest.mark.parametrize(("rule", "method", "credential"), REFUSALS)
def test_refused_credentials_get_401_and_change_nothing(
    admin: Admin, rule: str, method: str, credential: str
) -> None:
    authorization = CREDENTIALS[credential](admin)
    headers = {} if authorization is None else {"Authorization": authorization}
    before = _snapshot(admin.app)
    response = admin.send(rule, method, headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert response.headers["Cache-Control"] == "no-store"
    if method != "HEAD":
        assert response.json["code"] == "unauthorized"
        assert admin.live_token not in response.get_data(as_text=True)
    assert _snapshot(admin.app) == before


@pytest.mark.parametrize(
    ("rule", "method"),
    sorted((rule, method) for rule, method in ROUTES),
    ids=[f"{method} {rule}" for rule, method in sorted(ROUTES)],
)
def test_token_in_the_query_string_is_not_accepted(admin: Admin, rule: str, method: str) -> None:
    # RFC 6750 allows access_token in the URI; it ends up in logs and histories, so not here.
    before = _snapshot(admin.app)
    response = admin.send(rule, method, {}, query=f"?access_token={admin.live_token}")
    assert (response.status_code, response.json["code"]) == (401, "unauthorized")
    assert _snapshot(admin.app) == before


LIVE_CALLS = sorted(set(ROUTES) | {(rule, "HEAD") for rule, method in ROUTES if method == "GET"})


@pytest.mark.parametrize(
    ("rule", "method"), LIVE_CALLS, ids=[f"{method} {rule}" for rule, method in LIVE_CALLS]
)
def test_a_live_token_gets_past_authentication(
    app: Flask, instance: Path, clock: MovableClock, rule: str, method: str
) -> None:
    # The conftest app, fresh for each call: a live token does change things.
    admin = _make_admin(app, instance, clock)
    for scheme in ("Bearer", "bearer"):
        response = admin.send(rule, method, {"Authorization": f"{scheme} {admin.live_token}"})
        assert response.status_code != 401, (scheme, response.get_data(as_text=True))
        assert response.status_code < 500
