"""``AgeGate``: the Flask extension guarding age-restricted views.

::

    gate = AgeGate(app, issuer="https://issuer.example", audience="https://chat.example",
                   name="Example chat")

    @app.get("/rooms/adult")
    @gate.require(min_age=18)
    def adult(): ...

The proof lives in Flask's signed session (the application needs a
``secret_key``), under the keys ``ageverify`` and ``ageverify_pending``;
:mod:`ageverify.platform.core` says what they hold and how the gate decides.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, current_app, request, session

from ageverify.platform.core import Gate, Requirement
from ageverify.sdk import TokenVerifier, Verifier

__all__ = ["AgeGate"]

View = TypeVar("View", bound=Callable[..., Any])


class AgeGate:
    """Guards Flask views with ``@gate.require(min_age=..., max_age=...)``.

    ``issuer`` is the issuer's URL; ``audience`` this platform's origin,
    which presentations are addressed to; ``name`` the platform's name on the
    wallet's consent screen. ``mode`` is ``"credential"`` (SD-JWT VC
    presentations) or ``"privacy-pass"`` (RFC 9577 tokens, unlinkable, which
    prove a minimum age only). ``wallet_url`` defaults to
    ``{issuer}/wallet/``; ``proof_lifetime`` is how many seconds a proof is
    kept in the session. ``verifier`` (a :class:`~ageverify.sdk.Verifier`
    for ``audience``) and ``token_verifier`` (a
    :class:`~ageverify.sdk.TokenVerifier`) replace the ones built for the
    issuer, e.g. to share a nonce store between processes; ``clock``
    replaces the system time. With ``app`` the gate is installed at once,
    else by :meth:`init_app`.
    """

    def __init__(
        self,
        app: Flask | None = None,
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
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Install the callback on ``app``: blueprint ``ageverify`` under ``/ageverify/``.

        ``GET /ageverify/callback`` (the page), ``POST /ageverify/callback``
        (the wallet's answer as JSON), ``GET /ageverify/callback.js`` and
        ``GET /ageverify/gate.css``.
        """
        blueprint = Blueprint("ageverify", __name__, url_prefix="/ageverify")
        gate = self.gate

        @blueprint.get("/callback")
        def callback_page() -> Any:
            return gate.callback_page(request)

        @blueprint.post("/callback")
        def callback() -> Any:
            return gate.callback(request, _session())

        @blueprint.get("/callback.js")
        def callback_script() -> Any:
            return gate.callback_script()

        @blueprint.get("/gate.css")
        def stylesheet() -> Any:
            return gate.stylesheet()

        app.register_blueprint(blueprint)
        app.extensions["ageverify_gate"] = self

    def require(
        self, min_age: int | None = None, max_age: int | None = None
    ) -> Callable[[View], View]:
        """Decorate a view so that only people proven ``min_age`` to ``max_age`` reach it.

        ``min_age=18`` is "18 or older", ``min_age=13, max_age=17`` "13 to
        17". An impossible requirement raises ``ValueError`` here, at
        decoration, and so does ``max_age`` in privacy-pass mode. Inside
        the view, :meth:`proof` returns the proof that let the request in.
        """
        requirement = self.gate.check_requirement(Requirement(min_age, max_age))

        def decorate(view: View) -> View:
            @functools.wraps(view)
            def guarded(*args: Any, **kwargs: Any) -> Any:
                answer = self.gate.guard(request, _session(), requirement)
                if answer is not None:
                    return answer
                return current_app.ensure_sync(view)(*args, **kwargs)

            return cast(View, guarded)

        return decorate

    def proof(self) -> dict[str, Any] | None:
        """Inside a request: ``{"facts": {"age_over_18": True}, "expires_at": ...}``, or None."""
        return self.gate.proof(_session())

    def forget(self) -> None:
        """Inside a request: drop the proof from the session (a "leave" link)."""
        self.gate.forget(_session())


def _session() -> Any:
    """Flask's session, refusing to run without the secret key that signs it."""
    if not current_app.secret_key:
        raise RuntimeError("AgeGate keeps proofs in Flask's signed session: set app.secret_key")
    return session
