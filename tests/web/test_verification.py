"""POST /v1/presentations/verify for platforms that cannot run the SDK."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from presenting import HeldCredential

AUDIENCE = "https://chat.example"
NONCE = "Zm9vYmFyYmF6cXV4"


def _verify(client: FlaskClient, presentation: str, **requirement: int) -> dict:
    body = {"presentation": presentation, "audience": AUDIENCE, "nonce": NONCE, **requirement}
    response = client.post("/v1/presentations/verify", json=body)
    assert response.headers["Cache-Control"] == "no-store"
    return {"status": response.status_code, **response.json}


def test_adult_is_verified_18_plus(
    client: FlaskClient, issue: Callable[..., list[HeldCredential]]
) -> None:
    held = issue(count=1, age=30)[0]
    result = _verify(client, held.present(AUDIENCE, NONCE), min_age=18)
    assert result["status"] == 200
    assert result["verified"] is True
    assert result["facts"] == {"age_over_18": True}
    assert isinstance(result["expires_at"], int | float)


def test_teen_is_refused_18_plus_and_accepted_13_to_17(
    client: FlaskClient, issue: Callable[..., list[HeldCredential]]
) -> None:
    teen = issue(count=1, age=15)[0]
    refused = _verify(client, teen.present(AUDIENCE, NONCE), min_age=18)
    assert (refused["status"], refused["code"]) == (403, "requirement-not-met")
    room = teen.present(AUDIENCE, NONCE, claims=("age_over_13", "age_over_18"))
    accepted = _verify(client, room, min_age=13, max_age=17)
    assert accepted["status"] == 200
    assert accepted["facts"] == {"age_over_13": True, "age_over_18": False}


def test_the_endpoint_keeps_no_nonce_state(
    client: FlaskClient, issue: Callable[..., list[HeldCredential]]
) -> None:
    # Replay protection is the platform's: it alone knows which nonces it issued.
    presentation = issue(count=1)[0].present(AUDIENCE, NONCE)
    assert _verify(client, presentation, min_age=18)["status"] == 200
    assert _verify(client, presentation, min_age=18)["status"] == 200


def test_published_keys_are_built_once_and_again_when_the_log_moves(
    client: FlaskClient,
    app: Flask,
    issue: Callable[..., list[HeldCredential]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = app.extensions["ageverify"]
    built = []
    jwks = state.signing_keys.jwks

    def counted(now: float) -> dict:
        built.append(now)
        return jwks(now)

    monkeypatch.setattr(state.verification_keys, "_jwks", counted)
    monkeypatch.setattr(state.verification_keys, "_cached", None)
    held = issue(count=1)[0]
    for _ in range(5):
        assert _verify(client, held.present(AUDIENCE, NONCE), min_age=18)["status"] == 200
    assert len(built) == 1  # the published set is read from the database once

    # Revoking the key is a log event: the very next verification refuses it.
    state.signing_keys.revoke(state.signing_keys.current().kid)
    refused = _verify(client, held.present(AUDIENCE, NONCE), min_age=18)
    assert (refused["status"], refused["code"]) == (400, "credential-unknown-key")
    assert len(built) == 2
