"""The PKCS#11 key store on a real SoftHSM2 token (see tests/softhsm.py).

What each test proves: credentials, log checkpoints and Privacy Pass blind
signatures made inside the token verify with the ordinary verifiers; the
token reproduces the RFC 9474 and RFC 9578 blind signatures of their test
vectors; the private keys are generated in the token, sensitive and not
extractable; a wrong PIN, label or module stops the store with a message
that says what to fix; a token without Ed25519 keeps the log key in a file;
a forked worker signs after initialising the module again; and the issuer
runs one issuance on keys in the token.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from presenting import HolderKeys
from softhsm import SoftHSM, import_private_key

from ageverify.crypto import blindrsa
from ageverify.crypto.keystore import FileKeyStore, KeyKind, KeyStore
from ageverify.crypto.keystores import LogKeyInFiles, open_key_store
from ageverify.crypto.stored_keys import blind_signer, ed25519_key, p256_key
from ageverify.errors import AgeVerifyError, ConfigurationError, KeyStoreError
from ageverify.formats import jose, privacypass, sdjwt
from ageverify.sdk import Verifier
from ageverify.translog import note
from ageverify.translog.checkpoint import Checkpoint, open_checkpoint

if os.environ.get("CI") != "true":
    # Under CI=true a missing python-pkcs11 fails the collection instead.
    pytest.importorskip("pkcs11", reason="python-pkcs11 is not installed")

import pkcs11  # noqa: E402
from pkcs11 import Attribute, ObjectClass  # noqa: E402

from ageverify.crypto.pkcs11 import Pkcs11KeyStore  # noqa: E402

ISSUER = "https://issuer.test"
AUDIENCE = "https://platform.test"
ORIGIN = "issuer.test/log"
VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _kid(public_key: Any) -> str:
    return jose.thumbprint(jose.public_jwk(public_key))


def _token_private_key(hsm: SoftHSM, label: str, name: str) -> Any:
    """The private key object labelled ``name``, through a session of the test's own."""
    session = hsm.session(label)
    (key,) = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: name})
    return key


# --- credential signing (ES256, CKM_ECDSA) ---------------------------------------------


def test_a_credential_signed_in_the_token_verifies_with_the_sdk_verifier(hsm_store):
    kid, public_key = hsm_store.generate(KeyKind.P256, _kid)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    now = int(time.time())
    holder = HolderKeys.generate(1)
    (credential,) = sdjwt.issue_credential_batch(
        signing_key=p256_key(hsm_store, kid),
        kid=kid,
        issuer=ISSUER,
        iat=now,
        exp=now + 3600,
        holder_jwks=holder.jwks,
        age_over={13: True, 18: True, 21: False},
        decoys=2,
    )
    (held,) = holder.bind([credential])
    jwks = {"keys": [{**jose.public_jwk(public_key), "kid": kid, "alg": "ES256", "use": "sig"}]}
    verifier = Verifier(AUDIENCE, issuer=ISSUER, jwks=jwks)
    nonce = verifier.challenge()
    proof = verifier.verify(held.present(AUDIENCE, nonce), nonce=nonce, min_age=18)
    assert proof.facts == {"age_over_18": True}


def test_the_kid_is_the_thumbprint_of_the_key_in_the_token(softhsm, hsm_store):
    kid, _ = hsm_store.generate(KeyKind.P256, _kid)
    # Read back from the token's public object by a store of its own: no cache.
    other = Pkcs11KeyStore(softhsm.module, hsm_store.token_label, softhsm.pin)
    try:
        assert _kid(other.public_key(kid)) == kid
    finally:
        other.close()
    session = softhsm.session(hsm_store.token_label)
    (public,) = session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: kid})
    point = bytes(public[Attribute.EC_POINT])[-65:]
    jwk = jose.public_jwk(ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point))
    assert jose.thumbprint(jwk) == kid


def test_es256_signatures_are_raw_r_and_s_over_sha256(hsm_store):
    kid, public_key = hsm_store.generate(KeyKind.P256, _kid)
    signature = hsm_store.sign(kid, b"signing input")
    assert len(signature) == 64
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    public_key.verify(der, b"signing input", ec.ECDSA(hashes.SHA256()))


