"""``AgeGateMiddleware``: the age gate for any WSGI application.

::

    app = AgeGateMiddleware(app, issuer="https://issuer.example",
                            audience="https://chat.example", secret_key=SECRET,
                            rules={"/rooms/adult": Requirement(min_age=18),
                                   "/rooms/teen": Requirement(min_age=13, max_age=17)},
                            name="Example chat")

It behaves as :class:`~ageverify.platform.AgeGate` does for Flask: same
redirect, ``401`` challenge and callback under ``/ageverify/``. The session
is its own cookie ``ageverify``, signed with ``secret_key`` (itsdangerous),
HttpOnly, SameSite=Lax, Secure when the audience is https. The application
finds the proof in ``environ["ageverify.proof"]`` (None without one) and can
drop it by calling ``environ["ageverify.forget"]()``.
"""

from __future__ import annotations

import posixpath
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.http import dump_cookie
from werkzeug.wrappers import Request, Response

from ageverify.errors import AgeVerifyError
from ageverify.platform.core import (
    CALLBACK_PATH,
    PENDING_KEY,
    PROOF_KEY,
    SCRIPT_PATH,
    STYLE_PATH,
    Gate,
    Requirement,
    json_error,
)
from ageverify.sdk import TokenVerifier, Verifier

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["COOKIE_NAME", "AgeGateMiddleware"]

COOKIE_NAME = "ageverify"
_SALT = "ageverify.platform.session"
# A cookie above this many bytes is not sent back by browsers: start afresh.
_MAX_COOKIE = 4000


def normalize_path(path: str) -> str:
    """``path`` as a rule compares it: repeated slashes, ``.`` and ``..`` resolved.

    So that ``/rooms//adult`` or ``/x/../rooms/adult``, which an application
    may well serve as ``/rooms/adult``, cannot slip past its rule.
    """
    collapsed = re.sub(r"/+", "/", "/" + path)
    return posixpath.normpath(collapsed)


class _CookieSession(dict[str, Any]):
    """The gate's keys, read from the signed cookie; remembers whether they changed."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__({k: v for k, v in data.items() if k in (PROOF_KEY, PENDING_KEY)})
        self.original = dict(self)

    @property
    def modified(self) -> bool:
        return dict(self) != self.original


class AgeGateMiddleware:
    """Wraps the WSGI application ``app`` with the age gate.

    ``rules`` maps path prefixes to a :class:`Requirement`; a request whose
    path is a prefix or lies below it (the longest prefix wins) needs a
    proof of it. ``secret_key`` signs the gate's cookie, named
    ``cookie_name`` (cookies are shared by all ports of a host: two
    platforms on one host need two names). The other arguments are those of
    :class:`~ageverify.platform.AgeGate`. A rule that the mode
    cannot ask for raises ``ValueError`` here.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        issuer: str,
        audience: str,
        secret_key: str | bytes,
        rules: Mapping[str, Requirement],
        name: str,
        mode: str = "credential",
        wallet_url: str | None = None,
        proof_lifetime: int = 3600,
        verifier: Verifier | None = None,
        token_verifier: TokenVerifier | None = None,
        cookie_name: str = COOKIE_NAME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret_key:
            raise ValueError("secret_key signs the gate's cookie: give a long random one")
        self.app = app
        self.gate = Gate(
            issuer=issuer,
            audience=audience,
            name=name,
            mode=mode,
            wallet_url=wallet_url,
            proof_lifetime=proof_lifetime,
            verifier=verifier,
            token_verifier=token_verifier,
            clock=clock,
        )
        self.rules = sorted(
            (
                (normalize_path(prefix), self.gate.check_requirement(requirement))
                for prefix, requirement in rules.items()
            ),
            key=lambda rule: len(rule[0]),
            reverse=True,
        )
        self._secure = self.gate.audience.startswith("https://")
        self._serializer = URLSafeSerializer(secret_key, salt=_SALT)
        self.cookie_name = cookie_name

    def requirement_for(self, path: str) -> Requirement | None:
        """The requirement of the longest rule covering ``path``, or None."""
        path = normalize_path(path)
        for prefix, requirement in self.rules:
            if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
                return requirement
        return None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        session = self._load(request)
        path = request.path
        answer: Response | None = None
        if path.startswith("/ageverify/"):
            answer = self._own(request, session, path)
        else:
            requirement = self.requirement_for(path)
            if requirement is not None:
                answer = self.gate.guard(request, session, requirement)
        if answer is not None:
            cookie = self._cookie(request, session)
            if cookie is not None:
                answer.headers.add("Set-Cookie", cookie)
            return answer(environ, start_response)

        environ["ageverify.proof"] = self.gate.proof(session)
        environ["ageverify.forget"] = lambda: self.gate.forget(session)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            cookie = self._cookie(request, session)
            if cookie is not None:
                headers = [*headers, ("Set-Cookie", cookie)]
            return start_response(status, headers, exc_info)

        return self.app(environ, start)

    def _own(self, request: Request, session: _CookieSession, path: str) -> Response:
        """Answer a request for the gate's own paths under ``/ageverify/``."""
        pages: dict[str, dict[str, Callable[[], Response]]] = {
            CALLBACK_PATH: {
                "GET": lambda: self.gate.callback_page(request),
                "POST": lambda: self.gate.callback(request, session),
            },
            SCRIPT_PATH: {"GET": self.gate.callback_script},
            STYLE_PATH: {"GET": self.gate.stylesheet},
        }
        methods = pages.get(path)
        if methods is None:
            return json_error(AgeVerifyError("not-found"))
        method = "GET" if request.method == "HEAD" else request.method
        if method not in methods:
            allowed = ", ".join(sorted({*methods, "HEAD"}))
            return json_error(AgeVerifyError("method-not-allowed"), headers={"Allow": allowed})
        return methods[method]()

    def _load(self, request: Request) -> _CookieSession:
        value = request.cookies.get(self.cookie_name)
        if not value:
            return _CookieSession({})
        try:
            data = self._serializer.loads(value)
        except BadSignature:
            data = {}
        return _CookieSession(data if isinstance(data, dict) else {})

    def _cookie(self, request: Request, session: _CookieSession) -> str | None:
        """The ``Set-Cookie`` value for ``session`` if it changed, else None."""
        if not session.modified:
            return None
        path = request.script_root.rstrip("/") or "/"
        value = self._serializer.dumps(dict(session)) if session else ""
        if len(value) > _MAX_COOKIE:
            # Too many pending requests with long paths: keep the proof only.
            value = self._serializer.dumps({k: v for k, v in session.items() if k == PROOF_KEY})
        session.original = dict(session)
        return dump_cookie(
            self.cookie_name,
            value,
            max_age=None if value else 0,
            path=path,
            secure=self._secure,
            httponly=True,
            samesite="Lax",
        )
