"""JSON error rendering: every failure leaves as ``{"code", "description"}``.

Callers that did something wrong get a 4xx with a stable code from
:data:`ageverify.errors.CODES`. Anything unexpected is logged with the request
id and answered with a generic ``internal-error``: never a traceback, never the
exception's message (it may quote the input that caused it).
"""

from __future__ import annotations

import logging
import traceback

from flask import Flask, Response, g, jsonify
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from ageverify.errors import CODES, AgeVerifyError

log = logging.getLogger("ageverify.web")

# Werkzeug raises these before a view runs (routing, body size); they get the
# envelope codes so that a client never sees an HTML error page.
_HTTP_CODES: dict[int, str] = {
    400: "invalid-request",
    401: "unauthorized",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
    503: "unavailable",
}


def error_response(error: AgeVerifyError) -> Response:
    """Render ``error`` as its JSON body with its HTTP status."""
    response = jsonify(error.as_dict())
    response.status_code = error.status
    response.headers["Cache-Control"] = "no-store"
    if error.code == "unauthorized":
        response.headers["WWW-Authenticate"] = 'Bearer realm="ageverify-admin"'
    elif error.status == 401:
        # Every other 401 refuses a token request's credential presentation;
        # RFC 9110 section 15.5.2 wants the scheme that would be accepted.
        response.headers["WWW-Authenticate"] = "AgeCredential"
    return response


def _handle_coded(error: AgeVerifyError) -> Response:
    # The access line logs the code only: descriptions are safe for the
    # caller, but one could come to hold request details, and logs outlive
    # responses.
    g.error_code = error.code
    return error_response(error)


def _handle_http(error: HTTPException) -> Response:
    status = error.code or 500
    code = _HTTP_CODES.get(status)
    if code is None:
        code = "internal-error" if status >= 500 else "invalid-request"
    g.error_code = code
    response = error_response(AgeVerifyError(code))
    if CODES[code][0] != status and status < 500:
        # Keep the status werkzeug chose (for example 411 or 431) while
        # still giving the client a stable code to branch on.
        response.status_code = status
    if status == 405:
        allow = error.get_response().headers.get("Allow")
        if allow:
            response.headers["Allow"] = allow
    return response


def _handle_unexpected(error: Exception) -> Response:
    # The exception's message can quote input (a token, a key), so the log
    # names the type and where it was raised, not what it said.
    frames = traceback.extract_tb(error.__traceback__)[-3:]
    where = " <- ".join(
        f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}:{frame.name}"
        for frame in reversed(frames)
    )
    log.error(
        "internal error request_id=%s type=%s at %s",
        _request_id(),
        type(error).__name__,
        where or "?",
    )
    g.error_code = "internal-error"
    return error_response(AgeVerifyError("internal-error"))


def _handle_database(error: DBAPIError) -> Response:
    """A database that is down or full: 503 with a code, the transaction rolled back.

    Everything the request wanted to record was in one transaction, so
    nothing of it stays; the client may try again. Anything else the driver
    raises is a fault of ours and goes to :func:`_handle_unexpected`.
    """
    if _storage_full(error):
        code = "storage-full"
    elif error.connection_invalidated or isinstance(error, OperationalError | InterfaceError):
        code = "unavailable"
    else:
        return _handle_unexpected(error)
    log.warning(
        "database refused request_id=%s type=%s code=%s",
        _request_id(),
        type(error.orig).__name__,
        code,
    )
    g.error_code = code
    return error_response(AgeVerifyError(code))


def _storage_full(error: DBAPIError) -> bool:
    # SQLite: SQLITE_FULL (13); PostgreSQL: SQLSTATE 53100 disk_full.
    original = error.orig
    return (
        getattr(original, "sqlite_errorcode", None) == 13
        or getattr(original, "sqlstate", None) == "53100"
    )


def _request_id() -> str:
    return str(g.get("request_id", "-"))


def register_error_handlers(app: Flask) -> None:
    """Attach the JSON handlers for coded errors, HTTP errors and everything else to ``app``."""
    app.register_error_handler(AgeVerifyError, _handle_coded)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(DBAPIError, _handle_database)
    app.register_error_handler(Exception, _handle_unexpected)