# --- log signing (Ed25519, CKM_EDDSA) ----------------------------------------------------


def test_a_checkpoint_signed_in_the_token_verifies_with_the_note_verifier(hsm_store):
    assert hsm_store.supports_ed25519, "SoftHSM2 2.5 or later offers CKM_EDDSA"
    name, public_key = hsm_store.generate(KeyKind.ED25519, lambda key: "log-" + _kid(key))
    assert isinstance(public_key, ed25519.Ed25519PublicKey)
    signer = note.Signer(ORIGIN, ed25519_key(hsm_store, name))
    checkpoint = Checkpoint(ORIGIN, 42, hashlib.sha256(b"root").digest())
    verifier = note.Verifier(ORIGIN, public_key)
    opened, _ = open_checkpoint(checkpoint.sign(signer), ORIGIN, [verifier])
    assert opened == checkpoint


def test_a_token_without_eddsa_refuses_ed25519_keys_and_says_why(hsm_store, monkeypatch):
    monkeypatch.setattr(hsm_store, "supports_ed25519", False)
    with pytest.raises(ConfigurationError, match="offers no CKM_EDDSA.*AGEVERIFY_KEYS_DIR"):
        hsm_store.generate(KeyKind.ED25519, lambda _: "log-ed25519")


def _without_eddsa(softhsm, hsm_store, tmp_path, monkeypatch, passphrase: bytes) -> Any:
    from ageverify.crypto import pkcs11 as store_module

    # As a token without CKM_EDDSA (many HSMs before PKCS#11 3.0) would be.
    monkeypatch.setattr(
        store_module, "_ED25519_MECHANISMS", (*store_module._ED25519_MECHANISMS, "missing")
    )
    return SimpleNamespace(
        key_store="pkcs11",
        keys_dir=tmp_path / "keys",
        passphrase_bytes=passphrase,
        pkcs11_module=softhsm.module,
        pkcs11_token_label=hsm_store.token_label,
        pkcs11_pin=softhsm.pin,
    )


def test_without_eddsa_the_log_key_is_kept_in_files(softhsm, hsm_store, tmp_path, monkeypatch):
    settings = _without_eddsa(softhsm, hsm_store, tmp_path, monkeypatch, b"passphrase")
    store = open_key_store(settings)
    assert isinstance(store, LogKeyInFiles)
    name, log_key = store.generate(KeyKind.ED25519, lambda key: "log-" + _kid(key))
    kid, credential_key = store.generate(KeyKind.P256, _kid)
    # The log key is an encrypted file; the credential key is in the token.
    assert (tmp_path / "keys" / f"{name}.pem").is_file()
    assert store.files.exists(name) and not store.token.exists(name)
    assert store.token.exists(kid) and not store.files.exists(kid)
    log_key.verify(ed25519_key(store, name).sign(b"note"), b"note")
    raw = store.sign(kid, b"input")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    credential_key.verify(der, b"input", ec.ECDSA(hashes.SHA256()))


def test_without_eddsa_the_log_key_needs_the_passphrase(softhsm, hsm_store, tmp_path, monkeypatch):
    settings = _without_eddsa(softhsm, hsm_store, tmp_path, monkeypatch, b"")
    with pytest.raises(ConfigurationError, match="no CKM_EDDSA.*set AGEVERIFY_KEY_PASSPHRASE"):
        open_key_store(settings)


# --- Privacy Pass blind signing (CKM_RSA_X_509) ------------------------------------------


def _token_key_name(public_key: Any) -> str:
    return "pp-" + jose.b64url_encode(privacypass.token_key_id(public_key))


def test_a_blind_signature_of_the_token_finalizes_into_a_valid_token(hsm_store):
    name, public_key = hsm_store.generate(KeyKind.RSA2048, _token_key_name)
    assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048
    signer = blind_signer(hsm_store, name)
    msg = privacypass.authenticator_input(
        os.urandom(32), os.urandom(32), privacypass.token_key_id(public_key)
    )
    blinded = blindrsa.blind(public_key, msg)
    sig = blindrsa.finalize(public_key, msg, signer.sign(blinded.blinded_msg), blinded.inv)
    blindrsa.verify(public_key, msg, sig)


