"""Encrypted key files: modes, refusal of readable files, wrong passphrase, names."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ageverify.crypto import FileKeyStore
from ageverify.errors import KeyStoreError

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
