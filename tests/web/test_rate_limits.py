"""Rate limits on issuance, Privacy Pass token requests and verification, per client address.

A client over its limit gets 429 ``rate-limited`` with Retry-After; other
clients and other endpoints are not affected; the counters are shared through
Redis when ``AGEVERIFY_REDIS_URL`` is set, so two instances count together.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ageverify import create_app
from ageverify.config import Settings, write_dev_settings
from ageverify.errors import ConfigurationError


def make_app(instance: Path, **settings: Any) -> Flask:
    write_dev_settings(instance)
    return create_app({"env": "development", "instance_path": instance, **settings})


@pytest.fixture
def limited(instance: Path) -> Iterator[Flask]:
    application = make_app(
        instance,
        rate_limit_issuance="3/minute",
        rate_limit_tokens="2/minute",
        rate_limit_verify="3/second;4/minute",
    )
    yield application
    application.extensions["ageverify"].close()


def post_credentials(client: FlaskClient, address: str = "192.0.2.1", **headers: str) -> Any:
    # An empty object is refused (400) after the limiter counted the request,
    # which keeps the test free of signing work.
    return client.post(
        "/v1/credentials", json={}, environ_base={"REMOTE_ADDR": address}, headers=headers
    )


def test_issuance_over_the_limit_is_refused_with_retry_after(limited: Flask) -> None:
    client = limited.test_client()
    answers = [post_credentials(client) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [400, 400, 400]
    # Only a refusal says when to come back; the allowance left is not announced.
    assert not any("Retry-After" in a.headers or "X-RateLimit-Limit" in a.headers for a in answers)
    refused = post_credentials(client)
    assert refused.status_code == 429
    assert refused.json == {
        "code": "rate-limited",
        "description": "Too many requests from this client; wait before trying again.",
    }
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["Cache-Control"] == "no-store"


def test_clients_are_counted_apart(limited: Flask) -> None:
    client = limited.test_client()
    for _ in range(3):
        post_credentials(client, "192.0.2.1")
    assert post_credentials(client, "192.0.2.1").status_code == 429
    assert post_credentials(client, "192.0.2.2").status_code == 400


def test_forwarded_addresses_are_ignored_unless_a_proxy_is_trusted(
    limited: Flask, instance: Path, tmp_path: Path
) -> None:
    client = limited.test_client()
    for number in range(3):
        post_credentials(client, **{"X-Forwarded-For": f"198.51.100.{number}"})
    # A client cannot escape its limit by naming another address.
    spoofed = post_credentials(client, **{"X-Forwarded-For": "198.51.100.99"})
    assert spoofed.status_code == 429

    behind_proxy = make_app(tmp_path / "proxied", rate_limit_issuance="1/minute", proxy_hops=1)
    try:
        proxy = behind_proxy.test_client()
        first = post_credentials(proxy, "10.0.0.1", **{"X-Forwarded-For": "203.0.113.1"})
        other = post_credentials(proxy, "10.0.0.1", **{"X-Forwarded-For": "203.0.113.2"})
        again = post_credentials(proxy, "10.0.0.1", **{"X-Forwarded-For": "203.0.113.1"})
        assert (first.status_code, other.status_code, again.status_code) == (400, 400, 429)
    finally:
        behind_proxy.extensions["ageverify"].close()


def test_token_nonces_and_requests_are_limited(limited: Flask) -> None:
    client = limited.test_client()
    assert client.post("/v1/privacy-pass/nonce").status_code == 200
    assert client.post("/v1/privacy-pass/nonce").status_code == 200
    refused = client.post("/v1/privacy-pass/nonce")
    assert refused.status_code == 429
    assert refused.json["code"] == "rate-limited"
    for _ in range(2):
        assert client.post("/v1/privacy-pass/token-request").status_code != 429
    assert client.post("/v1/privacy-pass/token-request").json["code"] == "rate-limited"


def test_verification_over_http_is_limited_in_each_window(limited: Flask) -> None:
    # The empty object is refused (400) after the limiter counted it: no signature work.
    def verify(address: str = "192.0.2.1") -> Any:
        return limited.test_client().post(
            "/v1/presentations/verify", json={}, environ_base={"REMOTE_ADDR": address}
        )

    assert [verify().status_code for _ in range(3)] == [400, 400, 400]
    burst = verify()
    assert (burst.status_code, burst.json["code"]) == (429, "rate-limited")
    assert burst.headers["Retry-After"] == "1"
    assert verify("192.0.2.2").status_code == 400
    # Once the second has passed, the per-minute window (4) still counts the first three.
    time.sleep(1.1)
    assert verify().status_code == 400
    over_the_minute = verify()
    assert over_the_minute.status_code == 429
    assert over_the_minute.headers["Retry-After"] == "60"


def test_the_verification_limit_has_a_default_and_can_be_turned_off(instance: Path) -> None:
    assert Settings.load(env="development", instance_path=instance).rate_limit_verify == (
        "50/second;1500/minute"
    )
    application = make_app(instance, rate_limit_verify="none")
    try:
        client = application.test_client()
        answers = {client.post("/v1/presentations/verify", json={}).status_code for _ in range(60)}
        assert answers == {400}
    finally:
        application.extensions["ageverify"].close()


def test_reading_endpoints_are_not_limited(limited: Flask) -> None:
    client = limited.test_client()
    for _ in range(10):
        assert client.get("/.well-known/jwks.json").status_code == 200


def test_limits_can_be_turned_off(instance: Path) -> None:
    application = make_app(instance, rate_limit_issuance="none")
    try:
        client = application.test_client()
        assert {post_credentials(client).status_code for _ in range(40)} == {400}
    finally:
        application.extensions["ageverify"].close()


def test_two_instances_share_their_counters_in_redis(tmp_path: Path, redis_server: Any) -> None:
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    first = make_app(tmp_path / "a", rate_limit_issuance="4/minute", redis_url=redis_server.url)
    second = make_app(tmp_path / "b", rate_limit_issuance="4/minute", redis_url=redis_server.url)
    try:
        one, two = first.test_client(), second.test_client()
        assert [post_credentials(c).status_code for c in (one, two, one, two)] == [400] * 4
        assert post_credentials(one).status_code == 429
        assert post_credentials(two).status_code == 429
        assert post_credentials(two, "192.0.2.50").status_code == 400
    finally:
        first.extensions["ageverify"].close()
        second.extensions["ageverify"].close()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("rate_limit_issuance", "lots"),
        ("rate_limit_tokens", "10 per fortnight"),
        ("rate_limit_verify", "fast"),
        ("redis_url", "http://cache.example"),
        ("proxy_hops", "9"),
    ],
)
def test_unusable_settings_are_refused_at_start(instance: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(
            {f"AGEVERIFY_{name.upper()}": value}, env="development", instance_path=instance
        )
    assert f"AGEVERIFY_{name.upper()}" in str(caught.value)


def test_unreachable_counters_let_requests_through(tmp_path: Path) -> None:
    # Rate limits protect capacity; the single-use checks live in the database.
    application = make_app(
        tmp_path / "instance",
        rate_limit_issuance="1/minute",
        redis_url=f"unix://{tmp_path / 'no-such.sock'}",
    )
    try:
        client = application.test_client()
        assert [post_credentials(client).status_code for _ in range(3)] == [400, 400, 400]
    finally:
        application.extensions["ageverify"].close()
