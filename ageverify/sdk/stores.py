"""Replay stores: challenge nonces and Privacy Pass tokens are each accepted once.

A platform keeps one store of each kind for all its verifier instances. The
in-memory stores suit a single process; a multi-process deployment implements
:class:`NonceStore` and :class:`SpentTokens` on shared storage (for example
Redis: ``SET NX`` plus a ``GETDEL``-style consume for nonces, ``SET NX EXAT``
for spent tokens) with the same outcomes.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ageverify.errors import VerificationError

__all__ = ["MemoryNonceStore", "MemorySpentTokens", "NonceStore", "SpentTokens"]


@runtime_checkable
class NonceStore(Protocol):
    """Where a verifier records the nonces it issued and the ones already used."""

    def put(self, nonce: str, expires_at: float) -> None:
        """Record ``nonce`` as issued and usable until Unix time ``expires_at``."""
        ...

    def consume(self, nonce: str, now: float) -> None:
        """Use ``nonce`` up at Unix time ``now``.

        Raises :class:`~ageverify.errors.VerificationError` with
        ``nonce-unknown`` (never issued, or forgotten after expiry),
        ``nonce-expired`` or ``nonce-reused``.
        """
        ...


class MemoryNonceStore:
    """A thread-safe :class:`NonceStore` in this process's memory.

    A consumed nonce stays as a tombstone until it expires, so that a replay
    is reported as ``nonce-reused``; expired entries are dropped as new
    nonces are put. ``clock`` gives the current Unix time for that purge;
    pass the verifier's clock when it is not the system's.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # nonce -> [expires_at, consumed]
        self._entries: dict[str, list[float | bool]] = {}
        self._expiries: list[tuple[float, str]] = []

    def put(self, nonce: str, expires_at: float) -> None:
        """Record ``nonce`` as issued and usable until ``expires_at``.

        A nonce already known raises ``ValueError``: re-putting it would
        revive a used one.
        """
        with self._lock:
            self._purge(self._clock())
            if nonce in self._entries:
                raise ValueError("this nonce was already issued")
            self._entries[nonce] = [expires_at, False]
            heapq.heappush(self._expiries, (expires_at, nonce))

    def consume(self, nonce: str, now: float) -> None:
        """Use ``nonce`` up at ``now``; see :meth:`NonceStore.consume` for the refusals."""
        with self._lock:
            entry = self._entries.get(nonce)
            if entry is None:
                raise VerificationError("nonce-unknown")
            if entry[1]:
                raise VerificationError("nonce-reused")
            if entry[0] <= now:
                raise VerificationError("nonce-expired")
            entry[1] = True

    def __len__(self) -> int:
        """The number of nonces held, tombstones included."""
        with self._lock:
            return len(self._entries)

    def _purge(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            _, nonce = heapq.heappop(expiries)
            self._entries.pop(nonce, None)


@runtime_checkable
class SpentTokens(Protocol):
    """The double-spend store of Privacy Pass: which tokens were already redeemed."""

    def add(self, token_id: bytes, expires_at: float) -> bool:
        """Record ``token_id`` as spent until Unix time ``expires_at``.

        Returns ``False`` if it was already recorded (and not yet expired):
        the token is being spent twice. ``token_id`` is SHA-256 of the
        encoded token; ``expires_at`` is when the token could no longer be
        accepted anyway, after which forgetting it is safe.
        """
        ...


class MemorySpentTokens:
    """A thread-safe :class:`SpentTokens` in this process's memory.

    Entries are dropped once expired, as new tokens are added. ``clock``
    gives the current Unix time for that purge; pass the verifier's clock
    when it is not the system's.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[bytes, float] = {}
        self._expiries: list[tuple[float, bytes]] = []

    def add(self, token_id: bytes, expires_at: float) -> bool:
        """Record ``token_id`` until ``expires_at``; ``False`` if it is already recorded."""
        if type(token_id) is not bytes:
            raise TypeError("token_id is bytes")
        with self._lock:
            now = self._clock()
            self._purge(now)
            known = self._entries.get(token_id)
            if known is not None and known > now:
                return False
            self._entries[token_id] = expires_at
            heapq.heappush(self._expiries, (expires_at, token_id))
            return True

    def __len__(self) -> int:
        """The number of tokens recorded, expired ones not yet purged included."""
        with self._lock:
            return len(self._entries)

    def _purge(self, now: float) -> None:
        entries, heap = self._entries, self._expiries
        while heap and heap[0][0] <= now:
            expires_at, token_id = heapq.heappop(heap)
            # Only drop the entry this heap item was pushed for.
            if entries.get(token_id) == expires_at:
                del entries[token_id]
