"""Encrypted key files: modes, refusal of readable files, wrong passphrase, names; the
KeyStore interface of the file store (generate, sign, RSASP1, delete)."""

from __future__ import annotations

import os
import stat
import sys
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ageverify.crypto import FileKeyStore
from ageverify.crypto.keystore import KeyKind, KeyStore
from ageverify.crypto.keystores import open_key_store
from ageverify.crypto.stored_keys import blind_signer, ed25519_key, p256_key
from ageverify.errors import AgeVerifyError, ConfigurationError, KeyStoreError

PASSPHRASE = b"test passphrase for the key store"


@pytest.fixture
def store(tmp_path):
    return FileKeyStore(tmp_path / "keys", PASSPHRASE)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_save_and_load_round_trip(store):
    key = ec.generate_private_key(ec.SECP256R1())
    store.save("kid-1", key)
    loaded = store.load("kid-1")
    assert loaded.private_numbers() == key.private_numbers()
    assert store.exists("kid-1")


def test_ed25519_keys_round_trip(store):
    key = ed25519.Ed25519PrivateKey.generate()
    store.save("ed", key)
    assert store.load("ed").public_key() == key.public_key()


def test_rsa_token_keys_round_trip(store):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    store.save("pp-token", key)
    loaded = store.load("pp-token")
    assert isinstance(loaded, rsa.RSAPrivateKey)
    assert loaded.private_numbers() == key.private_numbers()


def test_files_are_0600_in_a_0700_directory(store):
    store.save("kid", ec.generate_private_key(ec.SECP256R1()))
    assert _mode(store.directory) == 0o700
    assert _mode(store.path("kid")) == 0o600
    assert os.listdir(store.directory) == ["kid.pem"]  # no temporary file left


def test_file_is_encrypted_pkcs8(store):
    store.save("kid", ec.generate_private_key(ec.SECP256R1()))
    assert store.path("kid").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_readable_by_others_is_refused(store, mode):
    store.save("kid", ec.generate_private_key(ec.SECP256R1()))
    os.chmod(store.path("kid"), mode)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        store.load("kid")


def test_wrong_passphrase_is_refused_without_details(store, tmp_path):
    store.save("kid", ec.generate_private_key(ec.SECP256R1()))
    other = FileKeyStore(store.directory, b"another passphrase")
    with pytest.raises(KeyStoreError, match="wrong passphrase") as caught:
        other.load("kid")
    assert PASSPHRASE.decode() not in str(caught.value)
    assert caught.value.__cause__ is None


def test_existing_key_is_never_replaced(store):
    first = ec.generate_private_key(ec.SECP256R1())
    store.save("kid", first)
    with pytest.raises(KeyStoreError, match="already exists"):
        store.save("kid", ec.generate_private_key(ec.SECP256R1()))
    assert store.load("kid").private_numbers() == first.private_numbers()


def test_missing_key(store):
    with pytest.raises(KeyStoreError, match="no key file"):
        store.load("absent")


def test_symlink_is_refused(store, tmp_path):
    store.save("real", ec.generate_private_key(ec.SECP256R1()))
    os.symlink(store.path("real"), store.path("link"))
    with pytest.raises(KeyStoreError):
        store.load("link")


def test_delete(store):
    store.save("kid", ec.generate_private_key(ec.SECP256R1()))
    store.delete("kid")
    assert not store.exists("kid")
    store.delete("kid")  # deleting twice is harmless


@pytest.mark.parametrize("name", ["", "../escape", "a/b", "a.pem", "x" * 101, "kid\n", "ké"])
def test_names_are_validated(store, name):
    with pytest.raises(KeyStoreError, match="key name"):
        store.path(name)


@pytest.mark.parametrize("passphrase", [b"", "text", b"x" * 1024])
def test_passphrase_must_be_usable(tmp_path, passphrase):
    with pytest.raises(KeyStoreError):
        FileKeyStore(tmp_path, passphrase)


def test_repr_does_not_show_the_passphrase(store):
    assert PASSPHRASE.decode() not in repr(store)


# --- the KeyStore interface ------------------------------------------------------------


def _named(prefix: str):
    def name_for(public_key) -> str:
        return prefix + str(abs(hash(public_key.public_bytes(*_SPKI))) % 10**12)

    return name_for


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_the_file_store_is_a_key_store(store):
    assert isinstance(store, KeyStore)
    assert store.describe("kid") == f"key file {store.path('kid')}"


