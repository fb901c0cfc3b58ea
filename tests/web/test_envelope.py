"""What every response carries, and what never leaves the service."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from presenting import HeldCredential


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything the ``ageverify`` loggers write during the test."""
    logger = logging.getLogger("ageverify")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="ageverify")
    yield caplog
    logger.removeHandler(caplog.handler)


def test_security_headers_on_every_response(client: FlaskClient) -> None:
    for path in ("/healthz", "/.well-known/jwks.json", "/nowhere"):
        response = client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert len(response.headers["X-Request-ID"]) == 16


def test_request_id_is_ours_not_the_clients(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "chosen-by-client"})
    assert response.headers["X-Request-ID"] != "chosen-by-client"


def test_unknown_path_and_method_are_coded(client: FlaskClient) -> None:
    missing = client.get("/v1/nothing-here")
    assert (missing.status_code, missing.json["code"]) == (404, "not-found")
    wrong = client.get("/v1/credentials")
    assert (wrong.status_code, wrong.json["code"]) == (405, "method-not-allowed")
    assert "POST" in wrong.headers["Allow"]


def test_unexpected_failure_is_a_generic_500_without_details(
    app: Flask, logged: pytest.LogCaptureFixture
) -> None:
    secret = "avat_leaked-token-material"  # noqa: S105 - a marker, not a credential

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"failed while holding {secret}")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.json["code"] == "internal-error"
    body = response.get_data(as_text=True)
    assert secret not in body and "Traceback" not in body and "RuntimeError" not in body
    assert "RuntimeError" in logged.text
    assert response.headers["X-Request-ID"] in logged.text
    assert secret not in logged.text


def test_logs_hold_no_tokens_audience_or_nonce(
    client: FlaskClient,
    issue: Callable[..., list[HeldCredential]],
    attest: Callable[..., str],
    logged: pytest.LogCaptureFixture,
) -> None:
    audience = "https://platform-origin.example"
    nonce = "nonce-that-must-stay-private"
    held = issue(count=1)[0]
    presentation = held.present(audience, nonce)
    ok = client.post(
        "/v1/presentations/verify",
        json={"presentation": presentation, "audience": audience, "nonce": nonce, "min_age": 18},
    )
    assert ok.status_code == 200
    refused = client.post(
        "/v1/presentations/verify",
        json={"presentation": presentation, "audience": audience, "nonce": "x", "min_age": 18},
    )
    assert refused.json["code"] == "key-binding-wrong-nonce"
    # A token in the path of an unknown route is the client's text: not logged either.
    client.get(f"/v1/{held.issuer_jwt}")
    text = logged.text
    assert "POST /v1/presentations/verify 200" in text
    for secret in (audience, nonce, held.issuer_jwt, held.disclosures[0], presentation[-40:]):
        assert secret not in text
    assert "platform-origin" not in text


def test_issuance_log_holds_no_attestation_or_keys(
    client: FlaskClient, attest: Callable[..., str], logged: pytest.LogCaptureFixture
) -> None:
    from presenting import HolderKeys

    keys = HolderKeys.generate(2)
    token = attest()
    response = client.post("/v1/credentials", json={"attestation": token, "holder_keys": keys.jwks})
    assert response.status_code == 200
    text = logged.text
    assert "credentials issued count=2" in text
    assert token.split(".")[1] not in text
    assert keys.jwks[0]["x"] not in text
    assert response.json["credentials"][0][:60] not in text


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (({"b": 1, "a": [True, None, "é"]},), {}),
        ((), {"verified": True, "facts": {"age_over_18": True}, "expires_at": 1803427200}),
        ((1, "two", 3.5), {}),
        ((), {}),
    ],
)
def test_json_responses_are_flasks_bytes_in_the_members_order(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    from flask.json.provider import DefaultJSONProvider

    from ageverify.web.envelope import JSONProvider

    ours, flasks = Flask("ours"), Flask("flasks")
    provider = JSONProvider(ours)
    ours.json = provider
    flasks.json.sort_keys = False  # type: ignore[attr-defined]
    assert isinstance(flasks.json, DefaultJSONProvider)
    encoded = []
    shared = provider._encode
    provider._encode = lambda value: encoded.append(value) or shared(value)  # type: ignore[method-assign]
    with ours.app_context():
        mine = ours.json.response(*args, **kwargs)
    # The shared encoder made the body, once.
    assert len(encoded) == 1
    with flasks.app_context():
        theirs = flasks.json.response(*args, **kwargs)
    assert mine.get_data() == theirs.get_data()
    assert mine.headers["Content-Type"] == theirs.headers["Content-Type"] == "application/json"
    # Members keep the order the code gave them.
    if kwargs:
        assert mine.get_data().startswith(b'{"verified":true,"facts"')


@pytest.mark.parametrize("debug", [False, True])
def test_json_responses_take_a_value_or_members_not_both(debug: bool) -> None:
    from ageverify.web.envelope import JSONProvider

    app = Flask("app")
    app.debug = debug
    app.json = JSONProvider(app)
    with app.app_context():
        with pytest.raises(TypeError):
            app.json.response(1, a=1)
        indented = app.json.response(a=1).get_data() == b'{\n  "a": 1\n}\n'
        assert indented is debug
