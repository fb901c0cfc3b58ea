"""The platform side: challenge a wallet, then verify its presentation offline.

A :class:`Verifier` knows one issuer. With a static ``jwks`` it never touches
the network; otherwise it reads the issuer's discovery document and JWKS,
caches the keys and refreshes them at most once per ``refresh_interval``
(also when a credential names a key it does not know yet). Every nonce it
hands out in :meth:`Verifier.challenge` is accepted once.
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ageverify.errors import AgeVerifyError, VerificationError
from ageverify.formats import jose, sdjwt, strictjson
from ageverify.formats.jose import PublicKey
from ageverify.sdk.stores import MemoryNonceStore, NonceStore

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DISCOVERY_PATH",
    "AgeProof",
    "Verifier",
    "fetch_url",
    "is_allowed_url",
]

DISCOVERY_PATH = "/.well-known/age-verification"
DEFAULT_THRESHOLDS = (13, 15, 16, 18, 21)
NONCE_BYTES = 16
FETCH_TIMEOUT = 5.0
MAX_DOCUMENT_SIZE = 256 * 1024
# How soon to try again when the issuer could never be reached.
RETRY_INTERVAL = 10


@dataclass(frozen=True)
class AgeProof:
    """The outcome of a successful verification.

    ``facts`` are the disclosed age claims (``{"age_over_18": True}``),
    ``min_age`` and ``max_age`` the requirement they met, ``issuer`` the
    credential's issuer and ``expires_at`` the credential's expiry (Unix time).
    """

    facts: dict[str, bool]
    min_age: int | None
    max_age: int | None
    issuer: str
    expires_at: float


def is_allowed_url(url: str) -> bool:
    """Tell whether ``url`` may be fetched: ``https``, or ``http`` to a loopback host only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if not host or parts.username is not None or parts.password is not None:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead from https to plain http elsewhere: follow none.
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


no_redirect_opener = urllib.request.build_opener(_NoRedirects)


def fetch_url(url: str) -> bytes:
    """GET ``url`` and return its body: allowed URLs only, no redirects, 5 s, 256 KiB at most.

    Raises ``OSError`` (including ``urllib.error.URLError``) or ``ValueError``
    on any failure.
    """
    if not is_allowed_url(url):
        raise ValueError("only https URLs, or http to a loopback host, are fetched")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with no_redirect_opener.open(request, timeout=FETCH_TIMEOUT) as response:
        if response.status != 200:
            raise OSError(f"HTTP status {response.status}")
        body = response.read(MAX_DOCUMENT_SIZE + 1)
    if len(body) > MAX_DOCUMENT_SIZE:
        raise ValueError("the document is larger than accepted")
    return body