def _rfc9474_deterministic() -> dict[str, Any]:
    for raw in json.loads((VECTORS / "rfc9474-blind-rsa.json").read_text()):
        if raw["name"] == blindrsa.RSABSSA_SHA384_PSS_DETERMINISTIC:
            return raw
    raise AssertionError("the RFC 9474 vectors lack the deterministic variant")


def test_the_token_reproduces_the_rfc9474_blind_signature(softhsm, hsm_store):
    raw = _rfc9474_deterministic()
    number = {name: int(raw[name], 16) for name in ("p", "q", "e", "d")}
    p, q = number["p"], number["q"]
    key = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=number["d"],
        dmp1=rsa.rsa_crt_dmp1(number["d"], p),
        dmq1=rsa.rsa_crt_dmq1(number["d"], q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(number["e"], p * q),
    ).private_key()
    import_private_key(softhsm, hsm_store.token_label, "rfc9474", key)
    signer = blind_signer(hsm_store, "rfc9474", modulus_bits=key.key_size)
    assert signer.sign(bytes.fromhex(raw["blinded_msg"])) == bytes.fromhex(raw["blind_sig"])


def test_the_token_reproduces_the_rfc9578_token_response(softhsm, hsm_store):
    vector = json.loads((VECTORS / "rfc9578-type2-issuance.json").read_text())[0]
    key = serialization.load_pem_private_key(bytes.fromhex(vector["skS"]), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    import_private_key(softhsm, hsm_store.token_label, "rfc9578", key)
    request = privacypass.TokenRequest.decode(bytes.fromhex(vector["token_request"]))
    response = privacypass.TokenResponse(
        blind_sig=blind_signer(hsm_store, "rfc9578").sign(request.blinded_msg)
    )
    assert response.encode() == bytes.fromhex(vector["token_response"])


def test_a_wrong_result_from_the_token_is_withheld(hsm_store, monkeypatch):
    name, _ = hsm_store.generate(KeyKind.RSA2048, _token_key_name)
    signer = blind_signer(hsm_store, name)
    blinded = blindrsa.blind(signer.public_key, os.urandom(64))

    class Faulty:
        def __init__(self, key: Any) -> None:
            self.key = key

        def sign(self, data: bytes, mechanism: Any) -> bytes:
            result = bytearray(self.key.sign(data, mechanism=mechanism))
            result[-1] ^= 1
            return bytes(result)

    from ageverify.crypto import pkcs11 as store_module

    real = store_module._Session.private_key
    monkeypatch.setattr(
        store_module._Session, "private_key", lambda self, name: Faulty(real(self, name))
    )
    with pytest.raises(AgeVerifyError) as caught:
        hsm_store.rsasp1(name, blinded.blinded_msg)
    assert caught.value.code == "blind-rsa-signing-failure"
    with pytest.raises(AgeVerifyError) as caught:
        signer.sign(blinded.blinded_msg)
    assert caught.value.code == "blind-rsa-signing-failure"


def test_rsasp1_refuses_inputs_not_below_the_modulus(hsm_store):
    name, public_key = hsm_store.generate(KeyKind.RSA2048, _token_key_name)
    n = public_key.public_numbers().n
    with pytest.raises(ValueError):
        hsm_store.rsasp1(name, n.to_bytes(256, "big"))
    with pytest.raises(ValueError):
        hsm_store.rsasp1(name, b"\x01" * 255)


# --- the keys never leave the token ------------------------------------------------------


@pytest.mark.parametrize("kind", list(KeyKind), ids=lambda kind: kind.value)
def test_private_keys_are_generated_inside_sensitive_and_not_extractable(softhsm, hsm_store, kind):
    namer = _token_key_name if kind is KeyKind.RSA2048 else _kid
    name, _ = hsm_store.generate(kind, namer)
    key = _token_private_key(softhsm, hsm_store.token_label, name)
    assert key[Attribute.EXTRACTABLE] is False
    assert key[Attribute.SENSITIVE] is True
    # Generated in the token, and never anything else since.
    assert key[Attribute.LOCAL] is True
    assert key[Attribute.NEVER_EXTRACTABLE] is True
    assert key[Attribute.ALWAYS_SENSITIVE] is True
    assert key[Attribute.TOKEN] is True and key[Attribute.PRIVATE] is True
    secret = Attribute.PRIVATE_EXPONENT if kind is KeyKind.RSA2048 else Attribute.VALUE
    with pytest.raises(pkcs11.AttributeSensitive):
        key[secret]
    # Wrapping it out under a key of our choosing is refused too.
    wrapping = softhsm.session(hsm_store.token_label).generate_key(pkcs11.KeyType.AES, 256)
    with pytest.raises(pkcs11.PKCS11Error):
        wrapping.wrap_key(key, mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD)


def test_stored_key_handles_have_no_private_value(hsm_store):
    kid, _ = hsm_store.generate(KeyKind.P256, _kid)
    handle = p256_key(hsm_store, kid)
    with pytest.raises(TypeError, match="never leaves"):
        handle.private_numbers()
    with pytest.raises(TypeError, match="never leaves"):
        handle.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


# --- configuration and failures -----------------------------------------------------------


def test_a_wrong_pin_is_refused_with_a_clear_message(softhsm, hsm_token):
    with pytest.raises(
        KeyStoreError, match="refused the PIN: check AGEVERIFY_PKCS11_PIN"
    ) as caught:
        Pkcs11KeyStore(softhsm.module, hsm_token, "not-the-pin")
    assert "not-the-pin" not in str(caught.value)


def test_the_pin_stays_out_of_repr(hsm_store, softhsm):
    assert softhsm.pin not in repr(hsm_store)
    assert hsm_store.token_label in repr(hsm_store)


def test_an_unknown_token_label_is_named(softhsm):
    with pytest.raises(KeyStoreError, match="no token labelled 'no-such-token'"):
        Pkcs11KeyStore(softhsm.module, "no-such-token", softhsm.pin)


def test_a_module_that_is_not_a_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="AGEVERIFY_PKCS11_MODULE"):
        Pkcs11KeyStore(str(tmp_path / "missing.so"), "label", "pin")


