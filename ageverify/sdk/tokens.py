"""Privacy Pass for platforms and wallets (RFC 9577, RFC 9578 token type 0x0002).

A platform (the "origin") challenges with :meth:`TokenVerifier.challenge`,
which names the issuer, a redemption context and the token key of one age
threshold, and checks the answer offline with :meth:`TokenVerifier.verify`.
A token commits to the SHA-256 of the challenge it answers, so the verifier
accepts only tokens answering a challenge it issued (remembered for
``challenge_ttl`` seconds) and refuses any token it has seen before, through
a :class:`~ageverify.sdk.SpentTokens` store.

A wallet answers with :class:`TokenClient`, which a
:class:`~ageverify.sdk.Holder` drives: it reads the issuer's keys from
discovery and the issuer directory, proves an age fact to the issuer with a
credential presentation addressed to the issuer, and sends a blinded
TokenRequest. The issuer signs without seeing the challenge or the token, so
it cannot link a token to its issuance.

Because a token is bound to one challenge, a challenge with a fresh
redemption context is answered by minting a token on the spot. Only a
challenge known ahead, one with an empty redemption context (for one set of
origins, or for any origin when ``origin_info`` is empty), can be answered
with tokens fetched earlier (:meth:`TokenClient.fetch_tokens`); that also
hides from the issuer when the wallet visits a platform.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from ageverify.crypto import blindrsa
from ageverify.errors import CODES, AgeVerifyError, VerificationError
from ageverify.formats import jose, strictjson
from ageverify.formats import privacypass as pp
from ageverify.sdk.stores import MemorySpentTokens, SpentTokens
from ageverify.sdk.verifier import (
    DISCOVERY_PATH,
    FETCH_TIMEOUT,
    MAX_DOCUMENT_SIZE,
    RETRY_INTERVAL,
    fetch_url,
    is_allowed_url,
    no_redirect_opener,
)

__all__ = [
    "CREDENTIAL_AUTH_SCHEME",
    "MAX_TOKEN_BATCH",
    "PostRequest",
    "TokenClient",
    "TokenService",
    "TokenKey",
    "TokenProof",
    "TokenVerifier",
    "load_token_service",
    "post_request",
]

# The Authorization scheme of a token request: a credential presentation whose
# audience is the issuer (wire format, only ever added to).
CREDENTIAL_AUTH_SCHEME = "AgeCredential"
# Each token costs one request against the issuer's daily quota (default 30).
MAX_TOKEN_BATCH = 30
# How long a token answering an empty redemption context counts as spent by
# default: longer than a token key stays in the issuer's directory (one epoch,
# a week by default, plus the lead time it is published ahead).
DEFAULT_SPENT_TTL = 30 * 86_400

PostRequest = Callable[[str, bytes, Mapping[str, str]], tuple[int, bytes]]
"""``post(url, body, headers) -> (status, body)``: one HTTP POST, error statuses included."""


def post_request(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
    """POST ``body`` with ``headers`` to ``url``; return the status and body, errors included.

    Only https URLs or http to a loopback host; no redirects; 5 s timeout;
    responses above 256 KiB raise ``ValueError``.
    """
    if not is_allowed_url(url):
        raise ValueError("only https URLs, or http to a loopback host, are contacted")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=body, method="POST", headers=dict(headers)
    )
    try:
        with no_redirect_opener.open(request, timeout=FETCH_TIMEOUT) as response:
            status, payload = response.status, response.read(MAX_DOCUMENT_SIZE + 1)
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read(MAX_DOCUMENT_SIZE + 1)
    if len(payload) > MAX_DOCUMENT_SIZE:
        raise ValueError("the response is larger than accepted")
    return status, payload


# --- the issuer's token keys ---------------------------------------------------


@dataclass(frozen=True)
class TokenKey:
    """One token key of an issuer: the age ``threshold`` its tokens prove.

    ``token_key`` is the RSASSA-PSS SPKI DER (as in challenges and the
    directory), ``token_key_id`` its SHA-256, ``public_key`` the key itself
    and ``not_before`` the Unix time from which the issuer signs with it, if
    published.
    """

    token_key_id: bytes
    threshold: int
    token_key: bytes
    public_key: rsa.RSAPublicKey = field(repr=False, compare=False)
    not_before: int | None = None

    @classmethod
    def of(cls, key: rsa.RSAPublicKey | bytes, threshold: int) -> TokenKey:
        """The token key for ``key`` (a 2048-bit RSA public key or its PSS SPKI DER)."""
        _require_threshold(threshold)
        if isinstance(key, bytes | bytearray | memoryview):
            spki = bytes(key)
            public_key = pp.decode_pss_spki(spki)
        else:
            public_key = key
            spki = pp.encode_pss_spki(key)
        return cls(hashlib.sha256(spki).digest(), threshold, spki, public_key)


def _require_threshold(threshold: object) -> None:
    if type(threshold) is not int or not 0 <= threshold < 1000:
        raise ValueError("an age threshold is an integer from 0 to 999")


def _current_key(keys: Iterable[TokenKey], threshold: int, now: float) -> TokenKey | None:
    """The key to use now for ``threshold``: the latest one already valid, first listed on a tie."""
    usable = [
        key
        for key in keys
        if key.threshold == threshold and (key.not_before is None or key.not_before <= now)
    ]
    if not usable:
        return None
    return max(usable, key=lambda key: key.not_before or 0)


@dataclass(frozen=True)
class TokenService:
    """What an issuer's discovery document and directory say about its Privacy Pass service.

    ``issuer`` is the issuer URL, ``issuer_name`` the name challenges carry
    (its host and port), ``token_request_uri`` and ``nonce_uri`` the
    endpoints a wallet posts to, ``keys`` the token keys by id.
    """

    issuer: str
    issuer_name: str
    token_request_uri: str
    nonce_uri: str
    keys: Mapping[bytes, TokenKey]

    def current_key(self, threshold: int, now: float) -> TokenKey | None:
        """The key to use at ``now`` for ``threshold``, or ``None`` if there is none yet."""
        return _current_key(self.keys.values(), threshold, now)


def _allowed_url(value: object, name: str) -> str:
    if not isinstance(value, str) or not is_allowed_url(value):
        raise ValueError(f"privacy_pass.{name} must be an https URL")
    return value


def load_token_service(issuer_url: str, fetch: Callable[[str], bytes] = fetch_url) -> TokenService:
    """Read the Privacy Pass service of the issuer at ``issuer_url``.

    Fetches the discovery document (whose ``issuer`` must be ``issuer_url``)
    and the issuer directory it names. Keys are those listed in both, each
    with the threshold discovery gives it. Any fetch or shape failure raises
    ``OSError``, ``ValueError`` or :class:`~ageverify.errors.AgeVerifyError`.
    """
    discovery = strictjson.loads(fetch(issuer_url.rstrip("/") + DISCOVERY_PATH))
    if not isinstance(discovery, dict) or discovery.get("issuer") != issuer_url:
        raise ValueError("the discovery document names another issuer")
    member = discovery.get("privacy_pass")
    if not isinstance(member, dict):
        raise ValueError("the issuer publishes no Privacy Pass service")
    issuer_name = member.get("issuer_name")
    if not isinstance(issuer_name, str) or not issuer_name:
        raise ValueError("privacy_pass.issuer_name must be a string")
    directory_uri = _allowed_url(member.get("directory"), "directory")
    token_request_uri = _allowed_url(member.get("token_request"), "token_request")
    nonce_uri = _allowed_url(member.get("nonce"), "nonce")
    listed = member.get("token_keys")
    if not isinstance(listed, dict):
        raise ValueError("privacy_pass.token_keys must be an object")
    thresholds: dict[bytes, tuple[int, int | None]] = {}
    for encoded_id, entry in listed.items():
        key_id = jose.b64url_decode(encoded_id)
        threshold = entry.get("threshold") if isinstance(entry, dict) else None
        not_before = entry.get("not_before") if isinstance(entry, dict) else None
        _require_threshold(threshold)
        if not_before is not None and (type(not_before) is not int or not_before < 0):
            raise ValueError("not_before must be a non-negative integer")
        if len(key_id) != pp.NID:
            raise ValueError("a token_key_id is 32 bytes")
        thresholds[key_id] = (threshold, not_before)  # type: ignore[assignment]
    directory = pp.parse_directory(fetch(directory_uri))
    keys = {}
    for listed_key in directory.token_keys:
        key_id = listed_key.token_key_id
        if key_id in thresholds:
            threshold, not_before = thresholds[key_id]
            public_key = pp.decode_pss_spki(listed_key.token_key)
            keys[key_id] = TokenKey(key_id, threshold, listed_key.token_key, public_key, not_before)
    return TokenService(issuer_url, issuer_name, token_request_uri, nonce_uri, keys)


# --- the platform's side -------------------------------------------------------


@dataclass(frozen=True)
class TokenProof:
    """The outcome of a redeemed token.

    ``threshold`` is the age the token proves (``age_over_<threshold>``),
    ``challenge`` the challenge it answered and ``token_key_id`` the id of
    the issuer key that signed it.
    """

    threshold: int
    challenge: pp.TokenChallenge
    token_key_id: bytes

    @property
    def facts(self) -> dict[str, bool]:
        """The age fact proven, in the form of a presentation's: ``{"age_over_18": True}``."""
        return {f"age_over_{self.threshold}": True}