def _parse_jwks(document: Any) -> dict[str, PublicKey]:
    """Return the usable keys of a JWKS document: P-256 keys with a kid, others skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWKS is an object with a keys array")
    keys: dict[str, PublicKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        if jwk.get("alg", "ES256") != "ES256" or jwk.get("use", "sig") != "sig":
            continue
        try:
            keys[jwk["kid"]] = jose.public_key_from_jwk(jwk, kinds=("EC-P-256",))
        except jose.JWKError:
            continue
    return keys


class Verifier:
    """Verifies age presentations addressed to ``audience`` from one issuer.

    ``audience`` is this platform's identifier, the ``aud`` wallets sign.
    ``issuer`` is the issuer's identifier, which is also its base URL unless
    ``jwks`` (a JWKS document) is given, in which case those keys are used
    and nothing is fetched. ``thresholds`` are the ages the issuer attests;
    ``None`` takes them from the discovery document. ``nonce_store`` defaults
    to a :class:`~ageverify.sdk.MemoryNonceStore`; a nonce lives
    ``nonce_ttl`` seconds; ``leeway`` is the clock skew tolerated;
    ``refresh_interval`` bounds how often keys are fetched; ``fetch(url) ->
    bytes`` replaces the HTTP client and ``clock`` the system time.
    """

    def __init__(
        self,
        audience: str,
        *,
        issuer: str,
        jwks: dict[str, Any] | None = None,
        thresholds: Iterable[int] | None = DEFAULT_THRESHOLDS,
        nonce_store: NonceStore | None = None,
        nonce_ttl: int = 300,
        leeway: int = 60,
        refresh_interval: int = 300,
        fetch: Callable[[str], bytes] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(audience, str) or not audience:
            raise ValueError("audience must be a non-empty string")
        if not isinstance(issuer, str) or not issuer:
            raise ValueError("issuer must be a non-empty string")
        self.audience = audience
        self.issuer = issuer
        self.nonce_ttl = nonce_ttl
        self.leeway = leeway
        self.refresh_interval = refresh_interval
        self._clock = clock
        self._fetch = fetch or fetch_url
        self._nonces = nonce_store if nonce_store is not None else MemoryNonceStore(clock=clock)
        self._lock = threading.Lock()
        self._static = jwks is not None
        self._keys: dict[str, PublicKey] = {}
        # Unix time before which no fetch is made; None: never fetched.
        self._next_fetch: float | None = None
        self._thresholds = None if thresholds is None else frozenset(thresholds)
        self._requirements: dict[tuple[Any, ...], dict[str, bool]] = {}
        if jwks is not None:
            if self._thresholds is None:
                raise ValueError("with a static jwks, give the thresholds too")
            try:
                self._keys = _parse_jwks(jwks)
            except ValueError as error:
                raise ValueError(f"jwks: {error}") from None
        elif not is_allowed_url(issuer):
            raise ValueError("issuer must be an https URL (or http to a loopback host)")

    @property
    def thresholds(self) -> frozenset[int]:
        """The ages the issuer attests, fetched from discovery if not given."""
        if self._thresholds is None:
            now = self._clock()
            with self._lock:
                if self._thresholds is None:
                    if not self._due(now):
                        raise VerificationError("issuer-unreachable")
                    self._refresh(now)
        assert self._thresholds is not None  # noqa: S101 - _refresh sets it or raises
        return self._thresholds

    def challenge(self) -> str:
        """Return a fresh single-use nonce for a wallet to sign, valid ``nonce_ttl`` seconds."""
        nonce = jose.b64url_encode(os.urandom(NONCE_BYTES))
        self._nonces.put(nonce, self._clock() + self.nonce_ttl)
        return nonce

    def verify(
        self,
        presentation: str,
        *,
        nonce: str,
        min_age: int | None = None,
        max_age: int | None = None,
    ) -> AgeProof:
        """Verify ``presentation`` answering the challenge ``nonce``; return an :class:`AgeProof`.

        ``min_age`` and/or ``max_age`` is the requirement ("18+" is
        ``min_age=18``, "13 to 17" is ``min_age=13, max_age=17``). An
        impossible requirement is refused first (``requirement-invalid``,
        nonce untouched); then the nonce is used up before the presentation
        is looked at, so it is single use even when verification fails. Raises
        :class:`~ageverify.errors.VerificationError`; never returns a falsy
        value.
        """
        needed = self._requirement(min_age, max_age)
        if not isinstance(nonce, str):
            raise VerificationError("nonce-unknown")
        now = self._clock()
        self._nonces.consume(nonce, now)
        verified = sdjwt.verified_presentation(
            presentation,
            keys=self._key,
            issuer=self.issuer,
            audience=self.audience,
            nonce=nonce,
            now=now,
            leeway=self.leeway,
            kb_max_age=self.nonce_ttl,
        )
        # The checks of sdjwt.check_requirement, on the claims computed above.
        facts = verified.facts
        if any(name not in facts for name in needed):
            raise VerificationError("requirement-not-disclosed")
        if any(facts[name] is not value for name, value in needed.items()):
            raise VerificationError("requirement-not-met")
        return AgeProof(
            facts=verified.facts,
            min_age=min_age,
            max_age=max_age,
            issuer=verified.issuer,
            expires_at=verified.expires_at,
        )

    def _requirement(self, min_age: int | None, max_age: int | None) -> dict[str, bool]:
        """The claims a requirement needs (see sdjwt.requirement_claims), cached per requirement."""
        # Types are part of the key: 18.0 and True must not find the entry of 18 or 1.
        key = (type(min_age), min_age, type(max_age), max_age)
        try:
            return self._requirements[key]
        except (KeyError, TypeError):
            pass
        needed = sdjwt.requirement_claims(min_age, max_age, self.thresholds)
        if len(self._requirements) < 64:
            self._requirements[key] = needed
        return needed

    def keys(self) -> dict[str, PublicKey]:
        """Return the issuer keys currently known, by kid (fetching them if none are cached)."""
        if not self._static:
            now = self._clock()
            with self._lock:
                if self._due(now):
                    self._refresh(now)
        return dict(self._keys)

    def _due(self, now: float) -> bool:
        return self._next_fetch is None or now >= self._next_fetch

    def _key(self, kid: str) -> PublicKey | None:
        """The key for ``kid``, refreshing the JWKS when it is stale or the kid is new."""
        if self._static:
            return self._keys.get(kid)
        now = self._clock()
        key = self._keys.get(kid)
        if key is not None and not self._due(now):
            return key
        with self._lock:
            # Another thread may have refreshed while this one waited.
            if self._due(now):
                self._refresh(now)
            elif not self._keys:
                raise VerificationError("issuer-unreachable")
            return self._keys.get(kid)

    def _refresh(self, now: float) -> None:
        """Fetch discovery and the JWKS; called with the lock held.

        Whether it succeeds or not, the next attempt waits ``refresh_interval``
        (a stream of unknown kids cannot make this verifier hammer the
        issuer), or at most :data:`RETRY_INTERVAL` while no key was ever
        obtained. On failure the keys already cached stay in use
        (verification is offline by design); with none, ``issuer-unreachable``.
        """
        have_keys = bool(self._keys) and self._thresholds is not None
        try:
            discovery = strictjson.loads(self._fetch(self.issuer.rstrip("/") + DISCOVERY_PATH))
            if not isinstance(discovery, dict) or discovery.get("issuer") != self.issuer:
                raise ValueError("the discovery document names another issuer")
            jwks_uri = discovery.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not is_allowed_url(jwks_uri):
                raise ValueError("jwks_uri must be an https URL")
            thresholds = self._thresholds
            if thresholds is None:
                listed = discovery.get("thresholds")
                if (
                    not isinstance(listed, list)
                    or not listed
                    or not all(
                        isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 1000
                        for t in listed
                    )
                ):
                    raise ValueError("the discovery document lists no thresholds")
                thresholds = frozenset(listed)
            keys = _parse_jwks(strictjson.loads(self._fetch(jwks_uri)))
        except (OSError, ValueError, AgeVerifyError) as error:
            if have_keys:
                self._next_fetch = now + self.refresh_interval
                return
            self._next_fetch = now + min(RETRY_INTERVAL, self.refresh_interval)
            raise VerificationError("issuer-unreachable") from error
        self._next_fetch = now + self.refresh_interval
        self._thresholds = thresholds
        self._keys = keys
