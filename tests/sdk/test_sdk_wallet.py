"""Wallets: the secret, private keys, credentials; the file wallet's permissions and atomicity."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sdk_vectors import ISSUER, NOW

from ageverify.errors import KeyStoreError
from ageverify.formats import jose
from ageverify.sdk import FileWallet, HeldCredential, MemoryWallet, Wallet
from ageverify.sdk.wallet import holder_key_from_jwk, private_holder_jwk


def private_jwk() -> dict[str, str]:
    return private_holder_jwk(ec.generate_private_key(ec.SECP256R1()))


def fill(wallet: MemoryWallet) -> HeldCredential:
    jwk = private_jwk()
    wallet.add_keys([jwk])
    held = HeldCredential("jwt~d~", jose.thumbprint(jwk), ISSUER, NOW + 100, "batch-1")
    wallet.add_credentials([held])
    return held


def test_wallets_satisfy_the_protocol(tmp_path: Path) -> None:
    assert isinstance(MemoryWallet(), Wallet)
    assert isinstance(FileWallet(tmp_path / "w.json"), Wallet)


def test_secret_is_32_random_bytes_and_stable() -> None:
    wallet = MemoryWallet()
    assert len(wallet.secret()) == 32
    assert wallet.secret() == wallet.secret()
    assert MemoryWallet().secret() != wallet.secret()


def test_private_jwk_round_trip() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = private_holder_jwk(key)
    assert set(jwk) == {"kty", "crv", "x", "y", "d"}
    assert holder_key_from_jwk(jwk).private_numbers() == key.private_numbers()


@pytest.mark.parametrize(
    "change",
    [{"d": "AAAA"}, {"d": 5}, {"x": jose.b64url_encode(bytes(32))}, {"crv": "P-384"}, {"d": "A+"}],
)
def test_holder_key_from_a_broken_jwk(change: dict) -> None:
    with pytest.raises(KeyStoreError):
        holder_key_from_jwk({**private_jwk(), **change})


def test_credentials_need_their_key() -> None:
    wallet = MemoryWallet()
    with pytest.raises(ValueError):
        wallet.add_credentials([HeldCredential("c", "unknown", ISSUER, NOW, "b")])
    with pytest.raises(ValueError):
        wallet.add_keys([jose.public_jwk(ec.generate_private_key(ec.SECP256R1()))])


def test_remove_expired_drops_credentials_and_their_keys() -> None:
    wallet = MemoryWallet()
    held = fill(wallet)
    assert wallet.remove_expired(NOW) == 0
    assert wallet.remove_expired(NOW + 100) == 1
    assert wallet.credentials() == []
    assert wallet.key(held.key_thumbprint) is None


def test_file_wallet_is_created_0600_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "wallet.json"
    wallet = FileWallet(path)
    secret = wallet.secret()
    held = fill(wallet)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reloaded = FileWallet(path)
    assert reloaded.secret() == secret
    assert reloaded.credentials() == [held]
    assert reloaded.key(held.key_thumbprint) == wallet.key(held.key_thumbprint)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wallet.json"]


def test_file_wallet_stays_0600_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "wallet.json"
        fill(FileWallet(path))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_file_wallet_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "wallet.json"
    fill(FileWallet(path))
    path.chmod(mode)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        FileWallet(path)


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        b'{"format":2}',
        b'{"format":1,"secret":null,"keys":[{"kty":"EC"}],"credentials":[]}',
        b'{"format":1,"secret":"AAAA","keys":[],"credentials":[]}',
        b'{"format":1,"secret":null,"keys":[],"credentials":[{"credential":"x"}]}',
        b'{"format":1,"format":1}',
    ],
)
def test_corrupt_file_wallet_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "wallet.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content)
    os.close(fd)
    with pytest.raises(KeyStoreError):
        FileWallet(path)


def test_file_wallet_content(tmp_path: Path) -> None:
    path = tmp_path / "wallet.json"
    wallet = FileWallet(path)
    held = fill(wallet)
    data = json.loads(path.read_bytes())
    assert data["format"] == 1
    assert data["credentials"] == [
        {
            "credential": "jwt~d~",
            "key_thumbprint": held.key_thumbprint,
            "issuer": ISSUER,
            "exp": NOW + 100,
            "batch": "batch-1",
        }
    ]
    assert "d" in data["keys"][0]
