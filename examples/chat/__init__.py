"""A demo anonymous chat site with age-restricted rooms, built on ``ageverify.platform``.

The lobby is public. The adult room needs a proof of 18 or over, the teen room
a proof of 13 to 17; ``AgeGate`` sends the browser to the wallet for it and
keeps only the proven fact in the session. Nobody signs in: the site never
learns who is chatting, only that each person in a room meets its age rule.
Messages are kept in memory, the last few per room.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import deque
from urllib.parse import urlsplit

from flask import Flask, Response, abort, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from ageverify.platform import AgeGate
from ageverify.sdk import TokenVerifier, Verifier

__all__ = ["ROOMS", "create_chat_app"]

# room -> (title, what it asks for)
ROOMS = {
    "adult": ("Adult room", "18 or over"),
    "teen": ("Teen room", "13 to 17"),
}
MAX_MESSAGE = 500
KEPT_MESSAGES = 50


def create_chat_app(
    name: str,
    audience: str,
    issuer: str,
    mode: str = "credential",
    *,
    secret_key: str | None = None,
    wallet_url: str | None = None,
    verifier: Verifier | None = None,
    token_verifier: TokenVerifier | None = None,
) -> Flask:
    """Build the chat site called ``name``, whose origin (and audience) is ``audience``.

    ``issuer`` is the age credential issuer it trusts; ``mode`` is
    ``"credential"`` or ``"privacy-pass"``. Privacy Pass tokens prove "over N"
    only, so in that mode the site has no teen room. ``secret_key`` signs the
    session (random per process by default); ``wallet_url``, ``verifier`` and
    ``token_verifier`` go to :class:`~ageverify.platform.AgeGate`.
    """
    app = Flask(__name__)
    app.secret_key = secret_key or secrets.token_hex(32)
    parts = urlsplit(audience)
    app.config.update(
        # Browsers do not separate cookies by port: two sites on 127.0.0.1
        # would overwrite each other's "session" cookie. One name per origin.
        SESSION_COOKIE_NAME="chat-" + re.sub(r"[^A-Za-z0-9]+", "-", parts.netloc),
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=parts.scheme == "https",
    )
    gate = AgeGate(
        app,
        issuer=issuer,
        audience=audience,
        name=name,
        mode=mode,
        wallet_url=wallet_url,
        verifier=verifier,
        token_verifier=token_verifier,
    )
    rooms = ["adult"] if mode == "privacy-pass" else ["adult", "teen"]
    messages = {room: deque[str](maxlen=KEPT_MESSAGES) for room in rooms}
    lock = threading.Lock()
    wallet_origin = _origin(wallet_url or f"{issuer}/wallet/")
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        # A message sent after the proof expired is redirected to the wallet.
        f"connect-src 'self'; form-action 'self' {wallet_origin}; base-uri 'none'; "
        "frame-ancestors 'none'"
    )

    def room_page(room: str) -> ResponseReturnValue:
        if request.method == "POST":
            _check_form_token()
            text = request.form.get("message", "").strip()
            if not text or len(text) > MAX_MESSAGE:
                abort(400)
            with lock:
                messages[room].append(text)
            return redirect(url_for(room), code=303)
        with lock:
            shown = list(messages[room])
        title, rule = ROOMS[room]
        return render_template(
            "room.html",
            site=name,
            room=room,
            title=title,
            rule=rule,
            messages=shown,
            max_message=MAX_MESSAGE,
            form_token=_form_token(),
        )

    @app.get("/")
    def lobby() -> str:
        return render_template("lobby.html", site=name, rooms=rooms, proof=gate.proof())

    @app.route("/rooms/adult", methods=["GET", "POST"], endpoint="adult")
    @gate.require(min_age=18)
    def adult() -> ResponseReturnValue:
        return room_page("adult")

    if "teen" in rooms:

        @app.route("/rooms/teen", methods=["GET", "POST"], endpoint="teen")
        @gate.require(min_age=13, max_age=17)
        def teen() -> ResponseReturnValue:
            return room_page("teen")

    @app.get("/leave")
    def leave() -> ResponseReturnValue:
        gate.forget()
        return redirect(url_for("lobby"), code=303)

    @app.after_request
    def headers(response: Response) -> Response:
        # setdefault: the gate's own pages keep the headers they set.
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _form_token() -> str:
    """This session's token for the message form (same-site pages cannot post for it)."""
    token = session.get("form_token")
    if not isinstance(token, str):
        token = session["form_token"] = secrets.token_urlsafe(16)
    return token


def _check_form_token() -> None:
    sent = request.form.get("form_token", "")
    kept = session.get("form_token")
    if not isinstance(kept, str) or not secrets.compare_digest(sent.encode(), kept.encode()):
        abort(400)
