"""Privacy Pass issuance over HTTP (RFC 9578): the issuer directory, nonces, token requests.

``GET /.well-known/private-token-issuer-directory`` is public and cacheable
like the other discovery documents. ``POST /v1/privacy-pass/nonce`` hands out
the nonce a wallet's presentation answers, and ``POST
/v1/privacy-pass/token-request`` takes a TokenRequest
(``application/private-token-request``) authorised by
``Authorization: AgeCredential presentation="<SD-JWT+KB>"`` and answers a
TokenResponse (``application/private-token-response``).

Neither the presentation, the nonce, the blinded message nor the signature is
ever logged: the access log line names the route, status and error code only,
and the audit line says that a token was issued for an age threshold.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, jsonify, request
from werkzeug.wrappers import Response as BaseResponse

from ageverify.errors import AgeVerifyError
from ageverify.formats import privacypass, sdjwt
from ageverify.issuer.tokens import NONCE_PATH, TOKEN_REQUEST_PATH
from ageverify.web.envelope import json_body, only_members
from ageverify.web.runtime import runtime

bp = Blueprint("privacypass", __name__)
audit = logging.getLogger("ageverify.audit")

CACHE_CONTROL = "public, max-age=300"

# Wire format, only ever added to: the scheme that authorises a token request.
AUTHORIZATION_SCHEME = "AgeCredential"
# RFC 9110 section 11.4 credentials with one auth-param, ``presentation``, whose
# value (quoted or not) is an SD-JWT+KB: base64url parts joined by "." and "~".
# Scheme and parameter names are case-insensitive.
_AUTHORIZATION = re.compile(
    r"(?i:AgeCredential) +(?i:presentation)[ \t]*=[ \t]*"
    r'(?:"(?P<quoted>[A-Za-z0-9_.~-]+)"|(?P<bare>[A-Za-z0-9_.~-]+))[ \t]*'
)
# The presentation's own limit, plus room for the scheme and the quotes.
_MAX_AUTHORIZATION = sdjwt.MAX_PRESENTATION_SIZE + 64


@bp.get(privacypass.DIRECTORY_PATH)
def directory() -> BaseResponse:
    """The issuer directory: where to send token requests, and the token keys."""
    response = Response(
        runtime().tokens.directory(), mimetype=privacypass.MEDIA_TYPE_ISSUER_DIRECTORY
    )
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.add_etag()
    return response.make_conditional(request)


@bp.post(NONCE_PATH)
def nonce() -> Response:
    """A fresh single-use nonce for the presentation authorising one token request."""
    # Nothing to send: an empty body, or an empty JSON object for clients
    # that always send one.
    if request.get_data():
        only_members(json_body(), set())
    value, lifetime = runtime().tokens.new_nonce()
    response = jsonify(nonce=value, expires_in=lifetime)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post(TOKEN_REQUEST_PATH)
def token_request() -> Response:
    """Blind-sign a TokenRequest for the holder of the credential presented."""
    if request.mimetype != privacypass.MEDIA_TYPE_TOKEN_REQUEST:
        raise AgeVerifyError(
            "unsupported-media-type",
            f"The body must be sent as {privacypass.MEDIA_TYPE_TOKEN_REQUEST}.",
        )
    presentation = _presentation()
    token_response = runtime().tokens.issue(request.get_data(cache=False), presentation)
    audit.info("privacy pass token issued")
    response = Response(token_response, mimetype=privacypass.MEDIA_TYPE_TOKEN_RESPONSE)
    response.headers["Cache-Control"] = "no-store"
    return response


def _presentation() -> str:
    """The presentation of the request's ``Authorization: AgeCredential`` header."""
    values = request.headers.getlist("Authorization")
    if not values:
        raise AgeVerifyError("token-authorization-missing")
    if len(values) > 1 or len(values[0]) > _MAX_AUTHORIZATION:
        raise AgeVerifyError("token-authorization-malformed")
    match = _AUTHORIZATION.fullmatch(values[0])
    if match is None:
        raise AgeVerifyError("token-authorization-malformed")
    return match.group("quoted") or match.group("bare")