def test_generated_p256_keys_sign_es256_as_raw_r_and_s(store):
    name, public_key = store.generate(KeyKind.P256, _named("ec-"))
    assert store.exists(name) and store.public_key(name) == public_key
    raw = store.sign(name, b"input")
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public_key.verify(der, b"input", ec.ECDSA(hashes.SHA256()))
    # On disk as before: an encrypted PKCS#8 file, mode 0600.
    assert store.path(name).read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert _mode(store.path(name)) == 0o600


def test_generated_ed25519_keys_sign(store):
    name, public_key = store.generate(KeyKind.ED25519, lambda _: "log-ed25519")
    public_key.verify(store.sign(name, b"note"), b"note")
    assert isinstance(store.load(name), ed25519.Ed25519PrivateKey)


def test_generated_rsa_keys_compute_rsasp1_and_do_not_sign(store):
    name, public_key = store.generate(KeyKind.RSA2048, _named("pp-"))
    numbers = public_key.public_numbers()
    assert (public_key.key_size, numbers.e) == (2048, 65537)
    message = (12345).to_bytes(256, "big")
    s = int.from_bytes(store.rsasp1(name, message), "big")
    assert pow(s, numbers.e, numbers.n) == 12345
    with pytest.raises(KeyStoreError, match="no P-256 or Ed25519"):
        store.sign(name, b"input")
    with pytest.raises(ValueError):
        store.rsasp1(name, numbers.n.to_bytes(256, "big"))


def test_a_faulty_rsasp1_result_is_withheld(store, monkeypatch):
    name, _ = store.generate(KeyKind.RSA2048, _named("pp-"))
    loaded = store._key(name)
    correct = loaded.operation

    def faulty(message: bytes) -> bytes:
        result = bytearray(correct(message))
        result[0] ^= 1
        return bytes(result)

    monkeypatch.setattr(loaded, "operation", faulty)
    with pytest.raises(AgeVerifyError) as caught:
        store.rsasp1(name, (7).to_bytes(256, "big"))
    assert caught.value.code == "blind-rsa-signing-failure"


def test_a_name_refused_draws_another_key(store):
    drawn: list[object] = []

    def second(public_key) -> str | None:
        drawn.append(public_key)
        return None if len(drawn) == 1 else "second"

    name, public_key = store.generate(KeyKind.P256, second)
    assert name == "second" and public_key == drawn[1] != drawn[0]
    assert sorted(p.name for p in store.directory.iterdir()) == ["second.pem"]


def test_a_new_key_of_another_kind_is_refused(store):
    with pytest.raises(KeyStoreError, match="kind"):
        store.generate(KeyKind.RSA2048, _named("pp-"), new_key=ed25519.Ed25519PrivateKey.generate)


def test_deleting_forgets_the_decrypted_key(store):
    name, _ = store.generate(KeyKind.P256, _named("ec-"))
    store.sign(name, b"cached now")
    store.delete(name)
    with pytest.raises(KeyStoreError, match="no key file"):
        store.sign(name, b"gone")


def test_stored_handles_sign_through_the_store_and_check_the_kind(store):
    name, public_key = store.generate(KeyKind.P256, _named("ec-"))
    handle = p256_key(store, name)
    assert isinstance(handle, ec.EllipticCurvePrivateKey)
    public_key.verify(handle.sign(b"x", ec.ECDSA(hashes.SHA256())), b"x", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(ValueError, match="SHA-256"):
        handle.sign(b"x", ec.ECDSA(hashes.SHA384()))
    with pytest.raises(KeyStoreError, match="does not hold an Ed25519 key"):
        ed25519_key(store, name)
    with pytest.raises(KeyStoreError, match="does not hold an RSA-2048 key"):
        blind_signer(store, name)


def test_open_key_store_opens_the_file_store_by_default(tmp_path):
    settings = SimpleNamespace(
        key_store="file",
        keys_dir=tmp_path / "keys",
        passphrase_bytes=PASSPHRASE,
        pkcs11_module="",
        pkcs11_token_label="",
        pkcs11_pin="",
    )
    store = open_key_store(settings)
    assert isinstance(store, FileKeyStore) and store.directory == tmp_path / "keys"


def test_the_pkcs11_store_without_python_pkcs11_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pkcs11", None)
    monkeypatch.delitem(sys.modules, "ageverify.crypto.pkcs11", raising=False)
    settings = SimpleNamespace(
        key_store="pkcs11",
        keys_dir=tmp_path / "keys",
        passphrase_bytes=PASSPHRASE,
        pkcs11_module="/usr/lib/softhsm/libsofthsm2.so",
        pkcs11_token_label="issuer",  # noqa: S106 - a label, not a secret
        pkcs11_pin="1234",
    )
    with pytest.raises(ConfigurationError, match="pip install 'python-pkcs11"):
        open_key_store(settings)
