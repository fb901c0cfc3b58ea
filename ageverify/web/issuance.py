"""``POST /v1/credentials``: a verifier attestation in, a batch of credentials out.

The view parses the envelope and hands plain values to the issuing service;
every check of the attestation and the holder keys happens there. The
response is ``no-store``: credentials are the holder's alone.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify

from ageverify.errors import AgeVerifyError
from ageverify.formats.jose import B64URL_ALPHABET
from ageverify.web.envelope import json_body, only_members, string_member
from ageverify.web.runtime import runtime

bp = Blueprint("issuance", __name__, url_prefix="/v1")
audit = logging.getLogger("ageverify.audit")

# What a credential is made of: base64url parts joined by "." and "~".
_CREDENTIAL_BYTES = B64URL_ALPHABET + b".~"


@bp.post("/credentials")
def issue_credentials() -> Response:
    """Issue one credential per holder key for the attestation in the body."""
    body = json_body()
    only_members(body, {"attestation", "holder_keys"})
    attestation = string_member(body, "attestation")
    if "holder_keys" not in body:
        raise AgeVerifyError("invalid-request", "'holder_keys' is required.")
    credentials = runtime().issuer.issue_credentials(attestation, body["holder_keys"])
    # An audit line with the count only: which verifier attested is in the
    # aggregate counts; who the holder is, nobody here knows.
    audit.info("credentials issued count=%d", len(credentials))
    response = _credentials_response(credentials)
    response.headers["Cache-Control"] = "no-store"
    return response


def _credentials_response(credentials: list[str]) -> Response:
    """``{"credentials": [...]}`` as JSON, put together without an encoder when it can be.

    A batch is some 30 kB of credentials, and an encoder looks at every
    character for one to escape; none of a credential's characters ever
    needs it. They are checked for that (one pass in C), so anything else
    still goes through the encoder.
    """
    joined = "".join(credentials)
    plain = joined.isascii() and not joined.encode("ascii").translate(None, _CREDENTIAL_BYTES)
    if credentials and plain:
        body = '{"credentials":["' + '","'.join(credentials) + '"]}\n'
        return current_app.response_class(body, mimetype="application/json")
    return jsonify(credentials=credentials)
