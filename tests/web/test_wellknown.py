"""Discovery documents: content, caching, and interop of the published keys."""

from __future__ import annotations

from collections.abc import Callable

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from presenting import HeldCredential

PATHS = ("/.well-known/age-verification", "/.well-known/jwt-vc-issuer", "/.well-known/jwks.json")


@pytest.mark.parametrize("path", PATHS)
def test_discovery_is_cacheable_by_platforms(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    etag = response.headers["ETag"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_discovery_document_points_at_this_issuer(client: FlaskClient, app: Flask) -> None:
    settings = app.extensions["ageverify"].settings
    document = client.get("/.well-known/age-verification").json
    assert document["issuer"] == settings.issuer_url
    assert document["jwks_uri"] == settings.issuer_url + "/.well-known/jwks.json"
    assert document["credential_endpoint"] == settings.issuer_url + "/v1/credentials"
    assert document["thresholds"] == list(settings.thresholds)
    assert document["max_batch"] == settings.max_batch
    metadata = client.get("/.well-known/jwt-vc-issuer").json
    assert metadata == {"issuer": settings.issuer_url, "jwks_uri": document["jwks_uri"]}


def test_jwks_publishes_keys_generated_ahead(client: FlaskClient, app: Flask) -> None:
    keys = client.get("/.well-known/jwks.json").json["keys"]
    ahead = app.extensions["ageverify"].settings.keys_ahead
    assert len(keys) == ahead + 1
    for key in keys:
        assert set(key) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")


def test_credentials_verify_with_pyjwt_and_the_published_jwks(
    client: FlaskClient, issue: Callable[..., list[HeldCredential]], app: Flask
) -> None:
    held = issue(count=1)[0]
    jwks = jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").json)
    kid = jwt.get_unverified_header(held.issuer_jwt)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims = jwt.decode(
        held.issuer_jwt,
        key.key,
        algorithms=["ES256"],
        issuer=app.extensions["ageverify"].settings.issuer_url,
        options={"require": ["iss", "iat", "exp"]},
    )
    assert claims["vct"] == "urn:ageverify:age:1"
    assert "sub" not in claims and "jti" not in claims