def test_open_key_store_picks_the_store_the_settings_name(softhsm, hsm_store, tmp_path):
    base = {
        "keys_dir": tmp_path / "keys",
        "passphrase_bytes": b"passphrase",
        "pkcs11_module": softhsm.module,
        "pkcs11_token_label": hsm_store.token_label,
        "pkcs11_pin": softhsm.pin,
    }
    assert isinstance(open_key_store(SimpleNamespace(**base, key_store="file")), FileKeyStore)
    store = open_key_store(SimpleNamespace(**base, key_store="pkcs11"))
    assert isinstance(store, Pkcs11KeyStore) and isinstance(store, KeyStore)
    with pytest.raises(ConfigurationError, match="AGEVERIFY_KEY_STORE must be one of file, pkcs11"):
        open_key_store(SimpleNamespace(**base, key_store="vault"))


def test_deleted_keys_are_gone(hsm_store):
    kid, _ = hsm_store.generate(KeyKind.P256, _kid)
    hsm_store.sign(kid, b"cached")
    assert hsm_store.exists(kid)
    hsm_store.delete(kid)
    assert not hsm_store.exists(kid)
    with pytest.raises(KeyStoreError, match="no PKCS#11 key"):
        hsm_store.sign(kid, b"gone")
    hsm_store.delete(kid)  # a missing key is not an error


