"""What every request and response share: request ids, the access log,
security headers, and strict JSON bodies.

The access log carries method, route, status, duration, the error code of a
refusal and the request id, and nothing else: no query string, no body, no
``Authorization``, no client address. Bodies hold attestations, holder keys
and presentations (and, for ``/v1/presentations/verify``, a platform's
audience and nonce), none of which may reach a log.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from flask import Flask, Request, Response, g, request
from flask.ctx import _AppCtxGlobals
from flask.json.provider import DefaultJSONProvider

from ageverify.errors import AgeVerifyError
from ageverify.formats import strictjson
from ageverify.logs import log_access

access_log = logging.getLogger("ageverify.access")

# Sent on every response. The API serves JSON only, so the policy forbids
# everything a browser could do with a response rendered as a document.
SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "cross-origin",
}


# (name, lower-case name, value) of the headers a response gets unless its
# view set them: the security headers, and no-store for anything a view did
# not mark cacheable (it is private to this exchange).
_DEFAULT_HEADERS = tuple(
    (name, name.lower(), value)
    for name, value in {**SECURITY_HEADERS, "Cache-Control": "no-store"}.items()
)
_HSTS = ("Strict-Transport-Security", "strict-transport-security", "max-age=63072000")
_ACCESS_LINE = "%s %s %d %.1fms code=%s request_id=%s"


def current_request() -> Request:
    """The request being served, taken from Flask's ``request`` proxy once.

    Each attribute read through the proxy costs about two microseconds, the
    object's own attributes a tenth of that: the hooks that run on every
    request read a dozen of them.
    """
    return request._get_current_object()  # type: ignore[attr-defined,no-any-return]


def request_globals() -> _AppCtxGlobals:
    """Flask's ``g`` of the request being served, taken once (see :func:`current_request`)."""
    return g._get_current_object()  # type: ignore[attr-defined,no-any-return]


def _start_request() -> None:
    state = request_globals()
    # Our own id, never one taken from the client: a header value chosen by
    # the caller would let anyone write into our logs.
    state.request_id = secrets.token_hex(8)
    state.started = time.perf_counter()


def _add_default_headers(response: Response, defaults: tuple[tuple[str, str, str], ...]) -> None:
    headers = response.headers
    # One pass over the headers set so far, instead of a search per default.
    present = {name.lower() for name, _ in headers}
    for name, lowered, value in defaults:
        if lowered not in present:
            headers.add(name, value)


def _log_access(response: Response, request_id: str, state: _AppCtxGlobals) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    elapsed_ms = (time.perf_counter() - state.started) * 1000
    served = current_request()
    rule = served.url_rule
    route = rule.rule if rule is not None else "<unmatched>"
    code = state.get("error_code", "-")
    # The route's pattern, not the path sent: a path is the client's text
    # (an unmatched one can carry anything, a token included).
    method = served.method
    arguments = (method, route, response.status_code, elapsed_ms, code, request_id)
    extra = {
        "request_id": request_id,
        "method": method,
        "route": route,
        "status": response.status_code,
        "duration_ms": round(elapsed_ms, 1),
        "code": code,
    }
    log_access(access_log, _ACCESS_LINE % arguments, extra)


def init_app(app: Flask, *, hsts: bool) -> None:
    """Install request ids, the access log, security headers and JSON responses on ``app``.

    ``hsts`` adds ``Strict-Transport-Security``; it is set when the issuer is
    served over https.
    """
    defaults = _DEFAULT_HEADERS + ((_HSTS,) if hsts else ())

    def finish_response(response: Response) -> Response:
        _add_default_headers(response, defaults)
        state = request_globals()
        request_id = state.get("request_id")
        if request_id is not None:
            response.headers["X-Request-ID"] = request_id
            _log_access(response, request_id, state)
        return response

    app.json = JSONProvider(app)
    app.before_request(_start_request)
    app.after_request(finish_response)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON with members in the order the code gives them, and one encoder for all.

    Flask's ``jsonify`` builds a new encoder for each response; every
    response here is JSON, so the compact ones (``jsonify`` outside debug
    mode) share one made once. Everything else is Flask's.
    """

    sort_keys = False

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self._encode = json.JSONEncoder(
            ensure_ascii=self.ensure_ascii,
            sort_keys=self.sort_keys,
            separators=_COMPACT["separators"],
            default=self.default,
        ).encode

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """``obj`` as JSON text; Flask's compact responses get the shared encoder."""
        if kwargs == _COMPACT:
            return self._encode(obj)
        return super().dumps(obj, **kwargs)


# What DefaultJSONProvider.response passes to dumps outside debug mode.
_COMPACT: dict[str, Any] = {"separators": (",", ":")}


def json_body() -> dict[str, Any]:
    """The request body as a JSON object, parsed strictly.

    The media type must be ``application/json`` (charset, if given, utf-8),
    else ``unsupported-media-type``; bodies larger than the app's
    ``MAX_CONTENT_LENGTH`` are refused by werkzeug before they are read
    (``payload-too-large``); duplicate member names, NaN, invalid UTF-8 and
    deep nesting are ``malformed-json``; anything but an object is
    ``invalid-request``.
    """
    served = current_request()
    if served.mimetype != "application/json":
        raise AgeVerifyError("unsupported-media-type")
    charset = served.mimetype_params.get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise AgeVerifyError("unsupported-media-type", "The body must be UTF-8 encoded JSON.")
    data = served.get_data(cache=False)
    try:
        body = strictjson.loads(data)
    except AgeVerifyError as error:
        # The body's parser reports with token codes (json-*); the envelope has
        # its own, so a client can tell a bad body from a bad token inside it.
        raise AgeVerifyError("malformed-json", _JSON_REASONS.get(error.code)) from None
    if not isinstance(body, dict):
        raise AgeVerifyError("invalid-request", "The body must be a JSON object.")
    return body


_JSON_REASONS = {
    "json-duplicate-member": "The body is not valid JSON: an object repeats a member name.",
    "json-too-deep": "The body is not valid JSON: it is nested too deeply.",
    "json-not-utf8": "The body is not valid JSON: it is not UTF-8.",
}


def string_member(body: dict[str, Any], name: str, *, max_length: int | None = None) -> str:
    """``body[name]`` as a non-empty string, else ``invalid-request`` naming the member."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise AgeVerifyError("invalid-request", f"'{name}' must be a non-empty string.")
    if max_length is not None and len(value) > max_length:
        raise AgeVerifyError("invalid-request", f"'{name}' is longer than {max_length} characters.")
    return value


def optional_int_member(body: dict[str, Any], name: str) -> int | None:
    """``body[name]`` as an integer (JSON booleans are not), or None when absent or null."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AgeVerifyError("invalid-request", f"'{name}' must be an integer.")
    return value


def only_members(body: dict[str, Any], allowed: set[str]) -> None:
    """Refuse members outside ``allowed`` with ``invalid-request``.

    An unknown member is most often a misspelt one; silently ignoring it would
    turn a client's mistake into a different request than the one meant.
    """
    if not set(body) <= allowed:
        # The unknown names are not echoed: they are the caller's text.
        accepted = ", ".join(sorted(allowed))
        raise AgeVerifyError(
            "invalid-request", f"The body has members this endpoint does not accept ({accepted})."
        )
