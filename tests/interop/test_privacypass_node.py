"""Privacy Pass token type 0x0002 against Cloudflare's privacypass-ts, run in Node.

The library is pinned in ``interop/package-lock.json`` and installed with
``npm ci --prefix interop``; the scripts in ``interop/`` read JSON on stdin and
write JSON on stdout (base64 for bytes):

- ``origin-verify.mjs`` checks a token as an origin would, with ``publicVerif.Origin``;
- ``client-request.mjs`` makes a TokenRequest with ``publicVerif.Client`` and
  returns the client's pending state;
- ``client-finalize.mjs`` turns a TokenResponse into a Token with that client.

Both directions are covered: tokens ageverify's building blocks issue verify in
privacypass-ts's origin, and requests privacypass-ts's client makes are answered
by ageverify's signer, both as a building block and through the issuer's
``POST /v1/privacy-pass/token-request``, and verify on both sides. A flipped
bit fails on both.

Without node or ``interop/node_modules`` these tests skip locally, and fail
when ``CI=true``: interoperability is checked in CI or the run is red.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient
from presenting import HeldCredential, MovableClock

from ageverify.crypto import blindrsa
from ageverify.errors import VerificationError
from ageverify.formats import jose, privacypass

INTEROP = Path(__file__).resolve().parents[2] / "interop"
PINNED_PACKAGES = ("@cloudflare/privacypass-ts", "@cloudflare/blindrsa-ts")
# A Node process per call: starting one and loading the library takes well under a second.
NODE_TIMEOUT_SECONDS = 60

NodeScript = Callable[[str, dict[str, Any]], dict[str, Any]]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _why_node_is_unavailable() -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH"
    for package in PINNED_PACKAGES:
        if not (INTEROP / "node_modules" / package / "package.json").is_file():
            return f"{package} is not installed: run `npm ci --prefix interop`"
    return None


@pytest.fixture(scope="module")
def node() -> NodeScript:
    """Run an ``interop/`` script on a JSON payload and return its JSON answer.

    Skips when Node or the npm packages are missing, unless ``CI=true``: then
    the test errors, so that CI never passes without having run them.
    """
    reason = _why_node_is_unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"privacypass-ts interop tests cannot run in CI: {reason}")
        pytest.skip(f"privacypass-ts interop tests need Node: {reason}")
    executable = shutil.which("node")
    assert executable is not None

    def run(script: str, payload: dict[str, Any]) -> dict[str, Any]:
        completed = subprocess.run(  # noqa: S603 - fixed script paths, JSON on stdin
            [executable, str(INTEROP / script)],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            cwd=INTEROP,
            timeout=NODE_TIMEOUT_SECONDS,
            check=False,
        )
        assert completed.returncode == 0, f"{script} failed:\n{completed.stderr}"
        answer: dict[str, Any] = json.loads(completed.stdout)
        return answer

    return run


@dataclass(frozen=True)
class TokenKey:
    """A fresh type 0x0002 issuer key: its signer, its SPKI and its key id (ours)."""

    signer: blindrsa.BlindSigner
    spki: bytes
    key_id: bytes

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.signer.public_key


def _token_key() -> TokenKey:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_key = private_key.public_key()
    return TokenKey(
        signer=blindrsa.BlindSigner(private_key),
        spki=privacypass.encode_pss_spki(public_key),
        key_id=privacypass.token_key_id(public_key),
    )


@pytest.fixture(scope="module")
def token_key() -> TokenKey:
    """The issuer key of this module's tokens."""
    return _token_key()


@pytest.fixture(scope="module")
def challenge() -> privacypass.TokenChallenge:
    """A challenge naming an issuer as host:port, with a redemption context and two origins."""
    return privacypass.TokenChallenge(
        issuer_name="127.0.0.1:8000",
        redemption_context=secrets.token_bytes(privacypass.REDEMPTION_CONTEXT_LENGTH),
        origin_info=("shop.example", "shop.example:8443"),
    )


def _issue_with_ageverify(key: TokenKey, challenge: privacypass.TokenChallenge) -> bytes:
    """A token made end to end by ageverify: our client blinds, our BlindSigner signs."""
    nonce = secrets.token_bytes(privacypass.NONCE_LENGTH)
    msg = privacypass.authenticator_input(
        nonce, privacypass.challenge_digest(challenge), key.key_id
    )
    blinded = blindrsa.blind(key.public_key, msg)
    request = privacypass.TokenRequest(
        truncated_token_key_id=privacypass.truncated_token_key_id(key.key_id),
        blinded_msg=blinded.blinded_msg,
    )
    # Through the wire format, as an issuer would receive and answer it.
    received = privacypass.TokenRequest.decode(request.encode())
    answer = privacypass.TokenResponse(blind_sig=key.signer.sign(received.blinded_msg)).encode()
    blind_sig = privacypass.TokenResponse.decode(answer).blind_sig
    authenticator = blindrsa.finalize(key.public_key, msg, blind_sig, blinded.inv)
    return privacypass.Token(
        nonce=nonce,
        challenge_digest=privacypass.challenge_digest(challenge),
        token_key_id=key.key_id,
        authenticator=authenticator,
    ).encode()