def test_a_refused_name_draws_another_key_and_leaves_nothing_behind(softhsm, hsm_token):
    store = Pkcs11KeyStore(softhsm.module, hsm_token, softhsm.pin)
    refused: list[str] = []

    def second_one(public_key: Any) -> str | None:
        if not refused:
            refused.append(_kid(public_key))
            return None
        return _kid(public_key)

    kid, _ = store.generate(KeyKind.P256, second_one)
    store.close()
    assert kid != refused[0]
    labels = [obj[Attribute.LABEL] for obj in softhsm.session(hsm_token).get_objects({})]
    assert sorted(labels) == [kid, kid]


def test_an_existing_name_is_never_replaced(hsm_store):
    kid, _ = hsm_store.generate(KeyKind.P256, _kid)
    with pytest.raises(KeyStoreError, match="already exists"):
        hsm_store.generate(KeyKind.P256, lambda _: kid)
    assert _kid(hsm_store.public_key(kid)) == kid


def test_threads_sign_at_once_on_sessions_of_their_own(hsm_store):
    kid, public_key = hsm_store.generate(KeyKind.P256, _kid)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for round_ in range(20):
                message = f"{index}-{round_}".encode()
                raw = hsm_store.sign(kid, message)
                der = encode_dss_signature(
                    int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
                )
                public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_worker_initialises_the_module_again_and_signs(hsm_store):
    # A pre-forking server (gunicorn --preload) opens the store before it forks.
    name, public_key = hsm_store.generate(KeyKind.ED25519, lambda key: "fork-" + _kid(key))
    hsm_store.sign(name, b"parent")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            public_key.verify(hsm_store.sign(name, b"child"), b"child")
        except BaseException:  # noqa: BLE001
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    public_key.verify(hsm_store.sign(name, b"parent again"), b"parent again")


# --- the issuer on the token --------------------------------------------------------------


def test_the_issuer_runs_one_issuance_on_keys_in_the_token(softhsm, hsm_token, tmp_path):
    """Credential keys, token keys and the log key generated in the token; one credential,
    one Privacy Pass token and the checkpoints covering the keys, all verified."""
    from ageverify.config import Settings
    from ageverify.demo import DemoVerifier, age_facts, register_demo_verifier
    from ageverify.issuer import Issuer, SigningKeys
    from ageverify.issuer.tokens import TokenIssuer, TokenKeys
    from ageverify.storage.db import create_schema, make_engine, session_factory
    from ageverify.translog.log import LOG_KEY_NAME, TransparencyLog

    store = Pkcs11KeyStore(softhsm.module, hsm_token, softhsm.pin)
    settings = Settings.load(
        {},
        issuer_url=ISSUER,
        key_passphrase="unused with a PKCS#11 token",  # noqa: S106 - test-only
        instance_path=tmp_path / "instance",
        keys_dir=tmp_path / "keys",
        database_url=f"sqlite:///{tmp_path / 'issuer.db'}",
        thresholds="13,18",
        keys_ahead=0,
    )
    engine = make_engine(settings.database_url)
    create_schema(engine)
    sessions = session_factory(engine)
    log = TransparencyLog(sessions, store, settings.issuer_url)
    log.attach(sessions)
    signing_keys = SigningKeys(sessions, store, settings)
    (kid,) = signing_keys.generate_ahead()
    token_keys = TokenKeys(sessions, store, settings)
    assert len(token_keys.generate_ahead()) == 2
    demo = DemoVerifier.load_or_create(tmp_path / "instance")
    register_demo_verifier(sessions, demo, now=time.time())

    # Every private key is in the token; nothing was written to the key folder.
    assert store.exists(kid) and store.exists(LOG_KEY_NAME)
    assert not (tmp_path / "keys").exists()

    issuer = Issuer(settings, sessions, signing_keys)
    holder = HolderKeys.generate(1)
    attestation = demo.attest(issuer=ISSUER, age_over=age_facts(30, settings.thresholds))
    (held,) = holder.bind(issuer.issue_credentials(attestation, holder.jwks))
    jwks = signing_keys.jwks()
    assert [key["kid"] for key in jwks["keys"]] == [kid]
    assert jose.thumbprint(jose.public_jwk(store.public_key(kid))) == kid
    verifier = Verifier(AUDIENCE, issuer=ISSUER, jwks=jwks, thresholds=settings.thresholds)
    nonce = verifier.challenge()
    assert verifier.verify(held.present(AUDIENCE, nonce), nonce=nonce, min_age=18).facts == {
        "age_over_18": True
    }

    # A Privacy Pass token for the 18+ key, signed by CKM_RSA_X_509.
    def credential_keys(now: float):
        return {k["kid"]: jose.public_key_from_jwk(k) for k in signing_keys.jwks(now)["keys"]}.get

    tokens = TokenIssuer(settings, sessions, token_keys, credential_keys)
    (key,) = [k for k in token_keys.published() if k.threshold == 18]
    public_key = privacypass.decode_pss_spki(key.spki)
    msg = privacypass.authenticator_input(
        os.urandom(32), os.urandom(32), jose.b64url_decode(key.token_key_id)
    )
    blinded = blindrsa.blind(public_key, msg)
    request = privacypass.TokenRequest(
        truncated_token_key_id=jose.b64url_decode(key.token_key_id)[-1],
        blinded_msg=blinded.blinded_msg,
    )
    issuer_nonce, _ = tokens.new_nonce()
    answer = tokens.issue(request.encode(), held.present(ISSUER, issuer_nonce))
    blind_sig = privacypass.TokenResponse.decode(answer).blind_sig
    blindrsa.verify(public_key, msg, blindrsa.finalize(public_key, msg, blind_sig, blinded.inv))

    # The log's checkpoint, signed by CKM_EDDSA, covers every key event.
    checkpoint, _ = open_checkpoint(
        log.checkpoint(), log.origin, [note.Verifier.from_vkey(log.vkey)]
    )
    assert checkpoint.size == 1 + 1 + 2 + 1  # log key, credential key, token keys, verifier
    store.close()
    engine.dispose()


