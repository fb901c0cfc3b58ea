"""Wallets: where a holder keeps its secret, its private keys and its credentials.

A wallet holds a random 32-byte secret (which picks the credential shown to
each audience without storing audiences), the private holder keys as JWKs,
and each credential with the thumbprint of the key it is bound to, its issuer
and its expiry. :class:`MemoryWallet` keeps them for a process's lifetime;
:class:`FileWallet` in one JSON file readable by its owner only.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import ec

from ageverify.errors import AgeVerifyError, KeyStoreError
from ageverify.formats import jose, strictjson

__all__ = [
    "FileWallet",
    "HeldCredential",
    "MemoryWallet",
    "Wallet",
    "holder_key_from_jwk",
    "private_holder_jwk",
]

WALLET_FORMAT = 1
SECRET_BYTES = 32


@dataclass(frozen=True)
class HeldCredential:
    """A credential in a wallet.

    ``credential`` is the SD-JWT as issued (``<jwt>~<disclosure>~...~``),
    ``key_thumbprint`` the RFC 7638 thumbprint of the holder key it is bound
    to, ``issuer`` its ``iss``, ``exp`` its expiry and ``batch`` the id shared
    by the credentials issued together.
    """

    credential: str
    key_thumbprint: str
    issuer: str
    exp: int
    batch: str


def private_holder_jwk(private_key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """Return the private JWK (``kty``, ``crv``, ``x``, ``y``, ``d``) of a P-256 holder key."""
    jwk = jose.public_jwk(private_key)
    jwk["d"] = jose.b64url_encode(private_key.private_numbers().private_value.to_bytes(32, "big"))
    return jwk


def holder_key_from_jwk(jwk: dict[str, Any]) -> ec.EllipticCurvePrivateKey:
    """Rebuild a P-256 holder private key from its JWK, checking ``x`` and ``y`` match ``d``."""
    d = jwk.get("d")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or not isinstance(d, str):
        raise KeyStoreError("a holder key in the wallet is not a P-256 private JWK")
    try:
        raw = jose.b64url_decode(d)
    except AgeVerifyError:
        raise KeyStoreError("a holder key in the wallet is not canonical base64url") from None
    try:
        key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except ValueError:
        raise KeyStoreError("a holder key in the wallet is out of range") from None
    public = jose.public_jwk(key)
    if len(raw) != 32 or public["x"] != jwk.get("x") or public["y"] != jwk.get("y"):
        raise KeyStoreError("a holder key in the wallet does not match its public half")
    return key


@runtime_checkable
class Wallet(Protocol):
    """What a :class:`~ageverify.sdk.Holder` needs from its storage."""

    def secret(self) -> bytes:
        """Return the wallet's 32-byte secret, creating it on first use."""
        ...

    def add_keys(self, private_jwks: Iterable[dict[str, str]]) -> None:
        """Keep the private holder keys ``private_jwks``, indexed by their thumbprints."""
        ...

    def key(self, thumbprint: str) -> dict[str, str] | None:
        """Return the private JWK whose thumbprint is ``thumbprint``, or ``None``."""
        ...

    def add_credentials(self, credentials: Iterable[HeldCredential]) -> None:
        """Keep ``credentials``, each bound to a key already in the wallet."""
        ...

    def credentials(self) -> list[HeldCredential]:
        """Return every held credential, oldest first."""
        ...

    def remove_expired(self, now: float) -> int:
        """Drop credentials expired at ``now`` and keys no credential uses; return how many."""
        ...


class MemoryWallet:
    """A :class:`Wallet` in memory, gone when the process ends. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._secret: bytes | None = None
        self._keys: dict[str, dict[str, str]] = {}
        self._credentials: list[HeldCredential] = []

    def secret(self) -> bytes:
        """Return the wallet's 32-byte secret, creating it on first use."""
        with self._lock:
            if self._secret is None:
                self._secret = os.urandom(SECRET_BYTES)
                self._changed()
            return self._secret

    def add_keys(self, private_jwks: Iterable[dict[str, str]]) -> None:
        """Keep the private holder keys ``private_jwks``, indexed by their thumbprints."""
        with self._lock:
            for jwk in private_jwks:
                if "d" not in jwk:
                    raise ValueError("a holder key must be a private JWK")
                self._keys[jose.thumbprint(jwk)] = dict(jwk)
            self._changed()

    def key(self, thumbprint: str) -> dict[str, str] | None:
        """Return the private JWK whose thumbprint is ``thumbprint``, or ``None``."""
        with self._lock:
            jwk = self._keys.get(thumbprint)
            return None if jwk is None else dict(jwk)

    def add_credentials(self, credentials: Iterable[HeldCredential]) -> None:
        """Keep ``credentials``; each must be bound to a key already in the wallet."""
        with self._lock:
            new = list(credentials)
            for held in new:
                if held.key_thumbprint not in self._keys:
                    raise ValueError("a credential is bound to a key this wallet does not hold")
            self._credentials.extend(new)
            self._changed()

    def credentials(self) -> list[HeldCredential]:
        """Return every held credential, oldest first."""
        with self._lock:
            return list(self._credentials)

    def remove_expired(self, now: float) -> int:
        """Drop credentials expired at ``now`` and the keys they alone used; return how many."""
        with self._lock:
            kept = [held for held in self._credentials if held.exp > now]
            removed = len(self._credentials) - len(kept)
            if removed:
                self._credentials = kept
                used = {held.key_thumbprint for held in kept}
                self._keys = {t: jwk for t, jwk in self._keys.items() if t in used}
                self._changed()
            return removed

    def _changed(self) -> None:
        """Called with the lock held after every change; a subclass persists here."""


class FileWallet(MemoryWallet):
    """A :class:`Wallet` kept in the JSON file ``path``, readable by its owner only.

    The file holds private keys unencrypted, so it is created with mode
    0600 and a file that others can read or write is refused
    (:class:`~ageverify.errors.KeyStoreError`). Every change rewrites it
    atomically: a new file is written beside it and renamed over it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(path)
        self._loading = True
        try:
            if self.path.exists():
                self._load()
        finally:
            self._loading = False

    def _load(self) -> None:
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise KeyStoreError(
                    f"{self.path} holds private keys and is accessible to others; "
                    f"run: chmod 600 {self.path}"
                )
            raw = file.read()
        try:
            data = strictjson.loads(raw)
            if not isinstance(data, dict) or data.get("format") != WALLET_FORMAT:
                raise ValueError("unknown wallet format")
            secret = jose.b64url_decode(data["secret"]) if data.get("secret") else None
            keys = {jose.thumbprint(jwk): jwk for jwk in data["keys"]}
            credentials = [HeldCredential(**record) for record in data["credentials"]]
        except (AgeVerifyError, ValueError, KeyError, TypeError, jose.JWKError) as error:
            raise KeyStoreError(f"{self.path} is not a readable wallet file") from error
        if secret is not None and len(secret) != SECRET_BYTES:
            raise KeyStoreError(f"{self.path} holds a secret of the wrong size")
        self._secret = secret
        self._keys = keys
        self._credentials = credentials

    def _changed(self) -> None:
        if self._loading:
            return
        data = {
            "format": WALLET_FORMAT,
            "secret": None if self._secret is None else jose.b64url_encode(self._secret),
            "keys": list(self._keys.values()),
            "credentials": [asdict(held) for held in self._credentials],
        }
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        # Created 0600 from the start: never a moment when others could read the keys.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(strictjson.dumps(data))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise
