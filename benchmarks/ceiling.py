"""The load benchmark's ceiling: a Flask app doing only the cryptography of each request.

It answers the issuer's two paths with the signature work of each and
nothing else (no strict parsing, no checks of claims, no database, no
logging, no metrics), so the issuer served by the same gunicorn settings can
be measured as a fraction of it:

- ``POST /v1/presentations/verify``: reads ``presentation`` from the JSON
  body, builds the holder key from the coordinates in the credential's
  ``cnf``, and checks the two ES256 signatures (the credential's with the
  issuer key, the Key Binding JWT's with the holder key);
- ``POST /v1/credentials``: checks the attestation's signature with the
  verifier key, then, per holder key, builds the key from its coordinates
  (the check that the point is on the curve, which no issuer may skip) and
  makes one ES256 signature.

Started by ``python -m benchmarks.load`` as
``gunicorn -c deploy/gunicorn.conf.py 'benchmarks.ceiling:create_app("keys.json")'``,
where ``keys.json`` holds ``{"issuer": <P-256 JWK>, "verifier": <Ed25519 JWK>}``
(public keys). It uses ``cryptography`` directly, not ageverify's code.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from flask import Flask, Response, jsonify, request

ES256 = ec.ECDSA(hashes.SHA256())
POINT = (serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def b64url_decode(text: str) -> bytes:
    """The bytes of unpadded base64url ``text``."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    """``data`` as unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def p256_key(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    """The P-256 public key at the coordinates of ``jwk``."""
    point = b"\x04" + b64url_decode(jwk["x"]) + b64url_decode(jwk["y"])
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


def _es256_verify(key: ec.EllipticCurvePublicKey, token: str) -> None:
    signing_input, _, signature = token.rpartition(".")
    raw = b64url_decode(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.verify(der, signing_input.encode("ascii"), ES256)


def create_app(keys_path: str) -> Flask:
    """The ceiling app, checking with the public keys in the JSON file ``keys_path``."""
    keys = json.loads(Path(keys_path).read_text(encoding="utf-8"))
    issuer_key = p256_key(keys["issuer"])
    verifier_key = ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(keys["verifier"]["x"]))
    # Any P-256 key signs at the same cost as the issuer's.
    signing_key = ec.generate_private_key(ec.SECP256R1())
    app = Flask(__name__)

    @app.post("/v1/presentations/verify")
    def verify() -> Response:
        presentation = request.get_json()["presentation"]
        issuer_jwt, _, rest = presentation.partition("~")
        kb_jwt = rest.rpartition("~")[2]
        payload = json.loads(b64url_decode(issuer_jwt.split(".")[1]))
        _es256_verify(issuer_key, issuer_jwt)
        _es256_verify(p256_key(payload["cnf"]["jwk"]), kb_jwt)
        return jsonify(verified=True)

    @app.post("/v1/credentials")
    def issue() -> Response:
        body = request.get_json()
        signing_input, _, signature = body["attestation"].rpartition(".")
        verifier_key.verify(b64url_decode(signature), signing_input.encode("ascii"))
        signatures = [
            b64url_encode(signing_key.sign(p256_key(jwk).public_bytes(*POINT), ES256))
            for jwk in body["holder_keys"]
        ]
        return jsonify(credentials=signatures)

    return app
