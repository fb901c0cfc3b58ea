"""Liveness, readiness and metrics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from presenting import HolderKeys
from prometheus_client.parser import text_string_to_metric_families

from ageverify import create_app


def samples(client: FlaskClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics by (name, labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


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


def test_readyz_checks_redis_when_configured(
    tmp_path: Path, instance: Path, redis_server: Any
) -> None:
    ready = create_app(
        {"env": "development", "instance_path": instance, "redis_url": redis_server.url}
    )
    gone = create_app(
        {
            "env": "development",
            "instance_path": instance,
            "redis_url": f"unix://{tmp_path / 'no-such.sock'}",
        }
    )
    try:
        assert ready.test_client().get("/readyz").status_code == 200
        response = gone.test_client().get("/readyz")
        assert (response.status_code, response.json["code"]) == (503, "unavailable")
    finally:
        ready.extensions["ageverify"].close()
        gone.extensions["ageverify"].close()


def test_requests_are_counted_by_route_pattern_and_status(client: FlaskClient) -> None:
    before = samples(client)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/log/tile/0/x999")
    client.get("/a-path-holding-eyJhbGciOi-token-text")
    after = samples(client)
    name = "ageverify_http_requests_total"
    healthz = {"route": "/healthz", "http_method": "GET", "status": "200"}
    assert value(after, name, **healthz) - value(before, name, **healthz) == 2
    unmatched = {"route": "<unmatched>", "http_method": "GET", "status": "404"}
    assert value(after, name, **unmatched) - value(before, name, **unmatched) >= 1
    seconds = "ageverify_http_request_duration_seconds_count"
    assert value(after, seconds, route="/healthz") - value(before, seconds, route="/healthz") == 2
    text = client.get("/metrics").get_data(as_text=True)
    assert "eyJhbGciOi" not in text  # a path is the client's text: never a label


def test_outcomes_are_counted_by_code(client: FlaskClient, attest: Callable[..., str]) -> None:
    before = samples(client)
    keys = HolderKeys.generate(2)
    assert (
        client.post(
            "/v1/credentials", json={"attestation": attest(), "holder_keys": keys.jwks}
        ).status_code
        == 200
    )
    forged = attest()[:-4] + "AAAA"
    client.post("/v1/credentials", json={"attestation": forged, "holder_keys": keys.jwks})
    after = samples(client)
    name = "ageverify_outcomes_total"
    ok = {"operation": "issuance", "outcome": "ok"}
    bad = {"operation": "issuance", "outcome": "attestation-bad-signature"}
    assert value(after, name, **ok) - value(before, name, **ok) == 1
    assert value(after, name, **bad) - value(before, name, **bad) == 1


def test_metrics_tell_how_long_the_keys_can_still_sign(client: FlaskClient, app: Flask) -> None:
    state = app.extensions["ageverify"]
    now = state.clock()
    last_epoch_end = max(key["epoch_end"] for key in state.signing_keys.list())
    left = value(samples(client), "ageverify_signing_key_seconds_left")
    assert left == pytest.approx(last_epoch_end - now, abs=1)
    assert left > state.settings.epoch_seconds  # keys are generated ahead
    for key in state.signing_keys.list():
        state.signing_keys.revoke(key["kid"])
    assert value(samples(client), "ageverify_signing_key_seconds_left") == 0


def test_metrics_show_no_age_facts_methods_or_verifiers(
    client: FlaskClient, attest: Callable[..., str]
) -> None:
    # Live per-fact counters would date each issuance and undo /v1/stats's suppression.
    keys = HolderKeys.generate(1)
    client.post("/v1/credentials", json={"attestation": attest(), "holder_keys": keys.jwks})
    text = client.get("/metrics").get_data(as_text=True)
    for word in ("age_over", "threshold", "demo-verifier", "id_document", 'outcome="other"'):
        assert word not in text
