"""The gate itself, as the Flask extension and the WSGI middleware share it.

A :class:`Gate` decides, for one request to an age-restricted page, whether
the proof of age kept in the person's session satisfies the page's
:class:`Requirement`, contradicts it (refused at once), or is missing (a
browser is sent to its wallet with a presentation request in the URL
fragment; an API client gets ``401`` and a ``WWW-Authenticate`` challenge).
It also answers the callback the wallet sends the browser back to.

The session is any mutable mapping the front-end keeps signed (Flask's
session, or the middleware's own cookie). It holds two keys and nothing
else of the person's:

- ``ageverify``: ``{"facts": {"age_over_18": true}, "exp": <unix time>}``,
  only the age facts the requirements needed, never a presentation or token;
- ``ageverify_pending``: up to :data:`MAX_PENDING` presentation requests of
  this browser, by nonce: the local path to go back to, the requirement and
  an expiry (and, with Privacy Pass, the digest of the challenge sent).

Requests and responses are werkzeug's, which Flask's subclass: nothing here
depends on Flask. Verification is the SDK's (:class:`~ageverify.sdk.Verifier`,
:class:`~ageverify.sdk.TokenVerifier`), which also makes every nonce and token
single use.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit

from werkzeug.wrappers import Request, Response

from ageverify.errors import AgeVerifyError, VerificationError
from ageverify.formats import jose, sdjwt, strictjson
from ageverify.formats import privacypass as pp
from ageverify.platform import pages
from ageverify.sdk import TokenProof, TokenVerifier, Verifier

__all__ = [
    "CALLBACK_PATH",
    "MODES",
    "PENDING_KEY",
    "PROOF_KEY",
    "SCRIPT_PATH",
    "STYLE_PATH",
    "Gate",
    "Requirement",
    "is_local_path",
    "json_error",
]

log = logging.getLogger("ageverify.platform")

# Paths the gate serves, under the application's root (wire format: only ever added to).
CALLBACK_PATH = "/ageverify/callback"
SCRIPT_PATH = "/ageverify/callback.js"
STYLE_PATH = "/ageverify/gate.css"
# Session keys.
PROOF_KEY = "ageverify"
PENDING_KEY = "ageverify_pending"
# A browser keeps at most this many presentation requests open (several tabs).
MAX_PENDING = 5
MODES = ("credential", "privacy-pass")
REQUEST_VERSION = 1
# A presentation is at most 16 KiB (sdjwt.MAX_PRESENTATION_SIZE); a callback
# body is that plus a nonce and JSON punctuation.
MAX_CALLBACK_BODY = 20_000
MAX_NONCE_LENGTH = 128
# Longer paths are not kept to go back to: the session cookie has about 4 KB.
MAX_NEXT_LENGTH = 256
ANSWERED_ERRORS = ("presentation-declined", "requirement-not-met")
PRIVACY_PASS_AUTH_SCHEME = pp.AUTH_SCHEME
CREDENTIAL_AUTH_SCHEME = "AgeCredential"

# Sent on every answer of the gate: nothing it says may be cached or sniffed,
# and no page of it reveals its address to another site.
GATE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The gate's pages run only the gate's own script and style.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# Authorization: AgeCredential presentation="<SD-JWT+KB>", nonce="<nonce>". An
# SD-JWT is base64url, "." and "~"; a nonce base64url: nothing to escape.
_AUTH_PARAM = re.compile(r'[ \t]*([A-Za-z_]+)[ \t]*=[ \t]*"([A-Za-z0-9._~-]*)"[ \t]*(?:,|$)')
_QUERY = re.compile(r"[A-Za-z0-9!$&'()*+,;=:@/?._~%-]*")


@dataclass(frozen=True)
class Requirement:
    """An age condition of a page: ``min_age`` and/or ``max_age``, in whole years.

    ``Requirement(min_age=18)`` is "18 or older", ``Requirement(min_age=13,
    max_age=17)`` is "13 to 17". Both ``None``, negative or non-integer
    bounds, or ``min_age > max_age`` raise ``ValueError``.
    """

    min_age: int | None = None
    max_age: int | None = None

    def __post_init__(self) -> None:
        try:
            sdjwt.requirement_claims(self.min_age, self.max_age, None)
        except VerificationError as error:
            raise ValueError(error.description) from None

    @property
    def claims(self) -> dict[str, bool]:
        """The claims it needs, each with the value that meets it (``sdjwt.requirement_claims``)."""
        return sdjwt.requirement_claims(self.min_age, self.max_age, None)

    def describe(self) -> str:
        """The requirement in plain words: "18 or older", "13 to 17", "17 or younger"."""
        if self.max_age is None:
            return f"{self.min_age} or older"
        if self.min_age is None:
            return f"{self.max_age} or younger"
        return f"{self.min_age} to {self.max_age}"


def _age_bounds(facts: dict[str, bool]) -> tuple[int, int | None]:
    """What ``facts`` prove: ``age >= low`` and, unless ``high`` is None, ``age < high``."""
    low, high = 0, None
    for name, value in facts.items():
        threshold = sdjwt.parse_age_claim(name)
        if threshold is None:
            continue
        if value:
            low = max(low, threshold)
        elif high is None or threshold < high:
            high = threshold
    return low, high


def satisfies(facts: dict[str, bool], requirement: Requirement) -> bool:
    """Whether ``facts`` hold every claim ``requirement`` needs, with the needed value."""
    return all(facts.get(name) is value for name, value in requirement.claims.items())


def contradicts(facts: dict[str, bool], requirement: Requirement) -> bool:
    """Whether ``facts`` prove that ``requirement`` is not met.

    "Over 18" contradicts "13 to 17" (which needs ``age_over_18`` false), and
    so does "over 21"; "under 18" contradicts "over 21". Facts that merely
    lack a claim contradict nothing: the person is asked for it.
    """
    low, high = _age_bounds(facts)
    for name, value in requirement.claims.items():
        threshold = sdjwt.parse_age_claim(name)
        assert threshold is not None  # noqa: S101 - requirement_claims names age claims
        if value and high is not None and high <= threshold:
            return True
        if not value and low >= threshold:
            return True
    return False


def is_local_path(value: object) -> bool:
    """Whether ``value`` is a path on this site: ``/...``, never ``//host`` or ``/\\host``.

    Only printable ASCII without spaces or backslashes, so that no browser
    reads it as another origin.
    """
    return (
        isinstance(value, str)
        and value.startswith("/")
        and not value.startswith("//")
        and all("!" <= c <= "~" and c != "\\" for c in value)
    )


def local_path(script_root: str, path: str, query: bytes = b"") -> str:
    """The local path of a request (its application root, path and query), safe to redirect to.

    Leading slashes collapse to one (``//evil.example`` becomes
    ``/evil.example``), anything but unreserved characters is
    percent-encoded, and a query that is not plain ASCII URL text, or a path
    too long for the session, is dropped.
    """
    full = "/" + (script_root + path).lstrip("/\\")
    encoded = "/" + quote(full.lstrip("/"), safe="/!$&'()*+,;=:@-._~")
    try:
        text = query.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    if text and _QUERY.fullmatch(text) and len(encoded) + 1 + len(text) <= MAX_NEXT_LENGTH:
        encoded += "?" + text
    if len(encoded) > MAX_NEXT_LENGTH or not is_local_path(encoded):
        return "/" + script_root.strip("/") if script_root.strip("/") else "/"
    return encoded


def parse_age_authorization(header: str) -> tuple[str, str]:
    """The presentation and nonce of ``AgeCredential presentation="...", nonce="..."``.

    Each parameter exactly once, each value non-empty base64url-ish text;
    anything else raises ``age-authorization-malformed``.
    """
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != CREDENTIAL_AUTH_SCHEME.lower() or len(header) > 20_000:
        raise AgeVerifyError("age-authorization-malformed")
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _AUTH_PARAM.match(rest, position)
        if match is None or match.end() == position:
            raise AgeVerifyError("age-authorization-malformed")
        name, value = match.group(1).lower(), match.group(2)
        if name in params or not value:
            raise AgeVerifyError("age-authorization-malformed")
        params[name] = value
        position = match.end()
    if set(params) != {"presentation", "nonce"}:
        raise AgeVerifyError("age-authorization-malformed")
    return params["presentation"], params["nonce"]


def _static(name: str) -> bytes:
    return (resources.files("ageverify.platform") / "static" / name).read_bytes()


def _origin_of(audience: str) -> str:
    """``audience`` as an origin (``https://host[:port]``); anything else raises ValueError."""
    problem = "audience must be this platform's origin, like https://chat.example"
    try:
        parts = urlsplit(audience)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(problem) from None
    if (
        parts.scheme not in ("http", "https")
        or not host
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise ValueError(problem)
    return f"{parts.scheme}://{parts.netloc}"


class Gate:
    """Asks for, receives and keeps proofs of age for one platform; see the module docstring.

    ``issuer`` is the issuer's URL, ``audience`` this platform's origin (the
    ``aud`` presentations are addressed to), ``name`` the display name a
    wallet's consent screen shows. ``mode`` is ``"credential"`` (SD-JWT VC
    presentations checked by ``verifier``) or ``"privacy-pass"`` (RFC 9577
    tokens checked by ``token_verifier``); either SDK object is built for the
    issuer when not given. ``wallet_url`` is where browsers are sent
    (``{issuer}/wallet/`` by default), ``proof_lifetime`` how many seconds a
    proof stays in the session (never beyond the credential's expiry),
    ``clock`` the system time.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        name: str,
        mode: str = "credential",
        wallet_url: str | None = None,
        proof_lifetime: int = 3600,
        verifier: Verifier | None = None,
        token_verifier: TokenVerifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("name is the platform's display name, a non-empty string")
        if type(proof_lifetime) is not int or proof_lifetime <= 0:
            raise ValueError("proof_lifetime is a positive number of seconds")
        if not isinstance(issuer, str) or not issuer:
            raise ValueError("issuer is the issuer's URL")
        self.issuer = issuer.rstrip("/")
        self.audience = _origin_of(audience)
        self.name = name.strip()
        self.mode = mode
        self.wallet_url = wallet_url or f"{self.issuer}/wallet/"
        if "#" in self.wallet_url:
            raise ValueError("wallet_url carries no fragment: the gate adds #request=...")
        self.proof_lifetime = proof_lifetime
        self._clock = clock
        self.verifier: Verifier | None = None
        self.token_verifier: TokenVerifier | None = None
        if mode == "credential":
            self.verifier = verifier or Verifier(
                self.audience, issuer=self.issuer, thresholds=None, clock=clock
            )
            if self.verifier.audience != self.audience:
                raise ValueError("the verifier's audience must be the gate's audience")
            if self.verifier.issuer.rstrip("/") != self.issuer:
                raise ValueError("the verifier's issuer must be the gate's issuer")
        else:
            self.token_verifier = token_verifier or TokenVerifier.from_issuer(
                self.issuer, origin_info=(urlsplit(self.audience).netloc,), clock=clock
            )

    # --- what a page asks for ------------------------------------------------

    def check_requirement(self, requirement: Requirement) -> Requirement:
        """Return ``requirement`` if this gate's mode can ask for it, else raise ``ValueError``.

        Privacy Pass tokens prove ``age_over_N`` only: a ``max_age`` cannot be asked.
        """
        if not isinstance(requirement, Requirement):
            raise TypeError("a requirement is a Requirement(min_age=..., max_age=...)")
        if self.mode == "privacy-pass" and (
            requirement.max_age is not None or requirement.min_age is None
        ):
            raise ValueError(
                "privacy-pass mode proves min_age only (tokens prove age_over_N): "
                "max_age cannot be required"
            )
        return requirement

    # --- the session ---------------------------------------------------------

    def proof(self, session: MutableMapping[str, Any]) -> dict[str, Any] | None:
        """The unexpired proof in ``session``: ``{"facts": {...}, "expires_at": exp}``, or None.

        A stored proof that has expired or has the wrong shape is removed.
        """
        stored = session.get(PROOF_KEY)
        if stored is None:
            return None
        facts = stored.get("facts") if isinstance(stored, dict) else None
        exp = stored.get("exp") if isinstance(stored, dict) else None
        if (
            not isinstance(facts, dict)
            or set(stored) != {"facts", "exp"}
            or not all(
                isinstance(value, bool) and sdjwt.parse_age_claim(claim) is not None
                for claim, value in facts.items()
            )
            or type(exp) is not int
            or exp <= self._clock()
        ):
            _drop(session, PROOF_KEY)
            return None
        return {"facts": dict(facts), "expires_at": exp}

    def forget(self, session: MutableMapping[str, Any]) -> None:
        """Drop the proof and any pending presentation request from ``session``."""
        _drop(session, PROOF_KEY)
        _drop(session, PENDING_KEY)

    def _keep(
        self,
        session: MutableMapping[str, Any],
        facts: dict[str, bool],
        requirement: Requirement,
        expires_at: float | None,
    ) -> None:
        """Keep the facts ``requirement`` needed, until the earlier of lifetime and expiry.

        Facts already held that agree with the new ones are kept with them
        (one visit proves "18+", another "21+"); facts that disagree are
        replaced, the person in this browser having changed.
        """
        kept = {name: facts[name] for name in requirement.claims}
        exp = int(self._clock()) + self.proof_lifetime
        if expires_at is not None:
            exp = min(exp, int(expires_at))
        held = self.proof(session)
        if held is not None and all(held["facts"].get(k, v) is v for k, v in kept.items()):
            low, high = _age_bounds({**held["facts"], **kept})
            if high is None or low < high:
                kept = {**held["facts"], **kept}
                exp = min(exp, held["expires_at"])
        session[PROOF_KEY] = {"facts": kept, "exp": exp}

    def _pending(self, session: MutableMapping[str, Any]) -> dict[str, dict[str, Any]]:
        """The unexpired pending requests of ``session`` (a copy), malformed ones left out."""
        stored = session.get(PENDING_KEY)
        if not isinstance(stored, dict):
            return {}
        now = self._clock()
        return {
            nonce: entry
            for nonce, entry in stored.items()
            if isinstance(entry, dict) and type(entry.get("exp")) is int and entry["exp"] > now
        }

    def _save_pending(
        self, session: MutableMapping[str, Any], pending: dict[str, dict[str, Any]]
    ) -> None:
        # The oldest requests go first. Sessions may store members sorted by
        # name (Flask's does), so age is told by expiry, not by order.
        while len(pending) > MAX_PENDING:
            pending.pop(min(pending, key=lambda nonce: pending[nonce]["exp"]))
        # Assigned, not mutated in place, so that the session sees the change.
        if pending:
            session[PENDING_KEY] = pending
        else:
            _drop(session, PENDING_KEY)

    # --- a request to a restricted page -------------------------------------

    def guard(
        self, request: Request, session: MutableMapping[str, Any], requirement: Requirement
    ) -> Response | None:
        """Let ``request`` through (None) or answer it, for a page requiring ``requirement``.

        Order: an ``Authorization`` of this gate's scheme is verified (and
        its proof kept); a proof in the session that satisfies the
        requirement lets the request through; one that contradicts it gets
        ``403 requirement-not-met`` at once; otherwise the person is asked.
        """
        answer = self._authorize(request, session, requirement)
        if answer is not None:
            return answer
        proof = self.proof(session)
        if proof is not None:
            if satisfies(proof["facts"], requirement):
                return None
            if contradicts(proof["facts"], requirement):
                log.info("age gate refused a stored proof code=requirement-not-met")
                return self._refusal(request, requirement)
        return self._ask(request, session, requirement)

    def _authorize(
        self, request: Request, session: MutableMapping[str, Any], requirement: Requirement
    ) -> Response | None:
        """Verify an API client's ``Authorization``; None when it passed or is not the gate's."""
        header = request.headers.get("Authorization")
        if not header:
            return None
        scheme = header.strip().partition(" ")[0].lower()
        if scheme not in (CREDENTIAL_AUTH_SCHEME.lower(), PRIVACY_PASS_AUTH_SCHEME.lower()):
            return None  # The application's own authorization, not the gate's.
        try:
            if self.mode == "credential":
                if scheme != CREDENTIAL_AUTH_SCHEME.lower():
                    raise AgeVerifyError(
                        "age-authorization-malformed",
                        'This platform accepts Authorization: AgeCredential presentation="...", '
                        'nonce="...".',
                    )
                presentation, nonce = parse_age_authorization(header)
                assert self.verifier is not None  # noqa: S101 - set in credential mode
                proof = self.verifier.verify(
                    presentation,
                    nonce=nonce,
                    min_age=requirement.min_age,
                    max_age=requirement.max_age,
                )
                self._keep(session, proof.facts, requirement, proof.expires_at)
            else:
                if scheme != PRIVACY_PASS_AUTH_SCHEME.lower():
                    raise AgeVerifyError(
                        "age-authorization-malformed",
                        'This platform accepts Authorization: PrivateToken token="...".',
                    )
                assert self.token_verifier is not None  # noqa: S101 - set in privacy-pass mode
                token_proof = self.token_verifier.verify(header, threshold=_threshold(requirement))
                self._keep(session, token_proof.facts, requirement, None)
        except AgeVerifyError as error:
            log.info("age gate refused an Authorization code=%s", error.code)
            if error.code == "requirement-not-met" or error.status >= 500:
                return self._json_error(error)
            # RFC 9110 section 11.6.1: a refused authorization is answered
            # with 401 and a fresh challenge; the code says what was wrong.
            try:
                challenge = self._challenge_header(requirement)
            except AgeVerifyError as failure:
                return self._json_error(failure)
            return self._json_error(error, status=401, headers={"WWW-Authenticate": challenge})
        return None

    def _ask(
        self, request: Request, session: MutableMapping[str, Any], requirement: Requirement
    ) -> Response:
        """Send a browser to its wallet, or answer an API client with 401 and a challenge."""
        try:
            if self.mode == "credential":
                assert self.verifier is not None  # noqa: S101 - set in credential mode
                # An age the issuer never attests is the platform's mistake:
                # say so here rather than after the person went to the wallet.
                sdjwt.requirement_claims(
                    requirement.min_age, requirement.max_age, self.verifier.thresholds
                )
            if not prefers_html(request):
                return self._json_error(
                    AgeVerifyError("age-proof-required"),
                    headers={"WWW-Authenticate": self._challenge_header(requirement)},
                )
            return self._redirect_to_wallet(request, session, requirement)
        except AgeVerifyError as error:
            log.info("age gate could not ask for a proof code=%s", error.code)
            return self._json_error(error)

    def _challenge_header(self, requirement: Requirement) -> str:
        """A fresh ``WWW-Authenticate`` value for an API client."""
        if self.mode == "privacy-pass":
            assert self.token_verifier is not None  # noqa: S101 - set in privacy-pass mode
            return self.token_verifier.challenge(_threshold(requirement))
        assert self.verifier is not None  # noqa: S101 - set in credential mode
        value = (
            f'{CREDENTIAL_AUTH_SCHEME} realm="age", audience="{self.audience}", '
            f'nonce="{self.verifier.challenge()}"'
        )
        if requirement.min_age is not None:
            value += f', min_age="{requirement.min_age}"'
        if requirement.max_age is not None:
            value += f', max_age="{requirement.max_age}"'
        return value

    def _redirect_to_wallet(
        self, request: Request, session: MutableMapping[str, Any], requirement: Requirement
    ) -> Response:
        """``303`` to ``{wallet_url}#request=<b64url JSON>``, the request kept as pending."""
        now = self._clock()
        entry: dict[str, Any] = {
            "next": local_path(request.script_root, request.path, request.query_string),
            "min_age": requirement.min_age,
            "max_age": requirement.max_age,
        }
        document: dict[str, Any] = {"v": REQUEST_VERSION, "mode": self.mode}
        if self.mode == "credential":
            assert self.verifier is not None  # noqa: S101 - set in credential mode
            nonce = self.verifier.challenge()
            entry["exp"] = int(now) + self.verifier.nonce_ttl
        else:
            assert self.token_verifier is not None  # noqa: S101 - set in privacy-pass mode
            # The nonce only names the pending request; the token answers the challenge.
            nonce = jose.b64url_encode(os.urandom(16))
            challenge = self.token_verifier.challenge(_threshold(requirement))
            (offered,) = pp.parse_www_authenticate(challenge)
            entry["challenge"] = jose.b64url_encode(pp.challenge_digest(offered.challenge))
            entry["exp"] = int(now) + self.token_verifier.challenge_ttl
        document.update(
            {
                "issuer": self.issuer,
                "aud": self.audience,
                "nonce": nonce,
                "min_age": requirement.min_age,
                "max_age": requirement.max_age,
                "callback": self.audience + request.script_root.rstrip("/") + CALLBACK_PATH,
                "name": self.name,
            }
        )
        if self.mode == "privacy-pass":
            document["challenge"] = challenge
            document["threshold"] = requirement.min_age
        pending = self._pending(session)
        pending[nonce] = entry
        self._save_pending(session, pending)
        location = f"{self.wallet_url}#request={jose.b64url_encode(strictjson.dumps(document))}"
        return _response(b"", 303, "text/plain; charset=utf-8", {"Location": location})

    def _refusal(self, request: Request, requirement: Requirement) -> Response:
        """``403 requirement-not-met``: an HTML page with ``#age-refused``, or JSON."""
        error = VerificationError(
            "requirement-not-met",
            f"This page is for people aged {requirement.describe()}, and the proof of age "
            f"already shared with {self.name} shows that you are not.",
        )
        if not prefers_html(request):
            return self._json_error(error)
        body = pages.refusal_page(
            name=self.name,
            description=error.description,
            home=_home(request),
            style=request.script_root.rstrip("/") + STYLE_PATH,
        )
        return _page(body, 403)

    # --- the callback ---------------------------------------------------------

    def callback_page(self, request: Request) -> Response:
        """``GET /ageverify/callback``: the page whose script posts the fragment back."""
        root = request.script_root.rstrip("/")
        body = pages.callback_page(
            name=self.name,
            home=_home(request),
            script=root + SCRIPT_PATH,
            style=root + STYLE_PATH,
        )
        return _page(body, 200)

    def callback_script(self) -> Response:
        """``GET /ageverify/callback.js``."""
        return _response(_static("callback.js"), 200, "text/javascript; charset=utf-8")

    def stylesheet(self) -> Response:
        """``GET /ageverify/gate.css``: the style of the gate's pages."""
        return _response(_static("gate.css"), 200, "text/css; charset=utf-8")

    def callback(self, request: Request, session: MutableMapping[str, Any]) -> Response:
        """``POST /ageverify/callback``: verify the wallet's answer, keep the proof, say where next.

        Answers ``200 {"next": "/the/page"}`` or ``4xx {"code", "description",
        "next"}``. The pending request is used up whatever the outcome.
        """
        home = _home(request)
        try:
            # The callback page posts from this origin; browsers say so in
            # Origin (or "null" under some referrer policies). Another site
            # is refused before the body is read.
            origin = request.headers.get("Origin")
            if origin not in (None, "null", self.audience):
                raise AgeVerifyError("callback-malformed", "The callback comes from another site.")
            answer = _callback_body(request)
            nonce = answer["nonce"]
            pending = self._pending(session)
            entry = pending.pop(nonce, None)
            self._save_pending(session, pending)
            if entry is None:
                raise AgeVerifyError("presentation-request-unknown")
            requirement = Requirement(entry.get("min_age"), entry.get("max_age"))
            if "error" in answer:
                raise VerificationError(answer["error"])
            if self.mode == "credential":
                if "presentation" not in answer:
                    raise AgeVerifyError(
                        "callback-malformed", "This platform asks for a presentation."
                    )
                assert self.verifier is not None  # noqa: S101 - set in credential mode
                proof = self.verifier.verify(
                    answer["presentation"],
                    nonce=nonce,
                    min_age=requirement.min_age,
                    max_age=requirement.max_age,
                )
                self._keep(session, proof.facts, requirement, proof.expires_at)
            else:
                if "token" not in answer:
                    raise AgeVerifyError("callback-malformed", "This platform asks for a token.")
                token_proof = self._redeem(answer["token"], entry, requirement)
                self._keep(session, token_proof.facts, requirement, None)
        except (AgeVerifyError, ValueError) as error:
            if not isinstance(error, AgeVerifyError):
                error = AgeVerifyError("callback-malformed")
            log.info("age gate callback refused code=%s", error.code)
            return self._json_error(error, next_path=home)
        next_path = entry.get("next")
        return _json(200, {"next": next_path if is_local_path(next_path) else home})

    def _redeem(self, encoded: str, entry: dict[str, Any], requirement: Requirement) -> TokenProof:
        """Redeem a base64url token answering the challenge sent with this browser's request."""
        try:
            raw = jose.b64url_decode(encoded)
        except AgeVerifyError:
            raise AgeVerifyError("callback-malformed", "The token is not base64url.") from None
        token = pp.Token.decode(raw)
        if jose.b64url_encode(token.challenge_digest) != entry.get("challenge"):
            # A token for another browser's challenge, or for no challenge of ours.
            raise VerificationError("token-unknown-challenge")
        assert self.token_verifier is not None  # noqa: S101 - set in privacy-pass mode
        return self.token_verifier.verify(
            pp.format_authorization(token), threshold=_threshold(requirement)
        )

    # --- answers ---------------------------------------------------------------

    def _json_error(
        self,
        error: AgeVerifyError,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        next_path: str | None = None,
    ) -> Response:
        return json_error(error, status=status, headers=headers, next_path=next_path)


def json_error(
    error: AgeVerifyError,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
    next_path: str | None = None,
) -> Response:
    """The gate's JSON refusal: ``{"code", "description"}`` (and ``next``), with its status."""
    body: dict[str, Any] = error.as_dict()
    if next_path is not None:
        body["next"] = next_path
    return _json(status or error.status, body, headers)


def _threshold(requirement: Requirement) -> int:
    """The age a Privacy Pass token must prove: the ``min_age`` check_requirement ensured."""
    if requirement.min_age is None:
        raise AgeVerifyError("requirement-invalid", "Privacy Pass proves a minimum age only.")
    return requirement.min_age


def _drop(session: MutableMapping[str, Any], key: str) -> None:
    # Only when present: popping a missing key still counts as a change to
    # Flask's session, which would then send a cookie for nothing.
    if key in session:
        del session[key]


def prefers_html(request: Request) -> bool:
    """Whether the client is a browser: its ``Accept`` ranks text/html above JSON.

    ``*/*`` (curl, most HTTP libraries) ranks them equal: an API client.
    """
    accept = request.accept_mimetypes
    return accept.quality("text/html") > accept.quality("application/json")


def _home(request: Request) -> str:
    """The application's root path, where refusals send the person."""
    root = request.script_root.rstrip("/")
    return root + "/" if is_local_path(root + "/") else "/"


def _callback_body(request: Request) -> dict[str, str]:
    """The callback's JSON: ``nonce`` and one of ``presentation``, ``token`` or ``error``.

    Anything else (another media type, a body too large, bad JSON, unknown
    or missing members, non-string values) raises ``callback-malformed``.
    """
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if request.mimetype != "application/json" or charset not in ("utf-8", "utf8"):
        raise AgeVerifyError("callback-malformed", "The callback is sent as application/json.")
    length = request.content_length
    if length is None or length > MAX_CALLBACK_BODY:
        raise AgeVerifyError("callback-malformed", "The callback body is missing or too large.")
    try:
        body = strictjson.loads(request.get_data(cache=False))
    except AgeVerifyError:
        raise AgeVerifyError("callback-malformed", "The callback body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise AgeVerifyError("callback-malformed")
    answers = [member for member in ("presentation", "token", "error") if member in body]
    if len(answers) != 1 or set(body) != {"nonce", answers[0]}:
        raise AgeVerifyError("callback-malformed")
    if not all(isinstance(value, str) and value for value in body.values()):
        raise AgeVerifyError("callback-malformed", "The callback's members are non-empty strings.")
    if len(body["nonce"]) > MAX_NONCE_LENGTH:
        raise AgeVerifyError(
            "callback-malformed", "The nonce is longer than any this platform issues."
        )
    if "error" in body and body["error"] not in ANSWERED_ERRORS:
        raise AgeVerifyError(
            "callback-malformed", "A wallet answers presentation-declined or requirement-not-met."
        )
    return body


def _response(
    body: bytes, status: int, content_type: str, headers: dict[str, str] | None = None
) -> Response:
    response = Response(body, status=status, content_type=content_type)
    for name, value in {**GATE_HEADERS, **(headers or {})}.items():
        response.headers[name] = value
    return response


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return _response(strictjson.dumps(body), status, "application/json", headers)


def _page(body: str, status: int) -> Response:
    return _response(
        body.encode("utf-8"),
        status,
        "text/html; charset=utf-8",
        {"Content-Security-Policy": PAGE_CSP},
    )
