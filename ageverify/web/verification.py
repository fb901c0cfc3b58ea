"""``POST /v1/presentations/verify``: verification for platforms without the SDK.

Privacy trade-off, stated in the OpenAPI document too: a platform using the
SDK verifies offline and the issuer learns nothing; a platform using this
endpoint shows the issuer its audience and nonce. The view therefore never
logs the body or anything taken from it (the access log line has method,
path, status, duration and request id only), and stores nothing.

Replay protection stays with the platform: it issued the nonce, so only it
knows whether the nonce was used before. This endpoint checks that the Key
Binding JWT answers the nonce given, in a fresh time window.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ageverify.formats import sdjwt
from ageverify.web.envelope import json_body, only_members, optional_int_member, string_member
from ageverify.web.runtime import runtime

bp = Blueprint("verification", __name__, url_prefix="/v1")

# Audiences are URLs or similar identifiers; nonces are short random strings.
MAX_AUDIENCE_LENGTH = 2048
MAX_NONCE_LENGTH = 512


@bp.post("/presentations/verify")
def verify_presentation() -> Response:
    """Verify the presentation against the audience, nonce and age requirement given."""
    body = json_body()
    only_members(body, {"presentation", "audience", "nonce", "min_age", "max_age"})
    presentation = string_member(body, "presentation")
    audience = string_member(body, "audience", max_length=MAX_AUDIENCE_LENGTH)
    nonce = string_member(body, "nonce", max_length=MAX_NONCE_LENGTH)
    min_age = optional_int_member(body, "min_age")
    max_age = optional_int_member(body, "max_age")

    state = runtime()
    settings = state.settings
    # The requirement is checked first: a platform asking for something the
    # issuer cannot express learns so without spending a presentation.
    sdjwt.requirement_claims(min_age, max_age, settings.thresholds)
    now = state.clock()
    keys = state.verification_keys.resolver(now)
    verified = sdjwt.verified_presentation(
        presentation,
        keys=keys,
        issuer=settings.issuer_url,
        audience=audience,
        nonce=nonce,
        now=now,
        leeway=settings.leeway,
    )
    sdjwt.check_requirement(verified.facts, min_age, max_age, settings.thresholds)
    # expires_at lets the platform bound how long it trusts the answer.
    response = jsonify(verified=True, facts=verified.facts, expires_at=verified.expires_at)
    response.headers["Cache-Control"] = "no-store"
    return response
