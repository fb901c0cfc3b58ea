"""The demo verifier and ``ageverify demo``: the whole story, step by step.

The demo verifier (``demo-verifier``) is a stand-in for an accredited third
party: it signs whatever age it is told. It exists so that a development
instance can be tried end to end, and it is registered under the name
"DEMO — not a real age check" so that nobody mistakes it for one. Its Ed25519
key lives in the instance folder (mode 0600) and ``ageverify init --dev``
registers it.

``ageverify demo`` runs against a development instance through the HTTP API
in-process (Flask's test client): attest, issue a batch, present to two
platforms, verify, a replay refused, and a 15-year-old refused by an 18+
platform but accepted by a 13-17 one; then the unlinkable mode (Privacy Pass,
RFC 9577 and RFC 9578 token type 2): a platform's ``PrivateToken`` challenge,
the wallet's blind-signed token, a replay refused, and no 18+ token for the
15-year-old.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ageverify.errors import AgeVerifyError
from ageverify.formats import jose
from ageverify.formats.attestation import ATTESTATION_TYP

DEMO_VERIFIER_ID = "demo-verifier"
DEMO_VERIFIER_NAME = "DEMO — not a real age check"
DEMO_KEY_FILE = "demo-verifier-key.pem"
# The demo verifier attests with "other": it checks nothing.
DEMO_METHOD = "other"


def age_facts(age: int, thresholds: Iterable[int]) -> dict[int, bool]:
    """The ``age_over`` facts of a person aged ``age``: threshold -> age >= threshold."""
    return {threshold: age >= threshold for threshold in thresholds}


@dataclass(frozen=True)
class DemoVerifier:
    """A verifier that signs any age it is told. For trials only, never a real age check."""

    private_key: Ed25519PrivateKey

    @classmethod
    def load_or_create(cls, instance_path: Path) -> DemoVerifier:
        """The demo verifier whose key is in ``instance_path``, creating the key if absent."""
        path = Path(instance_path) / DEMO_KEY_FILE
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            return cls(key)
        loaded = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise AgeVerifyError("invalid-request", f"{path} does not hold an Ed25519 key.")
        return cls(loaded)

    @property
    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK, with its RFC 7638 thumbprint as ``kid``."""
        public = jose.public_jwk(self.private_key.public_key())
        return {**public, "kid": jose.thumbprint(public)}

    @property
    def kid(self) -> str:
        """The key id attestations carry."""
        return self.public_jwk["kid"]

    def attest(
        self,
        *,
        issuer: str,
        age_over: dict[int, bool],
        now: float | None = None,
        lifetime: int = 300,
        method: str = DEMO_METHOD,
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        """Sign an attestation of ``age_over`` for the issuer identified by ``issuer``.

        Signed with PyJWT, an implementation independent of the issuer's.
        ``extra_claims`` exists to build refused attestations in tests.
        """
        iat = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": DEMO_VERIFIER_ID,
            "aud": issuer,
            "iat": iat,
            "exp": iat + lifetime,
            "jti": secrets.token_urlsafe(16),
            "age_over": {str(threshold): over for threshold, over in age_over.items()},
            "method": method,
            **(extra_claims or {}),
        }
        return jwt.encode(
            claims,
            self.private_key,
            algorithm="EdDSA",
            headers={"typ": ATTESTATION_TYP, "kid": self.kid},
        )


def register_demo_verifier(sessions: Any, verifier: DemoVerifier, *, now: float) -> bool:
    """Register ``verifier`` as ``demo-verifier`` unless it is; True when it was added."""
    from ageverify.issuer import verifiers
    from ageverify.storage.db import transaction

    with transaction(sessions) as session:
        try:
            verifiers.get_verifier(session, DEMO_VERIFIER_ID)
        except AgeVerifyError:
            verifiers.add_verifier(
                session,
                id=DEMO_VERIFIER_ID,
                name=DEMO_VERIFIER_NAME,
                jwks=[verifier.public_jwk],
                methods=[DEMO_METHOD],
                now=now,
            )
            return True
    return False


Echo = Callable[[str], None]