# --- configuration and the whole app on the token ---------------------------------------


def _pkcs11_config(softhsm: SoftHSM, label: str, **more: Any) -> dict[str, Any]:
    return {
        "key_store": "pkcs11",
        "pkcs11_module": softhsm.module,
        "pkcs11_token_label": label,
        "pkcs11_pin": softhsm.pin,
        **more,
    }


def test_settings_name_the_pkcs11_store_and_keep_the_pin_out_of_repr(softhsm, hsm_store):
    from ageverify.config import Settings

    environ = {
        "AGEVERIFY_ISSUER_URL": ISSUER,
        "AGEVERIFY_KEY_STORE": "pkcs11",
        "AGEVERIFY_PKCS11_MODULE": softhsm.module,
        "AGEVERIFY_PKCS11_TOKEN_LABEL": hsm_store.token_label,
        "AGEVERIFY_PKCS11_PIN": softhsm.pin,
    }
    # No key passphrase: nothing is encrypted with it when the token holds the keys.
    settings = Settings.load(environ)
    assert (settings.key_store, settings.pkcs11_token_label) == ("pkcs11", hsm_store.token_label)
    assert softhsm.pin not in repr(settings)
    assert isinstance(open_key_store(settings), Pkcs11KeyStore)


def test_the_pkcs11_settings_are_required_and_named(softhsm):
    from ageverify.config import Settings

    with pytest.raises(ConfigurationError) as caught:
        Settings.load({"AGEVERIFY_ISSUER_URL": ISSUER, "AGEVERIFY_KEY_STORE": "pkcs11"})
    for name in ("AGEVERIFY_PKCS11_MODULE", "AGEVERIFY_PKCS11_TOKEN_LABEL", "AGEVERIFY_PKCS11_PIN"):
        assert name in str(caught.value)
    with pytest.raises(ConfigurationError, match="AGEVERIFY_KEY_STORE must be one of file, pkcs11"):
        Settings.load({"AGEVERIFY_ISSUER_URL": ISSUER, "AGEVERIFY_KEY_STORE": "vault"})


