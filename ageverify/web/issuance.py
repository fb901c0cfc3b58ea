"""``POST /v1/credentials``: a verifier attestation in, a batch of credentials out.

The view parses the envelope and hands plain values to the issuing service;
every check of the attestation and the holder keys happens there. The
response is ``no-store``: credentials are the holder's alone.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from ageverify.errors import AgeVerifyError
from ageverify.web.envelope import json_body, only_members, string_member
from ageverify.web.runtime import runtime

bp = Blueprint("issuance", __name__, url_prefix="/v1")
audit = logging.getLogger("ageverify.audit")


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
    response = jsonify(credentials=credentials)
    response.headers["Cache-Control"] = "no-store"
    return response
