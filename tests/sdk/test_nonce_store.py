"""MemoryNonceStore: single use, expiry, tombstones and concurrency."""

from __future__ import annotations

import threading

import pytest
from sdk_vectors import NOW, MovableClock

from ageverify.errors import VerificationError
from ageverify.sdk import MemoryNonceStore, NonceStore


def code_of(store: MemoryNonceStore, nonce: str, now: float) -> str:
    with pytest.raises(VerificationError) as caught:
        store.consume(nonce, now)
    return caught.value.code


def test_nonce_is_used_once() -> None:
    store = MemoryNonceStore(clock=MovableClock())
    store.put("n1", NOW + 300)
    store.consume("n1", NOW + 1)
    assert code_of(store, "n1", NOW + 2) == "nonce-reused"


def test_unknown_and_expired() -> None:
    store = MemoryNonceStore(clock=MovableClock())
    store.put("n1", NOW + 300)
    assert code_of(store, "never-issued", NOW) == "nonce-unknown"
    assert code_of(store, "n1", NOW + 300) == "nonce-expired"
    assert code_of(store, "n1", NOW + 301) == "nonce-expired"


def test_expired_entries_are_purged_on_put() -> None:
    clock = MovableClock()
    store = MemoryNonceStore(clock=clock)
    store.put("old", NOW + 10)
    store.consume("old", NOW)
    assert len(store) == 1  # the tombstone stays until expiry
    clock.advance(11)
    store.put("new", clock.now + 10)
    assert len(store) == 1
    assert code_of(store, "old", clock.now) == "nonce-unknown"


def test_tombstone_outlives_nothing_but_its_expiry() -> None:
    clock = MovableClock()
    store = MemoryNonceStore(clock=clock)
    store.put("n1", NOW + 100)
    store.consume("n1", NOW)
    clock.advance(50)
    store.put("n2", clock.now + 100)
    assert code_of(store, "n1", clock.now) == "nonce-reused"


def test_a_nonce_cannot_be_put_twice() -> None:
    store = MemoryNonceStore()
    store.put("n1", 2e9)
    with pytest.raises(ValueError):
        store.put("n1", 2e9)


def test_concurrent_consumers_get_one_success() -> None:
    store = MemoryNonceStore(clock=MovableClock())
    store.put("n1", NOW + 300)
    results: list[str] = []
    barrier = threading.Barrier(16)

    def consume() -> None:
        barrier.wait()
        try:
            store.consume("n1", NOW)
            results.append("ok")
        except VerificationError as error:
            results.append(error.code)

    threads = [threading.Thread(target=consume) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("ok") == 1
    assert results.count("nonce-reused") == 15


def test_memory_store_satisfies_the_protocol() -> None:
    assert isinstance(MemoryNonceStore(), NonceStore)
