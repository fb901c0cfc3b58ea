"""Replay stores: challenge nonces and Privacy Pass tokens are each accepted once.

A platform keeps one store of each kind for all its verifier instances. The
in-memory stores suit a single process; :class:`RedisNonceStore` and
:class:`RedisSpentTokens` give every process behind a load balancer the same
answers, each decision one atomic Redis command. Any other shared storage
can implement :class:`NonceStore` and :class:`SpentTokens` with the same
outcomes.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ageverify.errors import VerificationError

if TYPE_CHECKING:
    import redis

__all__ = [
    "MemoryNonceStore",
    "MemorySpentTokens",
    "NonceStore",
    "RedisNonceStore",
    "RedisSpentTokens",
    "SpentTokens",
]


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


# How long Redis keeps a nonce after it expired, so that a late answer is told
# "expired" rather than "unknown" for a while.
_EXPIRED_GRACE_MS = 60_000

# One atomic step: look the nonce up and, only if it is usable, mark it used.
# Returns 0 unknown, 1 already used, 2 expired, 3 consumed now.
_CONSUME = """
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
if value == '-' then return 1 end
if tonumber(value) <= tonumber(ARGV[1]) then return 2 end
redis.call('SET', KEYS[1], '-', 'KEEPTTL')
return 3
"""
_CONSUMED = {0: "nonce-unknown", 1: "nonce-reused", 2: "nonce-expired"}


def _ttl_ms(expires_at: float, now: float) -> int:
    """Milliseconds from ``now`` until ``expires_at``, at least one."""
    return max(1, math.ceil((expires_at - now) * 1000))


def _unavailable() -> VerificationError:
    return VerificationError("replay-store-unavailable")


class RedisNonceStore:
    """A :class:`NonceStore` in Redis, shared by every process that uses ``client``.

    Each nonce is one key under ``prefix`` holding its expiry; consuming runs
    a small Lua script, so two processes answering the same nonce at the same
    moment cannot both succeed. A used nonce stays as a tombstone until a
    minute after its expiry (Redis then drops it). If Redis cannot be reached,
    :meth:`put` and :meth:`consume` raise ``replay-store-unavailable``: the
    store fails closed. ``clock`` gives the current Unix time for the keys'
    time to live; pass the verifier's clock when it is not the system's.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "ageverify:nonce:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock
        self._consume = client.register_script(_CONSUME)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisNonceStore:
        """A store on the Redis server at ``url`` (``redis://`` or ``unix://``)."""
        import redis

        return cls(redis.Redis.from_url(url), **options)

    def put(self, nonce: str, expires_at: float) -> None:
        """Record ``nonce`` as issued until ``expires_at``; ``ValueError`` if already known."""
        import redis

        ttl = _ttl_ms(expires_at, self._clock()) + _EXPIRED_GRACE_MS
        try:
            created = self._client.set(self._prefix + nonce, repr(expires_at), nx=True, px=ttl)
        except redis.RedisError:
            raise _unavailable() from None
        if not created:
            raise ValueError("this nonce was already issued")

    def consume(self, nonce: str, now: float) -> None:
        """Use ``nonce`` up at ``now``; see :meth:`NonceStore.consume` for the refusals."""
        import redis

        try:
            outcome = self._consume(keys=[self._prefix + nonce], args=[repr(now)])
        except redis.RedisError:
            raise _unavailable() from None
        if outcome != 3:
            raise VerificationError(_CONSUMED[outcome])


class RedisSpentTokens:
    """A :class:`SpentTokens` in Redis, shared by every process that uses ``client``.

    Recording a token is one ``SET NX`` with the token's remaining lifetime:
    of two processes redeeming the same token, exactly one succeeds. If Redis
    cannot be reached, :meth:`add` raises ``replay-store-unavailable`` (never
    a silent acceptance). ``clock`` as for :class:`RedisNonceStore`.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "ageverify:spent:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisSpentTokens:
        """A store on the Redis server at ``url`` (``redis://`` or ``unix://``)."""
        import redis

        return cls(redis.Redis.from_url(url), **options)

    def add(self, token_id: bytes, expires_at: float) -> bool:
        """Record ``token_id`` until ``expires_at``; ``False`` if it is already recorded."""
        import redis

        if type(token_id) is not bytes:
            raise TypeError("token_id is bytes")
        ttl = _ttl_ms(expires_at, self._clock())
        try:
            created = self._client.set(self._prefix + token_id.hex(), b"1", nx=True, px=ttl)
        except redis.RedisError:
            raise _unavailable() from None
        return bool(created)
