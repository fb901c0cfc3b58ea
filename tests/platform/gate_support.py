"""Test support for the platform gate: a real issuer behind Flask's test client, holders
with its credentials, a chat platform guarded by AgeGate and a tiny WSGI app behind
AgeGateMiddleware, and a wallet's side of the presentation request."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, jsonify
from flask.testing import FlaskClient
from presenting import MovableClock

from ageverify.demo import DemoVerifier, age_facts
from ageverify.formats import jose
from ageverify.formats import privacypass as pp
from ageverify.platform import AgeGate, AgeGateMiddleware, Requirement
from ageverify.sdk import Holder, TokenVerifier, Verifier

AUDIENCE = "http://127.0.0.1:8101"
ORIGIN = "127.0.0.1:8101"
NAME = "Demo chat A"
SECRET = "a fixed signing key for the tests only"  # noqa: S105 - not a real secret
# What browsers send when they navigate, and what an API client sends.
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
API = {"Accept": "application/json"}


class IssuerHTTP:
    """The SDK's HTTP calls to the issuer, routed to its Flask test client."""

    def __init__(self, client: FlaskClient, base_url: str) -> None:
        self.client = client
        self.base = base_url.rstrip("/")

    def _path(self, url: str) -> str:
        assert url.startswith(self.base + "/"), url
        return url[len(self.base) :]

    def fetch(self, url: str) -> bytes:
        response = self.client.get(self._path(url))
        if response.status_code != 200:
            raise OSError(f"HTTP {response.status_code}")
        return bytes(response.data)

    def post(self, url: str, body: bytes) -> tuple[int, bytes]:
        response = self.client.post(self._path(url), data=body, content_type="application/json")
        return response.status_code, bytes(response.data)

    def post_request(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        response = self.client.post(self._path(url), data=body, headers=dict(headers))
        return response.status_code, bytes(response.data)


@dataclass
class Issuer:
    """The issuer app of a development instance, with the demo verifier registered."""

    app: Flask
    clock: MovableClock
    demo: DemoVerifier

    @property
    def client(self) -> FlaskClient:
        return self.app.test_client()

    @property
    def url(self) -> str:
        return str(self.app.extensions["ageverify"].settings.issuer_url)

    @property
    def http(self) -> IssuerHTTP:
        return IssuerHTTP(self.client, self.url)

    def holder(self, age: int, count: int = 2) -> Holder:
        """A wallet holding ``count`` credentials of a person aged ``age``."""
        http = self.http
        holder = Holder(
            fetch=http.fetch, post=http.post, post_request=http.post_request, clock=self.clock
        )
        thresholds = self.app.extensions["ageverify"].settings.thresholds
        attestation = self.demo.attest(
            issuer=self.url, age_over=age_facts(age, thresholds), now=self.clock()
        )
        holder.request_credentials(self.url, attestation, count=count)
        return holder

    def verifier(self, audience: str = AUDIENCE) -> Verifier:
        """A platform's verifier with the issuer's JWKS given statically."""
        jwks = json.loads(self.http.fetch(self.url + "/.well-known/jwks.json"))
        return Verifier(audience, issuer=self.url, jwks=jwks, clock=self.clock)

    def token_verifier(self, origin: str = ORIGIN) -> TokenVerifier:
        """A platform's Privacy Pass verifier reading the issuer's keys through its test client."""
        return TokenVerifier.from_issuer(
            self.url, origin_info=(origin,), fetch=self.http.fetch, clock=self.clock
        )


def decode_request(location: str) -> dict[str, Any]:
    """The presentation request in ``{wallet_url}#request=<b64url JSON>``."""
    _, _, fragment = location.partition("#")
    name, _, value = fragment.partition("=")
    assert name == "request"
    return json.loads(jose.b64url_decode(value))


def wallet_answer(holder: Holder, request: dict[str, Any]) -> dict[str, str]:
    """What a wallet's callback page posts for ``request``: a presentation or a token."""
    if request["mode"] == "privacy-pass":
        authorization = holder.answer(request["challenge"], origin=urlsplit(request["aud"]).netloc)
        token = pp.parse_authorization(authorization)
        return {"token": jose.b64url_encode(token.encode()), "nonce": request["nonce"]}
    presentation = holder.present(
        request["aud"], request["nonce"], min_age=request["min_age"], max_age=request["max_age"]
    )
    return {"presentation": presentation, "nonce": request["nonce"]}


def session_of(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """The decoded Flask session cookie of ``client``."""
    cookie = client.get_cookie("session")
    if cookie is None:
        return {}
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return dict(serializer.loads(cookie.value))


def chat_app(issuer: Issuer, mode: str = "credential", **options: Any) -> tuple[Flask, AgeGate]:
    """A chat platform: a lobby, an 18+ and a 13-17 room, a leave link, behind an AgeGate."""
    app = Flask("chat")
    app.secret_key = SECRET
    if mode == "credential":
        options.setdefault("verifier", issuer.verifier())
    else:
        options.setdefault("token_verifier", issuer.token_verifier())
    gate = AgeGate(
        app,
        issuer=issuer.url,
        audience=AUDIENCE,
        name=NAME,
        mode=mode,
        clock=issuer.clock,
        **options,
    )

    @app.get("/")
    def lobby() -> Any:
        return jsonify(room="lobby", proof=gate.proof())

    @app.get("/rooms/adult")
    @gate.require(min_age=18)
    def adult() -> Any:
        return jsonify(room="adult", proof=gate.proof())

    @app.get("/leave")
    def leave() -> Any:
        gate.forget()
        return jsonify(room="lobby")

    if mode == "credential":

        @app.get("/rooms/teen")
        @gate.require(min_age=13, max_age=17)
        def teen() -> Any:
            return jsonify(room="teen", proof=gate.proof())

    return app, gate


def tiny_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """A WSGI application without a framework: says where it is and which proof it sees."""
    if environ["PATH_INFO"] == "/leave":
        environ["ageverify.forget"]()
    body = json.dumps({"path": environ["PATH_INFO"], "proof": environ.get("ageverify.proof")})
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body.encode()]


RULES = {
    "/rooms/adult": Requirement(min_age=18),
    "/rooms/teen": Requirement(min_age=13, max_age=17),
}


def middleware(
    issuer: Issuer, mode: str = "credential", audience: str = AUDIENCE, **options: Any
) -> AgeGateMiddleware:
    """``tiny_app`` behind the gate's middleware."""
    if mode == "credential":
        options.setdefault("verifier", issuer.verifier(audience))
    else:
        options.setdefault("token_verifier", issuer.token_verifier(urlsplit(audience).netloc))
    options.setdefault(
        "rules", RULES if mode == "credential" else {"/rooms/adult": RULES["/rooms/adult"]}
    )
    return AgeGateMiddleware(
        tiny_app,
        issuer=issuer.url,
        audience=audience,
        secret_key=SECRET,
        name=NAME,
        mode=mode,
        clock=issuer.clock,
        **options,
    )
