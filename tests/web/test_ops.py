"""Liveness, readiness and metrics."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json) == (200, {"status": "ok"})


def test_readyz_checks_database_and_signing_key(client: FlaskClient, app: Flask) -> None:
    assert client.get("/readyz").status_code == 200
    state = app.extensions["ageverify"]
    for key in state.signing_keys.list():
        state.signing_keys.revoke(key["kid"])
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["code"] == "no-signing-key"


def test_metrics_are_aggregate_text(client: FlaskClient) -> None:
    client.get("/healthz")
    client.get("/nowhere")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert 'ageverify_http_responses_total{class="2xx"}' in text
    assert 'ageverify_http_responses_total{class="4xx"}' in text