def _node_token_request(
    node: NodeScript, spki: bytes, challenge: privacypass.TokenChallenge
) -> tuple[privacypass.TokenRequest, dict[str, Any]]:
    """privacypass-ts's client makes a TokenRequest for the token key ``spki``.

    Returns the request and the client's pending state.
    """
    made = node(
        "client-request.mjs",
        {"public_key": _b64(spki), "challenge": _b64(challenge.encode())},
    )
    assert _unb64(made["token_key_id"]) == privacypass.token_key_id(
        privacypass.decode_pss_spki(spki)
    )
    request_bytes = _unb64(made["token_request"])
    request = privacypass.TokenRequest.decode(request_bytes)
    assert request.encode() == request_bytes
    return request, made["state"]


def _node_finalize(node: NodeScript, state: dict[str, Any], response: bytes) -> bytes:
    """privacypass-ts's client turns the issuer's TokenResponse into a Token."""
    finalized = node("client-finalize.mjs", {"state": state, "token_response": _b64(response)})
    return _unb64(finalized["token"])


def _verify_with_ageverify(spki: bytes, token_bytes: bytes) -> privacypass.Token:
    """Decode ``token_bytes`` and check its authenticator under the token key ``spki``."""
    token = privacypass.Token.decode(token_bytes)
    public_key = privacypass.decode_pss_spki(spki)
    blindrsa.verify(public_key, privacypass.token_input(token), token.authenticator)
    return token


def _verify_in_node_origin(
    node: NodeScript, spki: bytes, challenge: privacypass.TokenChallenge, token_bytes: bytes
) -> dict[str, Any]:
    """privacypass-ts's origin verdict on ``token_bytes`` for ``challenge`` and key ``spki``."""
    return node(
        "origin-verify.mjs",
        {
            "public_key": _b64(spki),
            "token": _b64(token_bytes),
            "challenge": _b64(challenge.encode()),
        },
    )


@pytest.fixture(scope="module")
def ageverify_token(token_key: TokenKey, challenge: privacypass.TokenChallenge) -> bytes:
    """A token issued by ageverify's building blocks."""
    return _issue_with_ageverify(token_key, challenge)


@pytest.fixture(scope="module")
def node_token(
    node: NodeScript, token_key: TokenKey, challenge: privacypass.TokenChallenge
) -> bytes:
    """A token requested and finalized by privacypass-ts, signed by ageverify's BlindSigner."""
    request, state = _node_token_request(node, token_key.spki, challenge)
    blind_sig = token_key.signer.sign(request.blinded_msg)
    return _node_finalize(node, state, privacypass.TokenResponse(blind_sig=blind_sig).encode())


def _flip_authenticator_bit(token_bytes: bytes, bit: int) -> bytes:
    token = privacypass.Token.decode(token_bytes)
    authenticator = bytearray(token.authenticator)
    authenticator[bit // 8] ^= 0x80 >> (bit % 8)
    tampered = privacypass.Token(
        nonce=token.nonce,
        challenge_digest=token.challenge_digest,
        token_key_id=token.token_key_id,
        authenticator=bytes(authenticator),
    )
    return tampered.encode()


# --- The pin ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("package", "version"),
    [("@cloudflare/privacypass-ts", "0.8.1"), ("@cloudflare/blindrsa-ts", "0.4.3")],
)
def test_the_installed_library_is_the_locked_version(node: NodeScript, package, version):
    lock = json.loads((INTEROP / "package-lock.json").read_text())
    installed = json.loads((INTEROP / "node_modules" / package / "package.json").read_text())
    assert lock["packages"][f"node_modules/{package}"]["version"] == version
    assert installed["version"] == version


# --- ageverify issues, privacypass-ts verifies ----------------------------------


def test_an_ageverify_token_verifies_in_the_privacypass_ts_origin(
    node, token_key, challenge, ageverify_token
):
    verdict = _verify_in_node_origin(node, token_key.spki, challenge, ageverify_token)

    assert verdict["ok"] is True, verdict
    # privacypass-ts re-exports the imported key as an RSASSA-PSS SPKI with its
    # own encoder: equal ids mean our encode_pss_spki matches it byte for byte.
    assert _unb64(verdict["token_key_id"]) == token_key.key_id


# --- privacypass-ts requests, ageverify signs ------------------------------------


def test_a_privacypass_ts_request_is_answered_by_the_blind_signer(node, token_key, challenge):
    request, state = _node_token_request(node, token_key.spki, challenge)
    assert request.token_type == privacypass.TOKEN_TYPE_BLIND_RSA
    assert request.truncated_token_key_id == privacypass.truncated_token_key_id(token_key.key_id)

    received = privacypass.TokenRequest.decode(request.encode())
    response = privacypass.TokenResponse(blind_sig=token_key.signer.sign(received.blinded_msg))
    token_bytes = _node_finalize(node, state, response.encode())

    token = _verify_with_ageverify(token_key.spki, token_bytes)
    assert token.token_key_id == token_key.key_id
    assert token.challenge_digest == privacypass.challenge_digest(challenge)
    assert token.encode() == token_bytes
    verdict = _verify_in_node_origin(node, token_key.spki, challenge, token_bytes)
    assert verdict["ok"] is True, verdict


