"""Schemathesis against the issuer's own /openapi.json, called through the WSGI app.

Every operation of the document is fuzzed with data that fits its schema
(positive) and, where it takes parameters or a body, data that does not
(negative). Each response must be no server error, have a documented status
code and content type, match the documented body and header schemas and,
for every error, be ``{"code", "description"}`` with a code from CODES.

``SCHEMATHESIS_EXAMPLES`` sets the examples per operation and mode (default
100, some 3,000 cases in all); raise it for a longer local run, e.g.
``SCHEMATHESIS_EXAMPLES=1000 pytest tests/fuzz/test_schemathesis.py``.
The rate limiter is switched off for the fuzzing so that it does not answer
for the endpoints behind it; the last tests check its 429 against the
document on an app with tight limits. Without schemathesis the module is
skipped, except under ``CI=true``, where the import error fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings

from ageverify import create_app
from ageverify.config import write_dev_settings
from ageverify.demo import DemoVerifier, register_demo_verifier
from ageverify.errors import CODES
from ageverify.formats.attestation import METHODS
from ageverify.formats.privacypass import MEDIA_TYPE_TOKEN_REQUEST
from ageverify.issuer import admin_tokens
from ageverify.issuer.tokens import NONCE_PATH, TOKEN_REQUEST_PATH
from ageverify.storage.db import transaction
from ageverify.web.limits import LIMITED_ENDPOINTS
from ageverify.web.openapi import document

if os.environ.get("CI") != "true":
    pytest.importorskip("schemathesis")

import schemathesis  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "100"))

# TokenRequest bodies are raw bytes, sent as they are.
schemathesis.serializer.alias(MEDIA_TYPE_TOKEN_REQUEST, "application/octet-stream")


def _operations() -> list[Any]:
    """(method, path, mode) for every documented operation; negative only where input exists."""
    paths = document(
        issuer_url="http://127.0.0.1:8000", thresholds=[18], max_batch=1, methods=list(METHODS)
    )["paths"]
    cases = []
    for path, operations in paths.items():
        for method, operation in operations.items():
            modes = [GenerationMode.POSITIVE]
            # An operation without parameters or a body has nothing to make invalid.
            if "parameters" in operation or "requestBody" in operation:
                modes.append(GenerationMode.NEGATIVE)
            for mode in modes:
                cases.append(
                    pytest.param(method, path, mode, id=f"{method.upper()} {path} {mode.value}")
                )
    return cases


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """A development issuer with the demo verifier and no rate limits, for the whole module."""
    instance = tmp_path_factory.mktemp("schemathesis") / "instance"
    write_dev_settings(instance)
    app = create_app(
        {
            "env": "development",
            "instance_path": instance,
            "rate_limit_issuance": "none",
            "rate_limit_tokens": "none",
            "rate_limit_verify": "none",
        }
    )
    state = app.extensions["ageverify"]
    register_demo_verifier(state.sessions, DemoVerifier.load_or_create(instance), now=state.clock())
    yield app
    state.close()


@pytest.fixture(scope="module")
def admin_headers(fuzzed_app: Flask) -> dict[str, str]:
    """A live admin bearer token for the /v1/admin/ operations."""
    with transaction(fuzzed_app.extensions["ageverify"].sessions) as session:
        token = admin_tokens.create_token(session, "schemathesis")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: Flask) -> Any:
    """The document as the app serves it, bound to the app for WSGI calls."""
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzzed_app)


@pytest.fixture(scope="module")
def case_counts() -> Iterator[dict[str, int]]:
    """Cases run per operation and mode; the total is printed at the end (``-s``)."""
    counts: dict[str, int] = {}
    yield counts
    print(f"\nschemathesis: {sum(counts.values())} cases over {len(counts)} operation-modes")


def error_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error body is exactly ``{"code", "description"}`` with a code from CODES."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"code", "description"}, body
    assert body["code"] in CODES, body
    assert isinstance(body["description"], str) and body["description"], body
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    error_envelope,
]


@pytest.mark.parametrize(("method", "path", "mode"), _operations())
def test_operation_conforms_to_the_document(
    api_schema: Any,
    admin_headers: dict[str, str],
    case_counts: dict[str, int],
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    operation = api_schema[path][method]
    headers = admin_headers if path.startswith("/v1/admin/") else None
    key = f"{method.upper()} {path} {mode.value}"
    case_counts[key] = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case_counts[key] += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


# What the limiter guards (ageverify.web.limits.LIMITED_ENDPOINTS), as documented operations.
LIMITED_OPERATIONS = [
    ("post", "/v1/credentials", b"{}", "application/json"),
    ("post", NONCE_PATH, b"", None),
    ("post", TOKEN_REQUEST_PATH, b"\x00\x02", MEDIA_TYPE_TOKEN_REQUEST),
    ("post", "/v1/presentations/verify", b"{}", "application/json"),
]


def test_limited_operations_are_the_limiters(fuzzed_app: Flask) -> None:
    limited = {
        (method.lower(), rule.rule)
        for rule in fuzzed_app.url_map.iter_rules()
        if rule.endpoint in LIMITED_ENDPOINTS
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert limited == {(method, path) for method, path, _, _ in LIMITED_OPERATIONS}


@pytest.fixture(scope="module")
def limited_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """A development issuer allowing one request a minute on each limited endpoint."""
    instance = tmp_path_factory.mktemp("limited") / "instance"
    write_dev_settings(instance)
    app = create_app(
        {
            "env": "development",
            "instance_path": instance,
            "rate_limit_issuance": "1/minute",
            "rate_limit_tokens": "1/minute",
            "rate_limit_verify": "1/minute",
        }
    )
    yield app
    app.extensions["ageverify"].close()


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type"),
    LIMITED_OPERATIONS,
    ids=[path for _, path, _, _ in LIMITED_OPERATIONS],
)
def test_rate_limited_answers_conform_to_the_document(
    limited_app: Flask, method: str, path: str, body: bytes, content_type: str | None
) -> None:
    limited_schema = schemathesis.openapi.from_wsgi("/openapi.json", limited_app)
    client = limited_app.test_client()
    answers = [
        client.open(path, method=method, data=body, content_type=content_type) for _ in range(2)
    ]
    assert answers[-1].status_code == 429, answers[-1].json
    limited_schema[path][method].Case().validate_response(answers[-1], checks=CHECKS)
    documented = limited_schema.raw_schema["paths"][path][method]["responses"]["429"]
    codes = documented["content"]["application/json"]["schema"]["allOf"][1]["properties"]
    assert "rate-limited" in codes["code"]["enum"]
    assert "Retry-After" in documented["headers"]
