"""Structured logs: one JSON object per line, the request id, and nothing from the request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from presenting import HolderKeys

from ageverify import create_app
from ageverify.logs import JsonFormatter, RequestIdFilter


def test_a_record_becomes_one_json_line_with_fixed_fields() -> None:
    record = logging.LogRecord(
        "ageverify.access", logging.INFO, __file__, 1, "hello %s", ("x",), None
    )
    record.route = "/v1/credentials"
    record.status = 200
    record.presentation = "eyJ-a-token"  # an attribute nobody allowed: left out
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert set(entry) == {"time", "level", "logger", "message", "route", "status"}
    assert entry["message"] == "hello x" and entry["status"] == 200
    assert entry["time"].endswith("Z")


def test_an_exception_is_named_by_its_type_only() -> None:
    try:
        raise ValueError("the secret input eyJhbGciOi")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "ageverify", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["exception"] == "ValueError"
    assert "eyJhbGciOi" not in json.dumps(entry)


@pytest.fixture
def json_app(instance: Path) -> Iterator[Flask]:
    application = create_app(
        {"env": "development", "instance_path": instance, "log_format": "json"}
    )
    yield application
    application.extensions["ageverify"].close()


def test_the_app_logs_json_when_asked(json_app: Flask) -> None:
    handlers = [
        h for h in logging.getLogger("ageverify").handlers if getattr(h, "_ageverify", False)
    ]
    assert len(handlers) == 1
    assert isinstance(handlers[0].formatter, JsonFormatter)


def test_access_lines_carry_the_request_id_and_no_request_data(
    app: Flask, attest: Callable[..., str]
) -> None:
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("ageverify")
    logger.addHandler(handler)
    try:
        client = app.test_client()
        keys = HolderKeys.generate(2)
        attestation = attest()
        issued = client.post(
            "/v1/credentials", json={"attestation": attestation, "holder_keys": keys.jwks}
        )
        replayed = client.post(
            "/v1/credentials", json={"attestation": attestation, "holder_keys": keys.jwks}
        )
    finally:
        logger.removeHandler(handler)
    entries = [json.loads(line) for line in sink.getvalue().splitlines()]
    access = [entry for entry in entries if entry["logger"] == "ageverify.access"]
    assert [(e["route"], e["status"], e["code"]) for e in access] == [
        ("/v1/credentials", 200, "-"),
        ("/v1/credentials", 409, "attestation-replayed"),
    ]
    assert [e["request_id"] for e in access] == [
        issued.headers["X-Request-ID"],
        replayed.headers["X-Request-ID"],
    ]
    text = sink.getvalue()
    for secret in (attestation, keys.jwks[0]["x"], *issued.json["credentials"]):
        assert secret[:40] not in text
