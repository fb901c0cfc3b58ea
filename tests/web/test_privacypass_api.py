"""Privacy Pass issuance over HTTP: directory, nonces, token requests, refusals, logs.

Tokens are built the way any RFC 9578 client builds them (``blindrsa.blind``
over the token input, a ``TokenRequest``), authorised with presentations made
by the test helpers, and checked with ``blindrsa.verify`` over
``privacypass.token_input``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from presenting import HeldCredential, MovableClock

from ageverify import create_app
from ageverify.crypto import blindrsa
from ageverify.demo import DemoVerifier, register_demo_verifier
from ageverify.errors import CODES
from ageverify.formats import jose, privacypass

DIRECTORY = "/.well-known/private-token-issuer-directory"
NONCE = "/v1/privacy-pass/nonce"
TOKEN_REQUEST = "/v1/privacy-pass/token-request"  # noqa: S105 - a path
REQUEST_TYPE = "application/private-token-request"
RESPONSE_TYPE = "application/private-token-response"
# Small enough to run out of in a test; the default (30) is checked below.
QUOTA = 3


@pytest.fixture
def app(instance: Path, clock: MovableClock) -> Iterator[Flask]:
    """The development issuer of tests/conftest.py, with a daily token quota of QUOTA."""
    application = create_app(
        {"env": "development", "instance_path": instance, "token_daily_quota": QUOTA},
        clock=clock,
    )
    state = application.extensions["ageverify"]
    register_demo_verifier(state.sessions, DemoVerifier.load_or_create(instance), now=clock())
    yield application
    state.close()


@dataclass
class PendingToken:
    """A token request a wallet made, with what it needs to finalize the answer."""

    public_key: rsa.RSAPublicKey
    token_key_id: bytes
    nonce: bytes
    challenge_digest: bytes
    inv: int
    body: bytes

    @property
    def token_input(self) -> bytes:
        return privacypass.authenticator_input(self.nonce, self.challenge_digest, self.token_key_id)

    def finalize(self, token_response: bytes) -> privacypass.Token:
        blind_sig = privacypass.TokenResponse.decode(token_response).blind_sig
        authenticator = blindrsa.finalize(self.public_key, self.token_input, blind_sig, self.inv)
        return privacypass.Token(
            nonce=self.nonce,
            challenge_digest=self.challenge_digest,
            token_key_id=self.token_key_id,
            authenticator=authenticator,
        )


def _published(client: FlaskClient, now: float) -> dict[int, tuple[bytes, rsa.RSAPublicKey]]:
    """threshold -> (token key id, public key) of the keys signing at ``now``."""
    metadata = client.get("/.well-known/age-verification").json["privacy_pass"]
    directory = privacypass.parse_directory(client.get(DIRECTORY).data)
    by_id = {key.token_key_id: key for key in directory.token_keys}
    keys = {}
    for encoded, entry in metadata["token_keys"].items():
        key_id = jose.b64url_decode(encoded)
        if entry["not_before"] <= now < entry["not_before"] + 604_800:
            keys[entry["threshold"]] = (
                key_id,
                privacypass.decode_pss_spki(by_id[key_id].token_key),
            )
    return keys


@pytest.fixture
def token_request(client: FlaskClient, clock: MovableClock) -> Callable[..., PendingToken]:
    """Build a TokenRequest for the key of ``threshold`` signing now."""

    def build(threshold: int = 18) -> PendingToken:
        key_id, public_key = _published(client, clock())[threshold]
        challenge = privacypass.TokenChallenge(
            issuer_name="127.0.0.1:8000",
            redemption_context=os.urandom(32),
            origin_info=("platform.example",),
        )
        nonce, digest = os.urandom(32), privacypass.challenge_digest(challenge)
        blinded = blindrsa.blind(public_key, privacypass.authenticator_input(nonce, digest, key_id))
        body = privacypass.TokenRequest(
            truncated_token_key_id=privacypass.truncated_token_key_id(key_id),
            blinded_msg=blinded.blinded_msg,
        ).encode()
        return PendingToken(public_key, key_id, nonce, digest, blinded.inv, body)

    return build


@pytest.fixture
def authorization(client: FlaskClient, clock: MovableClock) -> Callable[..., str]:
    """``authorization(held, claims=..., audience=..., nonce=...)`` -> an Authorization value."""

    def build(
        held: HeldCredential,
        *,
        claims: tuple[str, ...] = ("age_over_18",),
        audience: str = "http://127.0.0.1:8000",
        nonce: str | None = None,
    ) -> str:
        if nonce is None:
            nonce = client.post(NONCE).json["nonce"]
        presentation = held.present(audience, nonce, claims=claims, iat=int(clock()))
        return f'AgeCredential presentation="{presentation}"'

    return build


def _post(client: FlaskClient, body: bytes, authorization: str | None, **options: Any) -> Any:
    headers = {} if authorization is None else {"Authorization": authorization}
    options.setdefault("content_type", REQUEST_TYPE)
    return client.post(TOKEN_REQUEST, data=body, headers=headers, **options)


# --- directory and discovery ------------------------------------------------


def test_directory_lists_one_key_per_threshold_per_epoch(client: FlaskClient, app: Flask) -> None:
    settings_ = app.extensions["ageverify"].settings
    response = client.get(DIRECTORY)
    assert response.status_code == 200
    assert response.mimetype == "application/private-token-issuer-directory"
    directory = privacypass.parse_directory(response.data)
    assert directory.issuer_request_uri == "http://127.0.0.1:8000" + TOKEN_REQUEST
    assert len(directory.token_keys) == len(settings_.thresholds) * (settings_.keys_ahead + 1)
    # Keys ahead carry their epoch start; the ones signing now come first.
    starts = sorted({key.not_before for key in directory.token_keys})
    assert [s - starts[0] for s in starts] == [
        0,
        settings_.epoch_seconds,
        2 * settings_.epoch_seconds,
    ]
    assert {key.not_before for key in directory.token_keys[: len(settings_.thresholds)]} == {
        starts[0]
    }
    truncated = [key.token_key_id[-1] for key in directory.token_keys]
    assert len(set(truncated)) == len(truncated)


def test_directory_is_cacheable_with_an_etag(client: FlaskClient) -> None:
    response = client.get(DIRECTORY)
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    etag = response.headers["ETag"]
    again = client.get(DIRECTORY, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    other = client.get(DIRECTORY, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_directory_changes_its_etag_when_a_key_is_revoked(client: FlaskClient, app: Flask) -> None:
    before = client.get(DIRECTORY).headers["ETag"]
    state = app.extensions["ageverify"]
    revoked = state.token_keys.list()[0]["token_key_id"]
    state.token_keys.revoke(revoked)
    response = client.get(DIRECTORY, headers={"If-None-Match": before})
    assert response.status_code == 200
    ids = {key.token_key_id for key in privacypass.parse_directory(response.data).token_keys}
    assert jose.b64url_decode(revoked) not in ids


def test_discovery_maps_every_directory_key_to_its_threshold(
    client: FlaskClient, app: Flask
) -> None:
    document = client.get("/.well-known/age-verification").json
    member = document["privacy_pass"]
    issuer = "http://127.0.0.1:8000"
    assert member["directory"] == issuer + DIRECTORY
    assert member["token_request"] == issuer + TOKEN_REQUEST
    assert member["nonce"] == issuer + NONCE
    assert member["issuer_name"] == "127.0.0.1:8000"
    directory = privacypass.parse_directory(client.get(DIRECTORY).data)
    assert {jose.b64url_decode(k) for k in member["token_keys"]} == {
        key.token_key_id for key in directory.token_keys
    }
    for key in directory.token_keys:
        entry = member["token_keys"][jose.b64url_encode(key.token_key_id)]
        assert entry["not_before"] == key.not_before
        assert entry["threshold"] in app.extensions["ageverify"].settings.thresholds
    # The rest of the document is still there.
    assert document["issuer"] == issuer and "jwks_uri" in document


def test_no_token_keys_is_a_503_not_an_empty_directory(client: FlaskClient, app: Flask) -> None:
    state = app.extensions["ageverify"]
    for row in state.token_keys.list():
        state.token_keys.revoke(row["token_key_id"])
    response = client.get(DIRECTORY)
    assert (response.status_code, response.json["code"]) == (503, "token-keys-unavailable")
    assert client.get("/.well-known/age-verification").json["privacy_pass"]["token_keys"] == {}


# --- nonces -------------------------------------------------------------------


def test_nonce_is_fresh_and_not_cached(client: FlaskClient) -> None:
    first, second = client.post(NONCE), client.post(NONCE, json={})
    assert first.status_code == second.status_code == 200
    assert first.json["expires_in"] == 300
    assert first.json["nonce"] != second.json["nonce"]
    assert len(jose.b64url_decode(first.json["nonce"])) == 32
    assert first.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("options", "status", "code"),
    [
        ({"json": {"x": 1}}, 400, "invalid-request"),
        ({"json": []}, 400, "invalid-request"),
        ({"data": b"nonce please", "content_type": "text/plain"}, 415, "unsupported-media-type"),
        ({"data": b"{", "content_type": "application/json"}, 400, "malformed-json"),
    ],
)
def test_nonce_takes_no_request_body(
    client: FlaskClient, options: dict[str, Any], status: int, code: str
) -> None:
    response = client.post(NONCE, **options)
    assert (response.status_code, response.json["code"]) == (status, code)


def test_nonce_endpoint_is_post_only(client: FlaskClient) -> None:
    assert client.get(NONCE).status_code == 405


# --- token requests: the happy path --------------------------------------------


def test_token_request_returns_a_blind_signature_that_finalizes_into_a_valid_token(
    client: FlaskClient,
    issue: Callable[..., list[HeldCredential]],
    token_request: Callable[..., PendingToken],
    authorization: Callable[..., str],
) -> None:
    (held,) = issue(count=1, age=30)
    pending = token_request(18)
    response = _post(client, pending.body, authorization(held))
    assert response.status_code == 200, response.data
    assert response.mimetype == RESPONSE_TYPE
    assert response.headers["Cache-Control"] == "no-store"
    assert len(response.data) == 256
    token = pending.finalize(response.data)
    blindrsa.verify(pending.public_key, privacypass.token_input(token), token.authenticator)
    # What a platform receives parses back to the same token.
    header = privacypass.format_authorization(token)
    assert privacypass.parse_authorization(header) == token


@pytest.mark.parametrize("threshold", [13, 15, 16, 18, 21])
def test_every_over_threshold_has_a_key_that_signs(
    client: FlaskClient,
    issue: Callable[..., list[HeldCredential]],
    token_request: Callable[..., PendingToken],
    authorization: Callable[..., str],
    threshold: int,
) -> None:
    (held,) = issue(count=1, age=30)
    pending = token_request(threshold)
    response = _post(client, pending.body, authorization(held, claims=(f"age_over_{threshold}",)))
    assert response.status_code == 200, response.data
    token = pending.finalize(response.data)
    blindrsa.verify(pending.public_key, privacypass.token_input(token), token.authenticator)


def test_unquoted_presentation_and_lower_case_scheme_are_accepted(
    client: FlaskClient,
    issue: Callable[..., list[HeldCredential]],
    token_request: Callable[..., PendingToken],
    authorization: Callable[..., str],
) -> None:
    (held,) = issue(count=1)
    presentation = authorization(held).split('"')[1]
    response = _post(client, token_request().body, f"agecredential presentation={presentation}")
    assert response.status_code == 200, response.json


# --- token requests: refusals ----------------------------------------------------


@dataclass(frozen=True)
class Attack:
    """One way to get a token request wrong, and the answer it must get."""

    name: str
    status: int
    code: str


def _replace(body: bytes, offset: int, value: bytes) -> bytes:
    return body[:offset] + value + body[offset + len(value) :]


def _unused_truncated_id(client: FlaskClient) -> int:
    taken = {
        key.token_key_id[-1]
        for key in privacypass.parse_directory(client.get(DIRECTORY).data).token_keys
    }
    return min(set(range(256)) - taken)


ATTACKS = [
    Attack("wrong-content-type", 415, "unsupported-media-type"),
    Attack("json-content-type", 415, "unsupported-media-type"),
    Attack("one-byte-short", 422, "privacypass-malformed"),
    Attack("one-byte-long", 422, "privacypass-malformed"),
    Attack("empty-body", 422, "privacypass-malformed"),
    Attack("token-type-1", 422, "privacypass-unsupported-token-type"),
    Attack("token-type-grease", 422, "privacypass-unsupported-token-type"),
    Attack("unknown-truncated-key-id", 422, "privacypass-bad-token-key"),
    Attack("key-of-a-coming-epoch", 422, "privacypass-bad-token-key"),
    Attack("retired-key", 422, "privacypass-bad-token-key"),
    Attack("blinded-message-not-below-modulus", 422, "blind-rsa-blinded-message-range"),
    Attack("body-too-large", 413, "payload-too-large"),
    Attack("no-authorization", 401, "token-authorization-missing"),
    Attack("bearer-scheme", 401, "token-authorization-malformed"),
    Attack("scheme-only", 401, "token-authorization-malformed"),
    Attack("other-parameter", 401, "token-authorization-malformed"),
    Attack("space-in-presentation", 401, "token-authorization-malformed"),
    Attack("garbled-presentation", 401, "presentation-malformed"),
    Attack("credential-without-key-binding", 401, "key-binding-missing"),
    Attack("presentation-to-another-audience", 401, "key-binding-wrong-audience"),
    Attack("nonce-never-issued", 401, "nonce-unknown"),
    Attack("nonce-reused", 401, "nonce-reused"),
    Attack("nonce-expired", 401, "nonce-expired"),
    Attack("stale-key-binding", 401, "key-binding-stale"),
    Attack("threshold-not-disclosed", 401, "requirement-not-disclosed"),
    Attack("threshold-false", 403, "requirement-not-met"),
    Attack("quota-exceeded", 429, "token-quota-exceeded"),
]


def _attempt(
    attack: str,
    client: FlaskClient,
    app: Flask,
    clock: MovableClock,
    issue: Callable[..., list[HeldCredential]],
    token_request: Callable[..., PendingToken],
    authorization: Callable[..., str],
) -> Any:
    """Send the request ``attack`` describes; everything else about it is right."""
    (held,) = issue(count=1, age=16 if attack == "threshold-false" else 30)
    pending = token_request(18)
    body, options = pending.body, {}
    header: str | None = authorization(held)
    if attack == "wrong-content-type":
        options["content_type"] = "application/octet-stream"
    elif attack == "json-content-type":
        options["content_type"] = "application/json"
    elif attack == "one-byte-short":
        body = body[:-1]
    elif attack == "one-byte-long":
        body = body + b"\x00"
    elif attack == "empty-body":
        body = b""
    elif attack == "token-type-1":
        body = _replace(body, 0, b"\x00\x01")
    elif attack == "token-type-grease":
        body = _replace(body, 0, b"\x0a\x0a")
    elif attack == "unknown-truncated-key-id":
        body = _replace(body, 2, bytes([_unused_truncated_id(client)]))
    elif attack == "key-of-a-coming-epoch":
        settings_ = app.extensions["ageverify"].settings
        coming = [
            row
            for row in app.extensions["ageverify"].token_keys.list()
            if row["not_before"] > clock() + settings_.epoch_seconds
        ]
        body = _replace(body, 2, bytes([coming[0]["truncated_token_key_id"]]))
    elif attack == "retired-key":
        app.extensions["ageverify"].token_keys.retire(jose.b64url_encode(pending.token_key_id))
    elif attack == "blinded-message-not-below-modulus":
        body = _replace(body, 3, b"\xff" * 256)
    elif attack == "body-too-large":
        body = body * 300
    elif attack == "no-authorization":
        header = None
    elif attack == "bearer-scheme":
        header = "Bearer " + header.split('"')[1]
    elif attack == "scheme-only":
        header = "AgeCredential"
    elif attack == "other-parameter":
        header = header + ', realm="x"'
    elif attack == "space-in-presentation":
        header = 'AgeCredential presentation="eyJ a~b"'
    elif attack == "garbled-presentation":
        header = "AgeCredential presentation=not-a-presentation"
    elif attack == "credential-without-key-binding":
        header = (
            f'AgeCredential presentation="{held.issuer_jwt}~{held.disclosure_for("age_over_18")}~"'
        )
    elif attack == "presentation-to-another-audience":
        header = authorization(held, audience="https://platform.example")
    elif attack == "nonce-never-issued":
        header = authorization(held, nonce=jose.b64url_encode(os.urandom(32)))
    elif attack == "nonce-reused":
        assert _post(client, token_request(18).body, header).status_code == 200
    elif attack == "nonce-expired":
        nonce = client.post(NONCE).json["nonce"]
        clock.advance(301)
        header = authorization(held, nonce=nonce)
    elif attack == "stale-key-binding":
        clock.advance(400)
    elif attack == "threshold-not-disclosed":
        header = authorization(held, claims=("age_over_21", "age_over_16"))
    elif attack == "threshold-false":
        pass  # a 16-year-old's credential discloses age_over_18 = false
    elif attack == "quota-exceeded":
        for _ in range(QUOTA):
            assert _post(client, token_request(18).body, authorization(held)).status_code == 200
        header = authorization(held)
    else:  # pragma: no cover - a typo in the table
        raise AssertionError(attack)
    return _post(client, body, header, **options)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.name)
def test_refused_token_requests_get_their_exact_status_and_code(
    attack: Attack,
    client: FlaskClient,
    app: Flask,
    clock: MovableClock,
    issue: Callable[..., list[HeldCredential]],
    token_request: Callable[..., PendingToken],
    authorization: Callable[..., str],
) -> None:
    response = _attempt(attack.name, client, app, clock, issue, token_request, authorization)
    assert (response.status_code, response.json["code"]) == (attack.status, attack.code)
    assert response.json["description"] == response.json["description"].strip()
    assert response.headers["Cache-Control"] == "no-store"
    if attack.status == 401:
        assert response.headers["WWW-Authenticate"] == "AgeCredential"


def test_a_refused_request_leaves_its_nonce_and_quota_untouched(
    client: FlaskClient,
    issue: Callable[..., list[HeldCredential]],
    token_request: Callable[..., PendingToken],
    authorization: Callable[..., str],
) -> None:
    (held,) = issue(count=1)
    header = authorization(held)
    pending = token_request(18)
    # Refused after the nonce was consumed and the count taken, at signing.
    broken = _replace(pending.body, 3, b"\xff" * 256)
    assert _post(client, broken, header).status_code == 422
    # The same nonce still works: nothing of the refused request was kept.
    assert _post(client, pending.body, header).status_code == 200
    for _ in range(QUOTA - 1):
        assert _post(client, token_request(18).body, authorization(held)).status_code == 200
    over = _post(client, token_request(18).body, authorization(held))
    assert over.status_code == 429


def test_quota_counts_per_credential_and_starts_again_the_next_day(
    client: FlaskClient,
    clock: MovableClock,
    issue: Callable[..., list[HeldCredential]],
    token_request: Callable[..., PendingToken],
    authorization: Callable[..., str],
) -> None:
    first, second = issue(count=2)
    for _ in range(QUOTA):
        assert _post(client, token_request(18).body, authorization(first)).status_code == 200
    assert _post(client, token_request(18).body, authorization(first)).status_code == 429
    # Another credential of the same batch has its own count.
    assert _post(client, token_request(18).body, authorization(second)).status_code == 200
    # Tomorrow (UTC) the first may ask again.
    clock.advance(86_400 - clock() % 86_400 + 1)
    assert _post(client, token_request(18).body, authorization(first)).status_code == 200


def test_quota_is_counted_across_thresholds(
    client: FlaskClient,
    issue: Callable[..., list[HeldCredential]],
    token_request: Callable[..., PendingToken],
    authorization: Callable[..., str],
) -> None:
    (held,) = issue(count=1)
    for threshold in (13, 16, 21):
        header = authorization(held, claims=(f"age_over_{threshold}",))
        assert _post(client, token_request(threshold).body, header).status_code == 200
    header = authorization(held, claims=("age_over_18",))
    assert _post(client, token_request(18).body, header).json["code"] == "token-quota-exceeded"


def test_the_default_quota_is_thirty() -> None:
    from ageverify.config import Settings

    base = {"issuer_url": "https://age.example", "key_passphrase": "p"}
    assert Settings.load({}, **base).token_daily_quota == 30
    assert Settings.load({"AGEVERIFY_TOKEN_DAILY_QUOTA": "7"}, **base).token_daily_quota == 7


# --- nothing leaks ---------------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_logs_hold_no_presentation_nonce_or_token(
    client: FlaskClient,
    issue: Callable[..., list[HeldCredential]],
    token_request: Callable[..., PendingToken],
    authorization: Callable[..., str],
) -> None:
    records = _Records()
    loggers = [logging.getLogger(), logging.getLogger("ageverify")]
    for logger in loggers:
        logger.addHandler(records)
    try:
        (held,) = issue(count=1)
        header = authorization(held)
        pending = token_request(18)
        response = _post(client, pending.body, header)
        assert response.status_code == 200
        refused = _post(client, token_request(18).body, header)  # the nonce again
        assert refused.status_code == 401
    finally:
        for logger in loggers:
            logger.removeHandler(records)
    text = "\n".join(records.lines)
    assert "token issued" in text  # the audit line is there, and nothing else of the request
    presentation = header.split('"')[1]
    issuer_jwt, *_, kb_jwt = presentation.split("~")
    nonce = jose.decode_compact(kb_jwt, max_size=10_000)[1]["nonce"]
    token = pending.finalize(response.data)
    secrets_ = [
        presentation,
        issuer_jwt.split(".")[2],
        kb_jwt.split(".")[2],
        nonce,
        pending.body.hex(),
        response.data.hex(),
        jose.b64url_encode(pending.body[3:40]),
        jose.b64url_encode(response.data[:40]),
        privacypass.format_authorization(token),
        hashlib.sha256(jose.b64url_decode(issuer_jwt.split(".")[2])).hexdigest(),
    ]
    for secret in secrets_:
        assert secret not in text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(max_size=300) | st.binary(min_size=259, max_size=259),
    header=st.none()
    | st.text(max_size=200)
    | st.from_regex(r"AgeCredential presentation=\S{0,80}"),
    content_type=st.sampled_from([REQUEST_TYPE, "application/json", "text/plain", ""]),
)
def test_token_requests_of_any_shape_never_fail_with_a_500(
    client: FlaskClient, body: bytes, header: str | None, content_type: str
) -> None:
    headers = {}
    if header is not None:
        # Header values travel as latin-1; what cannot be sent is not sent.
        headers["Authorization"] = header.encode("latin-1", "replace").decode("latin-1")
        headers["Authorization"] = headers["Authorization"].replace("\n", " ").replace("\r", " ")
    response = client.post(TOKEN_REQUEST, data=body, headers=headers, content_type=content_type)
    assert 400 <= response.status_code < 500, response.data
    assert response.json["code"] in CODES


def test_token_endpoints_answer_other_methods_with_405(client: FlaskClient) -> None:
    for path in (TOKEN_REQUEST, NONCE):
        assert client.get(path).status_code == 405
    assert client.post(DIRECTORY).status_code == 405


def test_admins_list_retire_and_regenerate_token_keys(
    client: FlaskClient, admin_token: str, clock: MovableClock
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    listed = client.get("/v1/admin/keys", headers=headers).json
    assert len(listed["keys"]) == 3 and len(listed["token_keys"]) == 15
    current = next(
        row
        for row in listed["token_keys"]
        if row["threshold"] == 18 and row["not_before"] <= clock() < row["not_after"]
    )
    retired = client.post(f"/v1/admin/keys/{current['token_key_id']}/retire", headers=headers)
    assert retired.status_code == 200
    statuses = {row["token_key_id"]: row["status"] for row in retired.json["token_keys"]}
    assert statuses[current["token_key_id"]] == "retired"
    generated = client.post("/v1/admin/keys/generate-ahead", headers=headers).json
    assert generated["generated"] == [] and len(generated["token_keys"]) == 1
    revoked = client.post(f"/v1/admin/keys/{current['token_key_id']}/revoke", headers=headers)
    assert revoked.status_code == 200
    document = client.get("/.well-known/age-verification").json
    assert current["token_key_id"] not in document["privacy_pass"]["token_keys"]
    assert generated["token_keys"][0] in document["privacy_pass"]["token_keys"]


def test_production_without_token_keys_starts_says_so_and_refuses_tokens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from ageverify.config import Settings
    from ageverify.web.runtime import open_runtime

    config = {
        "issuer_url": "https://age.example",
        "key_passphrase": "correct horse battery staple",
        "instance_path": tmp_path / "instance",
        "keys_dir": tmp_path / "keys",
    }
    state = open_runtime(Settings.load(**config))
    state.signing_keys.generate_ahead()
    state.close()
    logger = logging.getLogger("ageverify")
    logger.addHandler(caplog.handler)
    try:
        production = create_app(config)
    finally:
        logger.removeHandler(caplog.handler)
    assert "no Privacy Pass token keys" in caplog.text
    client = production.test_client()
    assert client.get(DIRECTORY).json["code"] == "token-keys-unavailable"
    refused = client.post(
        TOKEN_REQUEST,
        data=b"\x00\x02\x07" + bytes(256),
        content_type=REQUEST_TYPE,
        headers={"Authorization": "AgeCredential presentation=a~b"},
    )
    assert (refused.status_code, refused.json["code"]) == (422, "privacypass-bad-token-key")
    production.extensions["ageverify"].close()