def test_a_wrong_pin_stops_the_app_at_start_up(softhsm, hsm_token, tmp_path):
    from ageverify import create_app
    from ageverify.config import write_dev_settings

    instance = tmp_path / "instance"
    write_dev_settings(instance)
    config = _pkcs11_config(softhsm, hsm_token, pkcs11_pin="wrong-pin")
    with pytest.raises(KeyStoreError, match="refused the PIN") as caught:
        create_app({"env": "development", "instance_path": instance, **config})
    assert "wrong-pin" not in str(caught.value)


def test_the_issuer_app_issues_credentials_and_tokens_from_the_token(softhsm, hsm_token, tmp_path):
    """``create_app`` with AGEVERIFY_KEY_STORE=pkcs11: every key generated in the token,
    issuance, presentation, a Privacy Pass token and the log, all over HTTP."""
    from ageverify import create_app
    from ageverify.config import write_dev_settings
    from ageverify.demo import DemoVerifier, age_facts, register_demo_verifier

    instance = tmp_path / "instance"
    write_dev_settings(instance)
    config = _pkcs11_config(softhsm, hsm_token, thresholds="18", keys_ahead=0)
    app = create_app({"env": "development", "instance_path": instance, **config})
    state = app.extensions["ageverify"]
    settings = state.settings
    demo = DemoVerifier.load_or_create(instance)
    register_demo_verifier(state.sessions, demo, now=time.time())
    client = app.test_client()
    try:
        # Every private key is in the token: the key folder holds no key file.
        assert not list(settings.keys_dir.glob("*.pem"))
        discovery = client.get("/.well-known/age-verification").json
        log_key = note.Verifier.from_vkey(discovery["log"]["vkey"])

        holder = HolderKeys.generate(1)
        attestation = demo.attest(
            issuer=settings.issuer_url, age_over=age_facts(30, settings.thresholds)
        )
        answer = client.post(
            "/v1/credentials", json={"attestation": attestation, "holder_keys": holder.jwks}
        )
        assert answer.status_code == 200, answer.json
        (held,) = holder.bind(answer.json["credentials"])
        jwks = client.get("/.well-known/jwks.json").json
        (jwk,) = jwks["keys"]
        assert (
            jose.thumbprint(jose.public_jwk(state.signing_keys.current().private_key))
            == (jwk["kid"])
        )
        verifier = Verifier(
            AUDIENCE, issuer=settings.issuer_url, jwks=jwks, thresholds=settings.thresholds
        )
        nonce = verifier.challenge()
        proof = verifier.verify(held.present(AUDIENCE, nonce), nonce=nonce, min_age=18)
        assert proof.facts == {"age_over_18": True}

        # A Privacy Pass token, blind-signed by CKM_RSA_X_509.
        directory = privacypass.parse_directory(
            client.get("/.well-known/private-token-issuer-directory").data
        )
        (token_key,) = directory.token_keys
        public_key = privacypass.decode_pss_spki(token_key.token_key)
        key_id = token_key.token_key_id
        msg = privacypass.authenticator_input(os.urandom(32), os.urandom(32), key_id)
        blinded = blindrsa.blind(public_key, msg)
        body = privacypass.TokenRequest(
            truncated_token_key_id=privacypass.truncated_token_key_id(key_id),
            blinded_msg=blinded.blinded_msg,
        ).encode()
        issuer_nonce = client.post("/v1/privacy-pass/nonce").json["nonce"]
        presentation = held.present(settings.issuer_url, issuer_nonce)
        response = client.post(
            "/v1/privacy-pass/token-request",
            data=body,
            headers={"Authorization": f'AgeCredential presentation="{presentation}"'},
            content_type="application/private-token-request",
        )
        assert response.status_code == 200, response.data
        blind_sig = privacypass.TokenResponse.decode(response.data).blind_sig
        sig = blindrsa.finalize(public_key, msg, blind_sig, blinded.inv)
        blindrsa.verify(public_key, msg, sig)

        # The log's checkpoint (CKM_EDDSA) verifies with the published log key.
        checkpoint, _ = open_checkpoint(
            client.get("/log/checkpoint").data, discovery["log"]["origin"], [log_key]
        )
        assert checkpoint.size >= 4
    finally:
        state.close()
