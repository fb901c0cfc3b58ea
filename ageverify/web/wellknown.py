"""Discovery: issuer metadata and the signing keys platforms verify with.

Platforms fetch these documents and verify offline, so they are cacheable
(``public, max-age=300``, with an ETag for cheap revalidation) and readable
from any origin: they hold public keys and public settings only.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from werkzeug.wrappers import Response

from ageverify.web.runtime import runtime

bp = Blueprint("wellknown", __name__, url_prefix="/.well-known")

CACHE_CONTROL = "public, max-age=300"


def _public(document: dict[str, Any]) -> Response:
    response = jsonify(document)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/age-verification")
def age_verification() -> Response:
    """Discovery: issuer, endpoints, thresholds, lifetimes, limits, Privacy Pass, the log."""
    state = runtime()
    # A new dict: the issuer's metadata may be shared between requests.
    document = {
        **state.issuer.metadata(),
        "privacy_pass": state.tokens.metadata(),
        "log": state.log.metadata(),
    }
    return _public(document)


@bp.get("/jwt-vc-issuer")
def jwt_vc_issuer() -> Response:
    """SD-JWT VC issuer metadata (draft-ietf-oauth-sd-jwt-vc): issuer and jwks_uri."""
    return _public(runtime().issuer.jwt_vc_issuer_metadata())


@bp.get("/jwks.json")
def jwks() -> Response:
    """Every credential signing key a valid credential may carry the kid of."""
    state = runtime()
    return _public(state.signing_keys.jwks(state.clock()))