# --- privacypass-ts requests, the issuer's HTTP endpoint answers -----------------


def _discovery(client: FlaskClient) -> dict[str, Any]:
    """The ``privacy_pass`` member of the issuer's discovery document."""
    document: dict[str, Any] = client.get("/.well-known/age-verification").get_json()
    member: dict[str, Any] = document["privacy_pass"]
    return member


def _signing_key_spki(client: FlaskClient, threshold: int, now: float) -> tuple[bytes, bytes]:
    """(SPKI, key id) of the published key for ``threshold`` that signs at ``now``.

    Found the way a wallet finds it: discovery maps key ids to thresholds, the
    RFC 9578 directory lists the keys, most preferred (signing now) first.
    """
    discovered = _discovery(client)["token_keys"]
    directory = privacypass.parse_directory(client.get(privacypass.DIRECTORY_PATH).data)
    for key in directory.token_keys:
        entry = discovered[jose.b64url_encode(key.token_key_id)]
        if entry["threshold"] == threshold and entry["not_before"] <= now:
            return key.token_key, key.token_key_id
    raise AssertionError(f"no published key for threshold {threshold} signs now")


def test_a_privacypass_ts_request_is_answered_by_the_issuer_endpoint(
    node: NodeScript,
    app: Flask,
    client: FlaskClient,
    clock: MovableClock,
    issue: Callable[..., list[HeldCredential]],
) -> None:
    issuer_url = app.extensions["ageverify"].settings.issuer_url
    metadata = _discovery(client)
    spki, key_id = _signing_key_spki(client, 18, clock())
    challenge = privacypass.TokenChallenge(
        issuer_name=metadata["issuer_name"],
        redemption_context=secrets.token_bytes(privacypass.REDEMPTION_CONTEXT_LENGTH),
        origin_info=("shop.example",),
    )
    token_request, state = _node_token_request(node, spki, challenge)
    assert token_request.truncated_token_key_id == key_id[-1]

    (held,) = issue(count=1, age=30)
    issued_nonce: dict[str, Any] = client.post(urlsplit(metadata["nonce"]).path).get_json()
    nonce = issued_nonce["nonce"]
    presentation = held.present(issuer_url, nonce, claims=("age_over_18",), iat=int(clock()))
    response = client.post(
        urlsplit(metadata["token_request"]).path,
        data=token_request.encode(),
        content_type=privacypass.MEDIA_TYPE_TOKEN_REQUEST,
        headers={"Authorization": f'AgeCredential presentation="{presentation}"'},
    )
    assert response.status_code == 200, response.data
    assert response.mimetype == privacypass.MEDIA_TYPE_TOKEN_RESPONSE

    token_bytes = _node_finalize(node, state, response.data)
    token = _verify_with_ageverify(spki, token_bytes)
    assert token.token_key_id == key_id
    assert token.challenge_digest == privacypass.challenge_digest(challenge)
    verdict = _verify_in_node_origin(node, spki, challenge, token_bytes)
    assert verdict["ok"] is True, verdict
    assert _unb64(verdict["token_key_id"]) == key_id


# --- Refusals on both sides ---------------------------------------------------


@pytest.mark.parametrize("made_by", ["ageverify", "privacypass-ts"])
@pytest.mark.parametrize("bit", [0, 1024, 2047], ids=["first-bit", "middle-bit", "last-bit"])
def test_a_token_with_one_authenticator_bit_flipped_fails_on_both_sides(
    request, node, token_key, challenge, made_by, bit
):
    original = request.getfixturevalue(
        "ageverify_token" if made_by == "ageverify" else "node_token"
    )
    tampered = _flip_authenticator_bit(original, bit)

    with pytest.raises(VerificationError) as caught:
        _verify_with_ageverify(token_key.spki, tampered)
    assert caught.value.code == "blind-rsa-invalid-signature"
    verdict = _verify_in_node_origin(node, token_key.spki, challenge, tampered)
    assert verdict["ok"] is False
    assert verdict["signature_ok"] is False
    # The untouched token still passes: the flip, not the harness, made it fail.
    assert _verify_in_node_origin(node, token_key.spki, challenge, original)["ok"] is True


def test_the_privacypass_ts_origin_refuses_a_token_for_another_challenge_or_key(
    node, token_key, challenge, ageverify_token
):
    other_challenge = privacypass.TokenChallenge(issuer_name=challenge.issuer_name)
    verdict = _verify_in_node_origin(node, token_key.spki, other_challenge, ageverify_token)
    assert verdict["ok"] is False
    assert verdict["challenge_ok"] is False
    assert verdict["signature_ok"] is True

    verdict = _verify_in_node_origin(node, _token_key().spki, challenge, ageverify_token)
    assert verdict["ok"] is False
    assert verdict["token_key_id_ok"] is False
    assert verdict["signature_ok"] is False
