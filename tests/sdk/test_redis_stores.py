"""RedisNonceStore and RedisSpentTokens against a real redis-server.

The same outcomes as the in-memory stores, shared by every process that uses
the same Redis: a nonce issued by one verifier process is accepted once by
any of them, a token redeemed at one platform instance is refused at the
others, and a store that cannot reach Redis refuses rather than accepts.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_server import RedisServer
from sdk_vectors import AUDIENCE, ISSUER, ISSUER_KEY, NOW, THRESHOLDS, MovableClock, jwks
from sdk_vectors import credentials_for as sign_credentials

from ageverify.errors import AgeVerifyError, VerificationError
from ageverify.sdk import (
    Holder,
    NonceStore,
    RedisNonceStore,
    RedisSpentTokens,
    SpentTokens,
    Verifier,
)


def code_of(call: Any, *args: Any) -> str:
    with pytest.raises(AgeVerifyError) as caught:
        call(*args)
    return caught.value.code


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(time.time())


@pytest.fixture
def nonces(redis_client: redis.Redis, clock: MovableClock) -> RedisNonceStore:
    return RedisNonceStore(redis_client, clock=clock)


@pytest.fixture
def spent(redis_client: redis.Redis, clock: MovableClock) -> RedisSpentTokens:
    return RedisSpentTokens(redis_client, clock=clock)


def test_the_stores_implement_the_protocols(
    nonces: RedisNonceStore, spent: RedisSpentTokens
) -> None:
    assert isinstance(nonces, NonceStore)
    assert isinstance(spent, SpentTokens)


# --- nonces -----------------------------------------------------------------------


def test_a_nonce_is_used_once(nonces: RedisNonceStore, clock: MovableClock) -> None:
    nonces.put("n1", clock.now + 300)
    nonces.consume("n1", clock.now + 1)
    assert code_of(nonces.consume, "n1", clock.now + 2) == "nonce-reused"


def test_unknown_and_expired_nonces(nonces: RedisNonceStore, clock: MovableClock) -> None:
    nonces.put("n1", clock.now + 300)
    assert code_of(nonces.consume, "never-issued", clock.now) == "nonce-unknown"
    assert code_of(nonces.consume, "n1", clock.now + 300) == "nonce-expired"
    # An expired nonce is not turned into a used one: it stays expired.
    assert code_of(nonces.consume, "n1", clock.now + 301) == "nonce-expired"


def test_a_nonce_cannot_be_put_twice(nonces: RedisNonceStore, clock: MovableClock) -> None:
    nonces.put("n1", clock.now + 300)
    nonces.consume("n1", clock.now)
    with pytest.raises(ValueError):
        nonces.put("n1", clock.now + 300)  # would revive a used nonce
    assert code_of(nonces.consume, "n1", clock.now) == "nonce-reused"


def test_redis_forgets_a_nonce_a_minute_after_it_expired(
    nonces: RedisNonceStore, redis_client: redis.Redis, clock: MovableClock
) -> None:
    nonces.put("n1", clock.now + 300)
    ttl_ms = redis_client.pttl("ageverify:nonce:n1")
    assert 300_000 < ttl_ms <= 360_000


def test_two_processes_share_nonces(redis_server: RedisServer, clock: MovableClock) -> None:
    first = RedisNonceStore(redis.Redis.from_url(redis_server.url), clock=clock)
    second = RedisNonceStore(redis.Redis.from_url(redis_server.url), clock=clock)
    first.put("shared", clock.now + 300)
    second.consume("shared", clock.now)
    assert code_of(first.consume, "shared", clock.now) == "nonce-reused"


def test_racing_consumers_accept_a_nonce_exactly_once(
    redis_server: RedisServer, clock: MovableClock
) -> None:
    RedisNonceStore(redis.Redis.from_url(redis_server.url), clock=clock).put(
        "raced", clock.now + 300
    )
    outcomes: list[str] = []
    start = threading.Barrier(16)

    def consume() -> None:
        store = RedisNonceStore(redis.Redis.from_url(redis_server.url), clock=clock)
        start.wait()
        try:
            store.consume("raced", clock.now)
            outcomes.append("accepted")
        except VerificationError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=consume) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted"] + ["nonce-reused"] * 15


# --- spent tokens -------------------------------------------------------------------


def test_a_token_is_spent_once(spent: RedisSpentTokens, clock: MovableClock) -> None:
    token_id = bytes(range(32))
    assert spent.add(token_id, clock.now + 3600) is True
    assert spent.add(token_id, clock.now + 3600) is False
    assert spent.add(bytes(32), clock.now + 3600) is True


def test_a_spent_token_is_forgotten_after_it_expires(
    spent: RedisSpentTokens, clock: MovableClock
) -> None:
    token_id = b"\x01" * 32
    assert spent.add(token_id, clock.now + 0.05)
    time.sleep(0.15)  # Redis keeps real time: the key's time to live runs out
    assert spent.add(token_id, clock.now + 3600)


def test_token_ids_are_bytes(spent: RedisSpentTokens, clock: MovableClock) -> None:
    with pytest.raises(TypeError):
        spent.add("00" * 32, clock.now + 60)  # type: ignore[arg-type]


def test_racing_redemptions_spend_a_token_exactly_once(
    redis_server: RedisServer, clock: MovableClock
) -> None:
    outcomes: list[bool] = []
    start = threading.Barrier(16)

    def redeem() -> None:
        store = RedisSpentTokens(redis.Redis.from_url(redis_server.url), clock=clock)
        start.wait()
        outcomes.append(store.add(b"\x02" * 32, clock.now + 600))

    threads = [threading.Thread(target=redeem) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False] * 15 + [True]


# --- Redis unreachable: fail closed ----------------------------------------------------


def test_without_redis_nothing_single_use_is_accepted(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    client = redis.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
    nonces = RedisNonceStore(client)
    spent = RedisSpentTokens(client)
    nonces.put("before", time.time() + 300)
    server.stop()
    assert code_of(nonces.consume, "before", time.time()) == "replay-store-unavailable"
    assert code_of(nonces.put, "after", time.time() + 300) == "replay-store-unavailable"
    assert code_of(spent.add, b"\x03" * 32, time.time() + 300) == "replay-store-unavailable"


# --- a platform with two verifier processes ----------------------------------------------


def test_a_presentation_is_accepted_once_across_verifier_processes(
    redis_server: RedisServer,
) -> None:
    clock = MovableClock(NOW)

    def verifier() -> Verifier:
        store = RedisNonceStore(redis.Redis.from_url(redis_server.url), clock=clock)
        return Verifier(
            AUDIENCE,
            issuer=ISSUER,
            jwks=jwks(ISSUER_KEY),
            thresholds=THRESHOLDS,
            nonce_store=store,
            clock=clock,
        )

    first, second = verifier(), verifier()
    holder = Holder(clock=clock)
    keys = holder.new_keys(1)
    holder.store_credentials(ISSUER, sign_credentials(keys), keys)
    nonce = first.challenge()
    presentation = holder.present(AUDIENCE, nonce, min_age=18)
    assert second.verify(presentation, nonce=nonce, min_age=18).facts == {"age_over_18": True}
    assert code_of(lambda: first.verify(presentation, nonce=nonce, min_age=18)) == "nonce-reused"
