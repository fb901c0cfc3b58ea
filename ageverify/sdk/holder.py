"""The wallet side: get credentials from the issuer and present them to platforms.

The holder makes one P-256 key per credential, so that credentials cannot be
linked by their ``cnf`` key. For each audience it shows the credential chosen
by ``HMAC-SHA256(wallet secret, audience) mod N``: the same platform always
sees the same credential, different platforms see different ones (1 in N
share one), and the wallet stores nothing about where it was used.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from ageverify.errors import CODES, AgeVerifyError, KeyStoreError, VerificationError
from ageverify.formats import jose, sdjwt, strictjson
from ageverify.formats.privacypass import Token
from ageverify.sdk import tokens
from ageverify.sdk.tokens import CREDENTIAL_AUTH_SCHEME, PostRequest, TokenClient
from ageverify.sdk.verifier import (
    DISCOVERY_PATH,
    FETCH_TIMEOUT,
    MAX_DOCUMENT_SIZE,
    fetch_url,
    is_allowed_url,
    no_redirect_opener,
)
from ageverify.sdk.wallet import (
    HeldCredential,
    MemoryWallet,
    Wallet,
    holder_key_from_jwk,
    private_holder_jwk,
)

__all__ = ["CREDENTIAL_PATH", "MAX_BATCH", "Holder", "age_credential_challenges", "post_json"]

CREDENTIAL_PATH = "/v1/credentials"
# The issuer's own limit may be lower; it says so with holder-keys-invalid.
MAX_BATCH = 30
MAX_CHALLENGE_HEADER = 16_384


# An AgeCredential challenge of the platform gate: its scheme, then its
# parameters, quoted (an audience holds ":" and "/"). Values with quoted-pair
# escapes are not read: the gate never sends any.
_AGE_SCHEME = re.compile(r"(?:^|,)[ \t]*(?i:AgeCredential)[ \t]+")
_AGE_PARAM = re.compile(r'([A-Za-z0-9_-]+)[ \t]*=[ \t]*"([^"\\]*)"[ \t]*(,?)[ \t]*')
_NEXT_PARAM = re.compile(r"[A-Za-z0-9_-]+[ \t]*=")
_NONCE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_AGE = re.compile(r"[0-9]{1,3}")


def age_credential_challenges(header: object) -> list[dict[str, str]]:
    """The parameters of each ``AgeCredential`` challenge in a ``WWW-Authenticate`` value.

    Names are lower-cased; a challenge repeating a parameter is left out,
    and so is anything that is not ``name="value"``. Other schemes in the
    same header are skipped.
    """
    if not isinstance(header, str) or len(header) > MAX_CHALLENGE_HEADER:
        return []
    found = []
    for scheme in _AGE_SCHEME.finditer(header):
        params: dict[str, str] | None = {}
        position = scheme.end()
        while params is not None:
            match = _AGE_PARAM.match(header, position)
            if match is None:
                break
            name = match.group(1).lower()
            if name in params:
                params = None
                break
            params[name] = match.group(2)
            position = match.end()
            if not match.group(3) or not _NEXT_PARAM.match(header, position):
                break
        if params:
            found.append(params)
    return found


def _age_param(value: str | None) -> int | None:
    """The age in a challenge parameter, None when absent; ValueError when not whole years."""
    if value is None:
        return None
    if not _AGE.fullmatch(value):
        raise ValueError("an age is one to three digits")
    return int(value)


def post_json(url: str, body: bytes) -> tuple[int, bytes]:
    """POST the JSON ``body`` to ``url``; return the status and body, error statuses included.

    Only https URLs or http to a loopback host; no redirects; 5 s timeout;
    responses above 256 KiB raise ``ValueError``.
    """
    if not is_allowed_url(url):
        raise ValueError("only https URLs, or http to a loopback host, are contacted")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with no_redirect_opener.open(request, timeout=FETCH_TIMEOUT) as response:
            status, payload = response.status, response.read(MAX_DOCUMENT_SIZE + 1)
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read(MAX_DOCUMENT_SIZE + 1)
    if len(payload) > MAX_DOCUMENT_SIZE:
        raise ValueError("the response is larger than accepted")
    return status, payload


class Holder:
    """A person's wallet: keys, credential requests, presentations and Privacy Pass tokens.

    ``wallet`` keeps the secret, keys and credentials (a fresh
    :class:`~ageverify.sdk.MemoryWallet` by default). ``fetch(url) -> bytes``,
    ``post(url, body) -> (status, body)`` for JSON and ``post_request(url,
    body, headers) -> (status, body)`` for token requests replace the HTTP
    client; ``clock`` the system time. :attr:`tokens` is the
    :class:`~ageverify.sdk.TokenClient` behind :meth:`fetch_tokens` and
    :meth:`answer`.
    """

    def __init__(
        self,
        wallet: Wallet | None = None,
        *,
        fetch: Callable[[str], bytes] | None = None,
        post: Callable[[str, bytes], tuple[int, bytes]] | None = None,
        post_request: PostRequest | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.wallet: Wallet = wallet if wallet is not None else MemoryWallet()
        self._fetch = fetch or fetch_url
        self._post = post or post_json
        self._clock = clock
        self._private_keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.tokens = TokenClient(
            self._present_to_issuer,
            fetch=self._fetch,
            post=post_request or tokens.post_request,
            clock=clock,
        )

    def new_keys(self, n: int) -> list[dict[str, str]]:
        """Create ``n`` P-256 holder keys, keep them in the wallet, return their public JWKs."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_BATCH:
            raise ValueError(f"n must be from 1 to {MAX_BATCH}")
        private_jwks = []
        public_jwks = []
        for _ in range(n):
            key = ec.generate_private_key(ec.SECP256R1())
            private_jwk = private_holder_jwk(key)
            self._private_keys[jose.thumbprint(private_jwk)] = key
            private_jwks.append(private_jwk)
            public_jwks.append(jose.public_jwk(key))
        self.wallet.add_keys(private_jwks)
        return public_jwks

    def discover(self, issuer_url: str) -> dict[str, Any]:
        """Return the issuer's discovery document (``/.well-known/age-verification``)."""
        try:
            document = strictjson.loads(self._fetch(issuer_url.rstrip("/") + DISCOVERY_PATH))
        except (OSError, ValueError, AgeVerifyError) as error:
            raise AgeVerifyError("issuer-unreachable") from error
        if not isinstance(document, dict):
            raise AgeVerifyError("issuer-unreachable")
        return document

    def request_credentials(self, issuer_url: str, attestation: str, count: int = 10) -> list[str]:
        """Exchange a verifier ``attestation`` for ``count`` credentials from ``issuer_url``.

        Makes ``count`` fresh keys, POSTs ``{"attestation", "holder_keys"}`` to
        ``{issuer_url}/v1/credentials`` and stores the credentials returned.
        An error answer raises :class:`~ageverify.errors.AgeVerifyError` with
        the issuer's code when it is one ageverify knows, else
        ``issuer-unreachable``.
        """
        keys = self.new_keys(count)
        body = strictjson.dumps({"attestation": attestation, "holder_keys": keys})
        try:
            status, answer = self._post(issuer_url.rstrip("/") + CREDENTIAL_PATH, body)
            document = strictjson.loads(answer)
        except (OSError, ValueError, AgeVerifyError) as error:
            raise AgeVerifyError("issuer-unreachable") from error
        if status != 200:
            code = document.get("code") if isinstance(document, dict) else None
            if isinstance(code, str) and code in CODES:
                raise AgeVerifyError(code)
            raise AgeVerifyError("issuer-unreachable", f"The issuer answered HTTP {status}.")
        credentials = document.get("credentials") if isinstance(document, dict) else None
        if not isinstance(credentials, list) or not all(isinstance(c, str) for c in credentials):
            raise AgeVerifyError("issuer-unreachable", "The issuer's answer holds no credentials.")
        self.store_credentials(issuer_url, credentials, keys)
        return credentials

    def store_credentials(
        self, issuer: str, credentials: Iterable[str], keys: Iterable[dict[str, str]]
    ) -> list[HeldCredential]:
        """Keep ``credentials`` from ``issuer``, each bound to one of ``keys``, as one batch.

        ``keys`` are public JWKs made by :meth:`new_keys`. A credential whose
        ``iss`` is not ``issuer``, whose ``cnf`` key is not one of ``keys``, or
        which cannot be parsed raises
        :class:`~ageverify.errors.VerificationError` and nothing is stored.
        """
        allowed = {jose.thumbprint(jwk) for jwk in keys}
        batch = secrets.token_urlsafe(9)
        held = []
        for credential in credentials:
            presentation = sdjwt.parse_presentation(credential)
            if presentation.kb_jwt is not None:
                raise VerificationError("presentation-malformed", "A credential has no KB-JWT.")
            payload = presentation.credential.payload
            if payload.get("iss") != issuer:
                raise VerificationError("credential-wrong-issuer")
            cnf = payload.get("cnf")
            jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
            exp = payload.get("exp")
            if not isinstance(jwk, dict) or not isinstance(exp, int) or isinstance(exp, bool):
                raise VerificationError("credential-bad-claims")
            try:
                thumbprint = jose.thumbprint(jwk)
            except jose.JWKError:
                raise VerificationError("credential-bad-claims") from None
            if thumbprint not in allowed or self.wallet.key(thumbprint) is None:
                raise VerificationError(
                    "credential-bad-claims", "A credential is bound to a key this wallet lacks."
                )
            held.append(HeldCredential(credential, thumbprint, issuer, exp, batch))
        self.wallet.add_credentials(held)
        return held

    def credentials(self) -> list[HeldCredential]:
        """Return the credentials held, oldest first (expired ones included)."""
        return self.wallet.credentials()

    def _current_batch(self, issuer: str | None, now: float) -> list[HeldCredential]:
        usable = [
            held
            for held in self.wallet.credentials()
            if held.exp > now and (issuer is None or held.issuer == issuer)
        ]
        if not usable:
            return []
        latest = usable[-1].batch
        return [held for held in usable if held.batch == latest]

    def _private_key(self, thumbprint: str) -> ec.EllipticCurvePrivateKey:
        key = self._private_keys.get(thumbprint)
        if key is None:
            jwk = self.wallet.key(thumbprint)
            if jwk is None:
                raise KeyStoreError("the wallet no longer holds this credential's key")
            key = holder_key_from_jwk(jwk)
            self._private_keys[thumbprint] = key
        return key

    def present(
        self,
        audience: str,
        nonce: str,
        *,
        min_age: int | None = None,
        max_age: int | None = None,
        issuer: str | None = None,
    ) -> str:
        """Return a presentation for the platform ``audience`` answering its ``nonce``.

        Discloses exactly the claims the requirement (``min_age`` and/or
        ``max_age``) needs, whatever their values: the platform decides. The
        credential comes from the newest unexpired batch (of ``issuer``, if
        given), chosen by audience. No usable credential, or one lacking a
        needed claim, raises ``requirement-not-disclosed``; an impossible
        requirement ``requirement-invalid``.
        """
        needed = sdjwt.requirement_claims(min_age, max_age, None)
        now = self._clock()
        batch = self._current_batch(issuer, now)
        if not batch:
            raise VerificationError("requirement-not-disclosed", "The wallet holds no credential.")
        mac = hmac.new(self.wallet.secret(), audience.encode("utf-8"), hashlib.sha256).digest()
        held = batch[int.from_bytes(mac, "big") % len(batch)]
        issuer_jwt, *disclosures = held.credential.split("~")[:-1]
        chosen = {}
        for disclosure in disclosures:
            name = strictjson.loads(jose.b64url_decode(disclosure))[1]
            if name in needed:
                chosen[name] = disclosure
        if set(chosen) != set(needed):
            raise VerificationError("requirement-not-disclosed")
        sd_jwt = issuer_jwt + "~" + "".join(chosen[name] + "~" for name in needed)
        kb_jwt = sdjwt.make_key_binding(
            holder_key=self._private_key(held.key_thumbprint),
            sd_jwt_with_disclosures=sd_jwt,
            audience=audience,
            nonce=nonce,
            iat=int(now),
        )
        return sd_jwt + kb_jwt

    def fetch_tokens(
        self,
        issuer_url: str,
        threshold: int,
        count: int,
        *,
        origin_info: Iterable[str] = (),
    ) -> list[Token]:
        """Fetch ``count`` Privacy Pass tokens proving ``age_over_<threshold>`` ahead of use.

        They answer the challenge with an empty redemption context and
        ``origin_info`` (empty: platforms accepting tokens for any origin),
        and are kept until :meth:`answer` uses them. Each token is one
        request to ``issuer_url``, authorised by a presentation of a
        credential from that issuer; see :meth:`TokenClient.fetch_tokens`.
        """
        return self.tokens.fetch_tokens(issuer_url, threshold, count, origin_info=origin_info)

    def answer(self, www_authenticate: str, *, origin: str | None = None) -> str:
        """Answer a platform's ``WWW-Authenticate`` challenge: an ``Authorization`` value.

        An ``AgeCredential`` challenge (``realm="age", audience="...",
        nonce="...", min_age="18"`` and/or ``max_age="17"``, as the platform
        gate sends it) is answered with ``AgeCredential presentation="...",
        nonce="..."``, a presentation from :meth:`present`. A ``PrivateToken``
        challenge is answered with ``PrivateToken token="..."`` for the
        first challenge naming the issuer of a credential held, using a token
        fetched ahead for it or minting one (see :meth:`TokenClient.answer`).
        ``origin`` is the platform's ``host[:port]``: an ``AgeCredential``
        challenge for another audience is not answered (a site relaying
        another's challenge gets nothing it could use there), nor a
        ``PrivateToken`` challenge restricted to other origins. Raises
        ``age-challenge-unusable`` when the header offers only
        ``AgeCredential`` challenges and none can be answered,
        ``token-challenge-unusable`` when no challenge at all can be.
        """
        offered = age_credential_challenges(www_authenticate)
        for params in offered:
            audience, nonce = params.get("audience", ""), params.get("nonce", "")
            try:
                min_age = _age_param(params.get("min_age"))
                max_age = _age_param(params.get("max_age"))
                netloc = urlsplit(audience).netloc
            except ValueError:
                continue
            if not audience or not _NONCE.fullmatch(nonce) or (min_age is None and max_age is None):
                continue
            if origin is not None and netloc != origin:
                continue
            presentation = self.present(audience, nonce, min_age=min_age, max_age=max_age)
            return f'{CREDENTIAL_AUTH_SCHEME} presentation="{presentation}", nonce="{nonce}"'
        now = self._clock()
        issuers = dict.fromkeys(held.issuer for held in self.wallet.credentials() if held.exp > now)
        try:
            return self.tokens.answer(www_authenticate, issuers=issuers, origin=origin)
        except AgeVerifyError as error:
            asked = isinstance(www_authenticate, str) and _AGE_SCHEME.search(www_authenticate)
            if asked and error.code == "token-challenge-unusable":
                raise AgeVerifyError("age-challenge-unusable") from None
            raise

    def _present_to_issuer(self, issuer_url: str, nonce: str, threshold: int) -> str:
        """A presentation for a token request: audience the issuer, ``age_over_<threshold>``."""
        return self.present(issuer_url, nonce, min_age=threshold, issuer=issuer_url)