@dataclass
class _Issued:
    threshold: int
    challenge: pp.TokenChallenge
    expires_at: float
    # A random context never recurs, so its tokens need remembering only as
    # long as the challenge; one the caller chose may be issued again later.
    fresh: bool


class TokenVerifier:
    """Challenges wallets for Privacy Pass tokens of one issuer, and redeems them offline.

    ``issuer_name`` is the issuer's name in challenges (its URL's host and
    port). Keys come either from ``token_keys``, a mapping of age threshold to
    a 2048-bit RSA public key or its PSS SPKI DER (nothing is fetched), or
    from the issuer at the URL ``issuer`` (discovery document and directory,
    refreshed at most once per ``refresh_interval``, also when a token names
    a key not known yet). :meth:`from_issuer` takes the name from the URL.

    ``origin_info`` lists this platform's names (``host`` or ``host:port``)
    put in every challenge, so that tokens minted for it are useless
    elsewhere; empty, tokens are for any origin. A challenge with a fresh
    redemption context is remembered ``challenge_ttl`` seconds (at most
    ``max_challenges`` at once, the oldest forgotten first) in this process.
    ``allow_empty_context`` accepts tokens for the challenge with an empty
    redemption context, which wallets may fetch ahead; those count as spent
    for ``spent_ttl`` seconds, which must exceed how long a token key is
    used. ``spent`` is the double-spend store (in memory by default; share
    one across processes). ``fetch(url) -> bytes`` replaces the HTTP client,
    ``clock`` the system time.
    """

    def __init__(
        self,
        issuer_name: str,
        token_keys: Mapping[int, rsa.RSAPublicKey | bytes] | None = None,
        *,
        issuer: str | None = None,
        origin_info: Iterable[str] = (),
        spent: SpentTokens | None = None,
        allow_empty_context: bool = False,
        challenge_ttl: int = 300,
        spent_ttl: int = DEFAULT_SPENT_TTL,
        max_challenges: int = 100_000,
        refresh_interval: int = 300,
        fetch: Callable[[str], bytes] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (token_keys is None) == (issuer is None):
            raise ValueError("give either token_keys or the issuer URL, not both")
        self.issuer_name = issuer_name
        self.origin_info = tuple(origin_info)
        # Validates the names now rather than at the first challenge.
        self._empty_challenge = pp.TokenChallenge(
            issuer_name=issuer_name, redemption_context=b"", origin_info=self.origin_info
        )
        self._empty_digest = pp.challenge_digest(self._empty_challenge)
        self.issuer = issuer
        self.allow_empty_context = allow_empty_context
        self.challenge_ttl = challenge_ttl
        self.spent_ttl = spent_ttl
        self.max_challenges = max_challenges
        self.refresh_interval = refresh_interval
        self._fetch = fetch or fetch_url
        self._clock = clock
        self._spent: SpentTokens = spent if spent is not None else MemorySpentTokens(clock=clock)
        self._lock = threading.Lock()
        self._issued: OrderedDict[bytes, _Issued] = OrderedDict()
        self._keys: dict[bytes, TokenKey] = {}
        self._next_fetch: float | None = None
        if token_keys is not None:
            for threshold, key in token_keys.items():
                token_key = TokenKey.of(key, threshold)
                self._keys[token_key.token_key_id] = token_key
        elif not is_allowed_url(issuer):  # type: ignore[arg-type]
            raise ValueError("issuer must be an https URL (or http to a loopback host)")

    @classmethod
    def from_issuer(cls, issuer: str, **options: Any) -> TokenVerifier:
        """A verifier fetching its keys from the issuer at the URL ``issuer``.

        The issuer name is the URL's host and port; ``options`` are those of
        the constructor.
        """
        name = urlsplit(issuer).netloc
        return cls(name, issuer=issuer, **options)

    def challenge(self, threshold: int, *, redemption_context: bytes | None = None) -> str:
        """Return a ``WWW-Authenticate`` value asking for a token proving ``age_over_<threshold>``.

        By default the challenge carries a fresh 32-byte redemption context
        and is accepted for ``challenge_ttl`` seconds (its ``max-age``).
        ``redemption_context`` gives the 32 bytes instead (remembered the
        same way, each issue restarting the time; its tokens count as spent
        for ``spent_ttl``), or ``b""`` for the empty context, which needs
        ``allow_empty_context``. No key for ``threshold`` raises
        ``token-no-key``.
        """
        _require_threshold(threshold)
        key = self._current_key(threshold)
        fresh = redemption_context is None
        if redemption_context is None:
            redemption_context = os.urandom(pp.REDEMPTION_CONTEXT_LENGTH)
        if type(redemption_context) is not bytes or len(redemption_context) not in (
            0,
            pp.REDEMPTION_CONTEXT_LENGTH,
        ):
            raise ValueError("redemption_context is empty or 32 bytes")
        if not redemption_context:
            if not self.allow_empty_context:
                raise ValueError("an empty redemption context needs allow_empty_context")
            return pp.format_www_authenticate([(self._empty_challenge, key.token_key)])
        challenge = pp.TokenChallenge(
            issuer_name=self.issuer_name,
            redemption_context=redemption_context,
            origin_info=self.origin_info,
        )
        now = self._clock()
        with self._lock:
            self._forget_expired(now)
            digest = pp.challenge_digest(challenge)
            self._issued.pop(digest, None)
            self._issued[digest] = _Issued(threshold, challenge, now + self.challenge_ttl, fresh)
            while len(self._issued) > self.max_challenges:
                self._issued.popitem(last=False)
        return pp.format_www_authenticate([(challenge, key.token_key)], max_age=self.challenge_ttl)

    def verify(
        self,
        authorization: str | None,
        *,
        threshold: int,
        challenge: pp.TokenChallenge | str | None = None,
    ) -> TokenProof:
        """Redeem the token in the ``Authorization`` value ``authorization``: a :class:`TokenProof`.

        The token must be of type 0x0002, signed by a key of ``threshold``
        (``token-wrong-key``), answer a challenge this verifier issued and
        still remembers, or the empty-context challenge if allowed
        (``token-unknown-challenge``), carry a valid signature
        (``token-bad-signature``) and never have been redeemed before
        (``token-replayed``). ``challenge`` (a :class:`TokenChallenge` or the
        ``WWW-Authenticate`` value sent) is the challenge to accept instead,
        for platforms that keep it themselves, e.g. across processes. No
        header raises ``token-missing``; a malformed one the ``privacypass-*``
        codes. Raises :class:`~ageverify.errors.VerificationError`; never
        returns a falsy value.
        """
        _require_threshold(threshold)
        if authorization is None or not authorization.strip():
            raise VerificationError("token-missing")
        try:
            token = pp.parse_authorization(authorization)
        except AgeVerifyError as error:
            raise VerificationError(error.code, error.description) from None
        key = self._key(threshold, token.token_key_id)
        now = self._clock()
        answered, expires_at = self._answered(token.challenge_digest, threshold, challenge, now)
        try:
            blindrsa.verify(key.public_key, pp.token_input(token), token.authenticator)
        except AgeVerifyError:
            raise VerificationError("token-bad-signature") from None
        # Checked last: a forged token must not fill the store.
        if not self._spent.add(hashlib.sha256(token.encode()).digest(), expires_at):
            raise VerificationError("token-replayed")
        return TokenProof(threshold, answered, key.token_key_id)

    def token_keys(self) -> dict[bytes, TokenKey]:
        """The token keys currently known, by id (fetching them if due)."""
        if self.issuer is not None:
            now = self._clock()
            with self._lock:
                if self._due(now):
                    self._refresh(now)
        return dict(self._keys)

    def _answered(
        self,
        digest: bytes,
        threshold: int,
        given: pp.TokenChallenge | str | None,
        now: float,
    ) -> tuple[pp.TokenChallenge, float]:
        """The challenge a token's ``digest`` answers and until when it counts as spent."""
        if given is not None:
            if isinstance(given, pp.TokenChallenge):
                offered = [given]
            else:
                try:
                    offered = [item.challenge for item in pp.parse_www_authenticate(given)]
                except AgeVerifyError:
                    raise VerificationError("token-unknown-challenge") from None
            for challenge in offered:
                if (
                    challenge.issuer_name == self.issuer_name
                    and pp.challenge_digest(challenge) == digest
                ):
                    return challenge, now + self.spent_ttl
            raise VerificationError("token-unknown-challenge")
        if digest == self._empty_digest and self.allow_empty_context:
            return self._empty_challenge, now + self.spent_ttl
        with self._lock:
            self._forget_expired(now)
            issued = self._issued.get(digest)
        if issued is None or issued.threshold != threshold:
            raise VerificationError("token-unknown-challenge")
        if issued.fresh:
            # Once the challenge is forgotten its tokens are refused anyway.
            return issued.challenge, issued.expires_at
        return issued.challenge, now + self.spent_ttl

    def _forget_expired(self, now: float) -> None:
        # Called with the lock held. All challenges live equally long, so the
        # oldest entries expire first.
        issued = self._issued
        while issued:
            digest, oldest = next(iter(issued.items()))
            if oldest.expires_at > now:
                break
            del issued[digest]

    def _current_key(self, threshold: int) -> TokenKey:
        now = self._clock()
        key = _current_key(self.token_keys().values(), threshold, now)
        if key is None:
            raise VerificationError("token-no-key")
        return key

    def _key(self, threshold: int, key_id: bytes) -> TokenKey:
        """The key ``key_id`` if it is one of ``threshold``'s, refreshing once if it is new."""
        key = self._keys.get(key_id)
        if key is None and self.issuer is not None:
            now = self._clock()
            with self._lock:
                if self._due(now):
                    self._refresh(now)
                key = self._keys.get(key_id)
        if key is None or key.threshold != threshold:
            if not any(known.threshold == threshold for known in self._keys.values()):
                raise VerificationError("token-no-key")
            raise VerificationError("token-wrong-key")
        return key

    def _due(self, now: float) -> bool:
        return self._next_fetch is None or now >= self._next_fetch

    def _refresh(self, now: float) -> None:
        """Fetch the issuer's token keys; called with the lock held.

        As :class:`~ageverify.sdk.Verifier` does: the next attempt waits
        ``refresh_interval`` (or :data:`RETRY_INTERVAL` while no key was ever
        obtained), and on failure the keys already known stay in use.
        """
        try:
            loaded = load_token_service(self.issuer, self._fetch)  # type: ignore[arg-type]
            if loaded.issuer_name != self.issuer_name:
                raise ValueError("the issuer publishes another issuer_name")
        except (OSError, ValueError, AgeVerifyError) as error:
            if self._keys:
                self._next_fetch = now + self.refresh_interval
                return
            self._next_fetch = now + min(RETRY_INTERVAL, self.refresh_interval)
            raise VerificationError("issuer-unreachable") from error
        self._next_fetch = now + self.refresh_interval
        self._keys = dict(loaded.keys)


# --- the wallet's side ---------------------------------------------------------

Present = Callable[[str, str, int], str]
"""``present(issuer_url, nonce, threshold) -> presentation`` disclosing ``age_over_<threshold>``."""


def _issuer_error(status: int, body: bytes) -> AgeVerifyError:
    """The error an issuer's refusal stands for: its own code if ageverify knows it."""
    try:
        document = strictjson.loads(body)
    except (ValueError, AgeVerifyError):
        document = None
    code = document.get("code") if isinstance(document, dict) else None
    if isinstance(code, str) and code in CODES:
        return AgeVerifyError(code)
    return AgeVerifyError("issuer-unreachable", f"The issuer answered HTTP {status}.")


class TokenClient:
    """A wallet's Privacy Pass client: mints tokens and answers ``PrivateToken`` challenges.

    ``present(issuer_url, nonce, threshold)`` returns a credential
    presentation addressed to the issuer disclosing ``age_over_<threshold>``
    (a :class:`~ageverify.sdk.Holder` passes its own). ``fetch(url) ->
    bytes`` and ``post(url, body, headers) -> (status, body)`` replace the
    HTTP client, ``clock`` the system time. The issuer's keys are cached for
    ``refresh_interval`` seconds. Tokens fetched ahead are kept in memory, by
    threshold, until used or until their key leaves the issuer's listing.
    """

    def __init__(
        self,
        present: Present,
        *,
        fetch: Callable[[str], bytes] | None = None,
        post: PostRequest | None = None,
        clock: Callable[[], float] = time.time,
        refresh_interval: int = 300,
    ) -> None:
        self._present = present
        self._fetch = fetch or fetch_url
        self._post = post or post_request
        self._clock = clock
        self.refresh_interval = refresh_interval
        self._lock = threading.Lock()
        self._issuers: dict[str, tuple[float, TokenService]] = {}
        self._held: dict[int, list[pp.Token]] = {}

    def issuer(self, issuer_url: str, *, refresh: bool = False) -> TokenService:
        """The Privacy Pass service of ``issuer_url``, from cache unless stale or ``refresh``."""
        now = self._clock()
        with self._lock:
            cached = self._issuers.get(issuer_url)
        if cached is not None and not refresh and now < cached[0]:
            return cached[1]
        try:
            loaded = load_token_service(issuer_url, self._fetch)
        except (OSError, ValueError, AgeVerifyError) as error:
            raise AgeVerifyError("issuer-unreachable") from error
        with self._lock:
            self._issuers[issuer_url] = (now + self.refresh_interval, loaded)
            # Tokens of a key no issuer lists any more would only be refused.
            live = {key_id for _, known in self._issuers.values() for key_id in known.keys}
            for threshold, tokens in self._held.items():
                self._held[threshold] = [t for t in tokens if t.token_key_id in live]
        return loaded

    def held(self, threshold: int) -> list[pp.Token]:
        """The tokens fetched ahead for ``threshold`` and not used yet."""
        with self._lock:
            return list(self._held.get(threshold, ()))

    def fetch_tokens(
        self,
        issuer_url: str,
        threshold: int,
        count: int,
        *,
        origin_info: Iterable[str] = (),
        challenge: pp.TokenChallenge | None = None,
    ) -> list[pp.Token]:
        """Mint ``count`` tokens for ``threshold`` ahead of use and keep them; return them.

        The tokens answer ``challenge`` if given, else the challenge with an
        empty redemption context and ``origin_info`` (empty: any origin).
        Each token is one request to the issuer with the issuer's current key
        for ``threshold`` (``token-no-key`` if it has none).
        """
        _require_threshold(threshold)
        if type(count) is not int or not 1 <= count <= MAX_TOKEN_BATCH:
            raise ValueError(f"count must be from 1 to {MAX_TOKEN_BATCH}")
        issuer = self.issuer(issuer_url)
        key = issuer.current_key(threshold, self._clock())
        if key is None:
            raise AgeVerifyError("token-no-key")
        if challenge is None:
            challenge = pp.TokenChallenge(
                issuer_name=issuer.issuer_name, origin_info=tuple(origin_info)
            )
        elif challenge.issuer_name != issuer.issuer_name:
            raise ValueError("the challenge names another issuer")
        tokens = [self.mint(issuer, challenge, key) for _ in range(count)]
        with self._lock:
            self._held.setdefault(threshold, []).extend(tokens)
        return tokens

    def answer(
        self, www_authenticate: str, *, issuers: Iterable[str], origin: str | None = None
    ) -> str:
        """Answer the first usable challenge in ``www_authenticate``: an ``Authorization`` value.

        A challenge is usable when it names one of ``issuers`` (issuer URLs,
        matched by host and port) and carries a ``token-key`` that issuer
        lists, and, if ``origin`` (this platform's ``host[:port]``) is given
        and the challenge restricts origins, names ``origin``. A token held
        for that exact challenge and key is used up, else one is minted. No
        usable challenge raises ``token-challenge-unusable``; the issuer's
        refusals raise its codes.
        """
        by_name: dict[str, str] = {}
        for url in issuers:
            by_name.setdefault(urlsplit(url).netloc, url)
        for offered in pp.parse_www_authenticate(www_authenticate):
            challenge = offered.challenge
            issuer_url = by_name.get(challenge.issuer_name)
            if offered.token_key is None or issuer_url is None:
                continue
            if origin is not None and challenge.origin_info and origin not in challenge.origin_info:
                continue
            issuer = self.issuer(issuer_url)
            key_id = hashlib.sha256(offered.token_key).digest()
            if key_id not in issuer.keys:
                # Keys are published ahead, but the cache may predate the latest.
                issuer = self.issuer(issuer_url, refresh=True)
            key = issuer.keys.get(key_id)
            if key is None or issuer.issuer_name != challenge.issuer_name:
                continue
            token = self._take(key, pp.challenge_digest(challenge))
            if token is None:
                token = self.mint(issuer, challenge, key)
            return pp.format_authorization(token)
        raise AgeVerifyError("token-challenge-unusable")

    def mint(self, issuer: TokenService, challenge: pp.TokenChallenge, key: TokenKey) -> pp.Token:
        """Get one token for ``challenge`` signed by ``key`` from ``issuer`` (RFC 9578 section 5).

        Proves ``age_over_<key.threshold>`` to the issuer with a fresh issuer
        nonce, sends the blinded TokenRequest and unblinds the answer, which
        is checked before it becomes a token.
        """
        nonce = os.urandom(pp.NONCE_LENGTH)
        digest = pp.challenge_digest(challenge)
        message = pp.authenticator_input(nonce, digest, key.token_key_id)
        blinded = blindrsa.blind(key.public_key, message)
        request = pp.TokenRequest(
            truncated_token_key_id=pp.truncated_token_key_id(key.token_key_id),
            blinded_msg=blinded.blinded_msg,
        )
        headers = {
            "Content-Type": pp.MEDIA_TYPE_TOKEN_REQUEST,
            "Accept": pp.MEDIA_TYPE_TOKEN_RESPONSE,
            "Authorization": self._authorization(issuer, key.threshold),
        }
        try:
            status, body = self._post(issuer.token_request_uri, request.encode(), headers)
        except (OSError, ValueError) as error:
            raise AgeVerifyError("issuer-unreachable") from error
        if status != 200:
            raise _issuer_error(status, body)
        response = pp.TokenResponse.decode(body)
        signature = blindrsa.finalize(key.public_key, message, response.blind_sig, blinded.inv)
        return pp.Token(
            nonce=nonce,
            challenge_digest=digest,
            token_key_id=key.token_key_id,
            authenticator=signature,
        )

    def _authorization(self, issuer: TokenService, threshold: int) -> str:
        """The ``Authorization`` of a token request: a presentation on a fresh issuer nonce."""
        try:
            status, body = self._post(issuer.nonce_uri, b"{}", {"Content-Type": "application/json"})
            document = strictjson.loads(body) if status == 200 else None
        except (OSError, ValueError, AgeVerifyError) as error:
            raise AgeVerifyError("issuer-unreachable") from error
        if status != 200:
            raise _issuer_error(status, body)
        nonce = document.get("nonce") if isinstance(document, dict) else None
        if not isinstance(nonce, str) or not nonce:
            raise AgeVerifyError("issuer-unreachable", "The issuer's answer holds no nonce.")
        presentation = self._present(issuer.issuer, nonce, threshold)
        # An SD-JWT is base64url, "." and "~": nothing a quoted-string must escape.
        if '"' in presentation or "\\" in presentation:
            raise ValueError("a presentation never holds quotes or backslashes")
        return f'{CREDENTIAL_AUTH_SCHEME} presentation="{presentation}"'

    def _take(self, key: TokenKey, digest: bytes) -> pp.Token | None:
        """Remove and return a held token for ``key`` answering the challenge ``digest``."""
        with self._lock:
            held = self._held.get(key.threshold, [])
            for index, token in enumerate(held):
                if token.token_key_id == key.token_key_id and token.challenge_digest == digest:
                    return held.pop(index)
        return None
