"""Structured logs: one JSON object per line, the request id, and nothing from the request."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from presenting import HolderKeys

from ageverify import create_app
from ageverify.logs import JsonFormatter, RequestIdFilter, log_access


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


@pytest.fixture
def json_lines(json_app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """ageverify's JSON handler writing to a buffer, at a frozen time."""
    logger = logging.getLogger("ageverify")
    (handler,) = [h for h in logger.handlers if getattr(h, "_ageverify", False)]
    assert isinstance(handler, logging.StreamHandler)
    monkeypatch.setattr(time, "time", lambda: 1_790_000_000.25)
    monkeypatch.setattr(time, "time_ns", lambda: 1_790_000_000_250_000_000)
    sink = io.StringIO()
    previous = handler.setStream(sink)
    try:
        yield sink
    finally:
        handler.setStream(previous)


@contextlib.contextmanager
def production_handlers() -> Iterator[None]:
    """ageverify's own handler alone, as in production.

    The test run's log capture attaches handlers of its own to each test's
    call: they are set aside meanwhile.
    """
    logger = logging.getLogger("ageverify")
    others = [h for h in logger.handlers if not getattr(h, "_ageverify", False)]
    for handler in others:
        logger.removeHandler(handler)
    try:
        yield
    finally:
        for handler in others:
            logger.addHandler(handler)


ACCESS = {
    "request_id": "0123456789abcdef",
    "method": "POST",
    "route": "/v1/presentations/verify",
    "status": 400,
    "duration_ms": 1.5,
    "code": "presentation-malformed",
    "presentation": "eyJ-a-token",  # not an access field: left out on both paths
}


def test_an_access_line_written_directly_equals_the_logging_paths(
    json_lines: io.StringIO,
) -> None:
    access = logging.getLogger("ageverify.access")
    with production_handlers():
        log_access(access, "POST /v1/presentations/verify 400 1.5ms", ACCESS)
        access.addFilter(lambda record: True)  # any filter sends the line the logging way
        try:
            log_access(access, "POST /v1/presentations/verify 400 1.5ms", ACCESS)
        finally:
            access.filters.clear()
    direct, logged = json_lines.getvalue().splitlines()
    assert direct == logged
    assert json.loads(direct) == {
        "time": "2026-09-21T14:13:20.250Z",
        "level": "INFO",
        "logger": "ageverify.access",
        "message": "POST /v1/presentations/verify 400 1.5ms",
        **{name: value for name, value in ACCESS.items() if name != "presentation"},
    }


def test_the_production_setup_writes_access_lines_without_a_log_record(
    json_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_record(*_: object, **__: object) -> None:
        raise AssertionError("made a LogRecord")

    monkeypatch.setattr(logging.Logger, "makeRecord", no_record)
    with production_handlers():
        log_access(logging.getLogger("ageverify.access"), "GET /healthz 200 0.1ms", ACCESS)
    assert json.loads(json_lines.getvalue())["message"] == "GET /healthz 200 0.1ms"


def test_access_lines_follow_the_level(json_lines: io.StringIO) -> None:
    logger = logging.getLogger("ageverify")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with production_handlers():
            log_access(logging.getLogger("ageverify.access"), "GET /healthz 200 0.1ms", ACCESS)
    finally:
        logger.setLevel(level)
    assert json_lines.getvalue() == ""


def test_a_failed_write_is_handled_as_logging_handles_it(
    json_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    (handler,) = [
        h for h in logging.getLogger("ageverify").handlers if getattr(h, "_ageverify", False)
    ]
    handled: list[str] = []

    def broken(_: str) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(json_lines, "write", broken)
    monkeypatch.setattr(handler, "handleError", lambda record: handled.append(record.msg))
    with production_handlers():
        log_access(logging.getLogger("ageverify.access"), "GET /healthz 200 0.1ms", ACCESS)
    assert handled == ["GET /healthz 200 0.1ms"]