class _InProcessHTTP:
    """Routes the SDK's HTTP calls for ``base_url`` to a Flask test client."""

    def __init__(self, client: Any, base_url: str) -> None:
        self._client = client
        self._base = base_url.rstrip("/")

    def _path(self, url: str) -> str:
        if not url.startswith(self._base + "/"):
            raise OSError(f"the demo only talks to {self._base}")
        return url[len(self._base) :]

    def fetch(self, url: str) -> bytes:
        response = self._client.get(self._path(url))
        if response.status_code != 200:
            raise OSError(f"HTTP {response.status_code}")
        return bytes(response.data)

    def post(self, url: str, body: bytes) -> tuple[int, bytes]:
        response = self._client.post(self._path(url), data=body, content_type="application/json")
        return response.status_code, bytes(response.data)

    def post_request(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        response = self._client.post(self._path(url), data=body, headers=dict(headers))
        return response.status_code, bytes(response.data)


def _find_instance(instance_path: Path | None) -> Path | None:
    """The development instance to use, or None for a temporary one."""
    from ageverify.config import DEV_SETTINGS_FILE

    if instance_path is not None:
        if not (Path(instance_path) / DEV_SETTINGS_FILE).exists():
            raise AgeVerifyError(
                "invalid-request",
                f"{instance_path} is not a development instance; run "
                f"`ageverify init --dev --instance-path {instance_path}` first.",
            )
        return Path(instance_path)
    default = Path(os.environ.get("AGEVERIFY_INSTANCE_PATH") or "instance")
    return default if (default / DEV_SETTINGS_FILE).exists() else None


def run_demo(echo: Echo, *, instance_path: Path | None = None) -> None:
    """Run the whole story against a development instance and ``echo`` each step.

    ``instance_path`` names a development instance (made by ``ageverify init
    --dev``); without it, the one in ``AGEVERIFY_INSTANCE_PATH`` or
    ``./instance`` is used if it exists, else a temporary instance that is
    removed afterwards.
    """
    import tempfile

    found = _find_instance(instance_path)
    if found is not None:
        _story(echo, found, temporary=False)
        return
    with tempfile.TemporaryDirectory(prefix="ageverify-demo-") as folder:
        from ageverify.config import write_dev_settings

        write_dev_settings(Path(folder))
        _story(echo, Path(folder), temporary=True)


def _story(echo: Echo, instance: Path, *, temporary: bool) -> None:
    import json

    from ageverify import create_app
    from ageverify.sdk import Holder, TokenVerifier, Verifier

    app = create_app({"env": "development", "instance_path": instance, "log_level": "WARNING"})
    state = app.extensions["ageverify"]
    try:
        issuer = state.settings.issuer_url
        thresholds = state.settings.thresholds
        verifier = DemoVerifier.load_or_create(instance)
        register_demo_verifier(state.sessions, verifier, now=time.time())
        client = app.test_client()
        http = _InProcessHTTP(client, issuer)

        def platform(audience: str) -> Verifier:
            # Platforms fetch the discovery document and JWKS once, then verify offline.
            return Verifier(audience, issuer=issuer, thresholds=None, fetch=http.fetch)

        def refusal(call: Callable[[], Any]) -> str:
            try:
                call()
            except AgeVerifyError as error:
                return error.code
            raise AssertionError("the demo expected a refusal here")  # pragma: no cover

        where = "a temporary development instance" if temporary else f"the instance in {instance}"
        echo("ageverify demo: the whole story, step by step")
        echo(f"Issuer {issuer}, {where}.")
        echo(f"The verifier is '{DEMO_VERIFIER_ID}': {DEMO_VERIFIER_NAME}.\n")

        echo("1. Attest")
        adult_facts = age_facts(30, thresholds)
        attestation = verifier.attest(issuer=issuer, age_over=adult_facts)
        claims = jwt.decode(attestation, options={"verify_signature": False})
        echo("   The demo verifier checks an adult (30) and signs an attestation.")
        echo(f"   Its claims: {', '.join(claims)} - age facts only, no name, no birth date.")
        echo(f"   age_over = {json.dumps(claims['age_over'])}\n")

        echo("2. Issue a batch")
        wallet = Holder(fetch=http.fetch, post=http.post, post_request=http.post_request)
        credentials = wallet.request_credentials(issuer, attestation, count=10)
        payload = jwt.decode(credentials[0].split("~")[0], options={"verify_signature": False})
        echo("   The wallet makes 10 key pairs and sends their public keys with the attestation")
        echo("   to POST /v1/credentials. The issuer returns 10 credentials, one per key.")
        echo(f"   Each is an SD-JWT VC with iat = start of the key epoch ({_day(payload['iat'])}),")
        digests = len(payload["_sd"])
        echo(f"   exp = {_day(payload['exp'])}, and {digests} digests (facts + decoys).\n")

        echo("3. Present to two platforms")
        platforms = {
            name: platform(name) for name in ("https://video.example", "https://chat.example")
        }
        presented: dict[str, tuple[str, str]] = {}
        shown: list[int] = []
        for audience, gate in platforms.items():
            nonce = gate.challenge()
            presentation = wallet.present(audience, nonce, min_age=18)
            index = _credential_index(credentials, presentation)
            shown.append(index)
            presented[audience] = (nonce, presentation)
            echo(f"   {audience} asks for 18+ with a fresh nonce.")
            echo(
                f"   The wallet shows credential #{index + 1} of 10, discloses only age_over_18, "
                "and signs audience and nonce with its key."
            )
        if len(set(shown)) == len(shown):
            echo("   Different platforms see different credentials: no signature links them.")
        else:
            echo("   This time both saw the same credential: any two platforms do, 1 time in 10.")
        echo("")

        echo("4. Verify")
        for audience, gate in platforms.items():
            nonce, presentation = presented[audience]
            proof = gate.verify(presentation, nonce=nonce, min_age=18)
            echo(f"   {audience}: verified offline, facts {json.dumps(proof.facts)}.")
        echo("   Each platform learned that one fact and nothing else; the issuer saw neither")
        echo("   presentation (the platforms verified with the JWKS they fetched once).\n")

        echo("5. Replay refused")
        audience = "https://video.example"
        nonce, presentation = presented[audience]
        code = refusal(lambda: platforms[audience].verify(presentation, nonce=nonce, min_age=18))
        echo(f"   The same presentation sent to {audience} again: refused with '{code}'.\n")

        echo("6. A 15-year-old")
        teen = Holder(fetch=http.fetch, post=http.post, post_request=http.post_request)
        teen_attestation = verifier.attest(issuer=issuer, age_over=age_facts(15, thresholds))
        teen.request_credentials(issuer, teen_attestation, count=10)
        echo("   The demo verifier attests age 15; the teen's wallet gets its own batch of 10.")
        adult_site = platforms[audience]
        nonce = adult_site.challenge()
        presentation = teen.present(audience, nonce, min_age=18)
        code = refusal(lambda: adult_site.verify(presentation, nonce=nonce, min_age=18))
        echo(f"   {audience} asks for 18+: the wallet discloses age_over_18 = false;")
        echo(f"   refused with '{code}'.")
        room_audience = "https://teen-room.example"
        room = platform(room_audience)
        nonce = room.challenge()
        presentation = teen.present(room_audience, nonce, min_age=13, max_age=17)
        proof = room.verify(presentation, nonce=nonce, min_age=13, max_age=17)
        echo(f"   {room_audience} asks for 13 to 17: accepted, facts {json.dumps(proof.facts)}.\n")

        echo("7. Unlinkable mode: a Privacy Pass challenge")
        origin = "video.example"
        site = f"https://{origin}"
        # The platform reads the issuer's token keys from discovery once, then verifies offline.
        token_gate = TokenVerifier.from_issuer(issuer, origin_info=(origin,), fetch=http.fetch)
        www_authenticate = token_gate.challenge(18)
        echo(f"   {site} uses Privacy Pass (RFC 9577, RFC 9578 token type 2). From the issuer's")
        echo("   discovery it builds a challenge for 18+, valid for its own name only:")
        echo(f"   WWW-Authenticate: {_abbreviate(www_authenticate)}\n")

        echo("8. The wallet answers")
        authorization = wallet.answer(www_authenticate, origin=origin)
        echo("   The wallet proves to the issuer that it holds an 18+ credential and gets a token")
        echo("   blind-signed: the issuer sees neither the token nor the challenge, so it cannot")
        echo(f"   link the token to {site}, which will verify it offline.")
        echo(f"   Authorization: {_abbreviate(authorization)}\n")

        echo("9. The platform verifies offline")
        token_proof = token_gate.verify(authorization, threshold=18)
        echo(f"   {site}: accepted, facts {json.dumps(token_proof.facts)}.")
        code = refusal(lambda: token_gate.verify(authorization, threshold=18))
        echo(f"   The same token sent to {site} again: refused with '{code}'.\n")

        echo("10. No 18+ token for the 15-year-old")
        www_authenticate = token_gate.challenge(18)
        code = refusal(lambda: teen.answer(www_authenticate, origin=origin))
        echo("   The teen's wallet asks the issuer for an 18+ token; its credential discloses")
        echo(f"   age_over_18 = false, and the issuer refuses with '{code}'.\n")
        echo("Done. Every step above went through the issuer's HTTP API and the SDK.")
    finally:
        state.close()


def _abbreviate(header: str) -> str:
    """``header`` with each quoted value cut to its first 12 characters, for display."""
    return re.sub(r'"([^"]{12})[^"]+"', r'"\1..."', header)


def _day(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp))


def _credential_index(credentials: list[str], presentation: str) -> int:
    issuer_jwt = presentation.split("~", 1)[0]
    return next(i for i, c in enumerate(credentials) if c.split("~", 1)[0] == issuer_jwt)
