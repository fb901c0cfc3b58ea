"""The key store interface, and private keys at rest in encrypted PKCS#8 files.

:class:`KeyStore` is what the issuer's code asks for every private key
operation: generate a key of a :class:`KeyKind` under a name computed from
its public key, sign (ES256 as raw ``r || s``, Ed25519), the raw RSA private
operation of RFC 9474 blind signing (RSASP1), public key export, delete,
exists. Two stores implement it: :class:`FileKeyStore` below and
:class:`ageverify.crypto.pkcs11.Pkcs11KeyStore` (keys generated in a
hardware token, never leaving it). ``ageverify.crypto.keystores`` picks one
from the settings.

:class:`FileKeyStore` keeps one encrypted PEM file per key. A key file is
named after its key's name (a kid) and encrypted with the deployment's
passphrase (``BestAvailableEncryption``). Files are created exclusively with
mode 0600 inside a 0700 directory, and a file that group or others could read
is refused rather than used: a leaked signing key would let anyone mint age
credentials. Decrypted keys stay in the store, which signs with them;
nothing here logs or echoes key material.
"""

from __future__ import annotations

import enum
import os
import re
import secrets
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ageverify.crypto import blindrsa
from ageverify.errors import AgeVerifyError, KeyStoreError

__all__ = [
    "FileKeyStore",
    "GeneratedKey",
    "KeyKind",
    "KeyStore",
    "NameFor",
    "PrivateKey",
    "PublicKey",
    "check_rsasp1",
    "der_to_raw",
    "kind_of",
    "raw_to_der",
]

# Credential and log signing keys (P-256, Ed25519) and Privacy Pass token keys (RSA).
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

NameFor = Callable[[PublicKey], str | None]
"""Names a freshly generated key from its public key; ``None`` asks for another key."""

# RSA token keys: the Privacy Pass type 2 modulus and the usual public exponent.
RSA_BITS = 2048
RSA_PUBLIC_EXPONENT = 65537
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class KeyKind(enum.Enum):
    """The kinds of private key the issuer holds, each with the one use it is put to."""

    P256 = "P-256"
    """ES256 credential signing keys: :meth:`KeyStore.sign` gives raw ``r || s``."""
    ED25519 = "Ed25519"
    """The transparency log's note signing key: :meth:`KeyStore.sign` gives 64 bytes."""
    RSA2048 = "RSA-2048"
    """Privacy Pass token keys (e = 65537): :meth:`KeyStore.rsasp1` only."""


class GeneratedKey(NamedTuple):
    """A key :meth:`KeyStore.generate` made: its ``name`` in the store and its ``public_key``."""

    name: str
    public_key: PublicKey


@runtime_checkable
class KeyStore(Protocol):
    """Where the issuer's private keys live, and the only code that touches them.

    Keys are known by a name of 1 to 100 characters of ``[A-Za-z0-9_-]``
    (a kid, ``pp-<token key id>``, ``log-ed25519``). Every method raises
    ``KeyStoreError`` for a key that is missing or unusable, with a message
    that says where it was looked for and never anything secret.
    """

    def generate(
        self,
        kind: KeyKind,
        name_for: NameFor,
        *,
        new_key: Callable[[], PrivateKey] | None = None,
    ) -> GeneratedKey:
        """Generate a key of ``kind`` and store it under ``name_for(public_key)``.

        Key ids are computed from keys, so the name is known only once the
        key exists; ``name_for`` returning ``None`` throws the key away and
        draws another (a truncated id already taken). An existing key of that
        name is never replaced. ``new_key`` makes the private key for stores
        that generate in software (the file store), by default a fresh key
        of ``kind``; a hardware store generates inside the device and does
        not call it.
        """
        ...

    def exists(self, name: str) -> bool:
        """Whether a key called ``name`` exists."""
        ...

    def public_key(self, name: str) -> PublicKey:
        """The public half of the key called ``name``."""
        ...

    def sign(self, name: str, message: bytes) -> bytes:
        """Sign ``message`` with the P-256 (ES256, raw ``r || s``) or Ed25519 key ``name``."""
        ...

    def rsasp1(self, name: str, message: bytes) -> bytes:
        """RSASP1 (m^d mod n, no padding) with the RSA key ``name``, checked before it is returned.

        Only keys of 2048 bits or more (RFC 9474 section 6.2) compute it.

        ``message`` is exactly as long as the modulus and its integer below
        n (``ValueError`` otherwise); the result is as long. A result that
        fails s^e = m raises ``blind-rsa-signing-failure``.
        """
        ...

    def delete(self, name: str) -> None:
        """Destroy the key called ``name``; a missing key is not an error."""
        ...

    def describe(self, name: str) -> str:
        """Where the key called ``name`` lives, for messages (a path, a token object)."""
        ...


def kind_of(public_key: PublicKey) -> KeyKind | None:
    """The :class:`KeyKind` of ``public_key``, or None for a key the issuer does not use."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return KeyKind.P256 if public_key.curve.name == "secp256r1" else None
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return KeyKind.ED25519
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        if public_key.key_size == RSA_BITS and numbers.e == RSA_PUBLIC_EXPONENT:
            return KeyKind.RSA2048
    return None


def der_to_raw(der: bytes) -> bytes:
    """The raw 64-byte ``r || s`` of a DER ECDSA P-256 signature.

    Parsed by hand: a batch of credentials makes tens of signatures, and the
    general ASN.1 decoder costs several microseconds each.
    """
    # SEQUENCE (short length) { INTEGER r, INTEGER s }, each at most 33 bytes.
    if len(der) >= 8 and der[0] == 0x30 and der[1] == len(der) - 2 and der[2] == 0x02:
        r_length = der[3]
        s_at = 4 + r_length
        if r_length <= 33 and s_at + 2 <= len(der) and der[s_at] == 0x02:
            s_length = der[s_at + 1]
            if s_length <= 33 and s_at + 2 + s_length == len(der):
                r = der[4:s_at].lstrip(b"\x00")
                s = der[s_at + 2 :].lstrip(b"\x00")
                if len(r) <= 32 and len(s) <= 32:
                    return r.rjust(32, b"\x00") + s.rjust(32, b"\x00")
    r_int, s_int = decode_dss_signature(der)
    return r_int.to_bytes(32, "big") + s_int.to_bytes(32, "big")


def raw_to_der(raw: bytes) -> bytes:
    """The DER ECDSA signature of the raw 64-byte P-256 ``r || s``."""
    if len(raw) != 64:
        raise ValueError("a raw P-256 signature is 64 bytes")
    parts = b""
    for half in (raw[:32], raw[32:]):
        # Minimal, non-negative INTEGER: no leading zeros, a zero before a high bit.
        value = half.lstrip(b"\x00") or b"\x00"
        if value[0] & 0x80:
            value = b"\x00" + value
        parts += b"\x02" + bytes((len(value),)) + value
    return b"\x30" + bytes((len(parts),)) + parts


def check_rsasp1(public_key: rsa.RSAPublicKey, message: bytes, result: bytes) -> bytes:
    """Return ``result`` if it is RSASP1 of ``message`` under ``public_key``.

    Raises ``blind-rsa-signing-failure`` otherwise: a faulty private
    operation (one wrong CRT half) would hand the client a factor of n
    (Boneh, DeMillo and Lipton, 1997).
    """
    numbers = public_key.public_numbers()
    length = (numbers.n.bit_length() + 7) // 8
    if len(result) != length or pow(
        int.from_bytes(result, "big"), numbers.e, numbers.n
    ) != int.from_bytes(message, "big"):
        raise AgeVerifyError("blind-rsa-signing-failure")
    return result


def check_rsasp1_input(public_key: rsa.RSAPublicKey, message: bytes) -> None:
    """Refuse (``ValueError``) a message not as long as the modulus or not below n."""
    numbers = public_key.public_numbers()
    if len(message) != (numbers.n.bit_length() + 7) // 8:
        raise ValueError("an RSASP1 input is exactly as long as the modulus")
    if int.from_bytes(message, "big") >= numbers.n:
        raise ValueError("an RSASP1 input is below the modulus")


def new_private_key(kind: KeyKind) -> PrivateKey:
    """A fresh private key of ``kind``, made in this process (the file store's keys)."""
    if kind is KeyKind.P256:
        return ec.generate_private_key(ec.SECP256R1())
    if kind is KeyKind.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=RSA_BITS)


class _Loaded:
    """A decrypted key of the file store and what signing with it needs, built once."""

    __slots__ = ("kind", "operation", "private_key", "public_key")

    def __init__(self, private_key: PrivateKey) -> None:
        self.private_key = private_key
        self.public_key: PublicKey = private_key.public_key()
        self.kind = kind_of(self.public_key)
        self.operation: blindrsa.PrivateOperation | None = None
        if (
            isinstance(private_key, rsa.RSAPrivateKey)
            and private_key.key_size >= blindrsa.MIN_MODULUS_BITS
        ):
            self.operation, _ = blindrsa.private_operation(private_key)


_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
_SUFFIX = ".pem"


class FileKeyStore:
    """Encrypted private key files in ``directory``, unlocked with ``passphrase``."""

    def __init__(self, directory: str | os.PathLike[str], passphrase: bytes) -> None:
        if not isinstance(passphrase, bytes) or not 1 <= len(passphrase) <= 1023:
            raise KeyStoreError("the key passphrase must be 1 to 1023 bytes")
        self.directory = Path(directory)
        self._passphrase = passphrase
        # Decrypting costs milliseconds (key derivation): each key once per process.
        self._loaded: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FileKeyStore({str(self.directory)!r})"

    def path(self, name: str) -> Path:
        """The file that holds the key called ``name`` (a kid)."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise KeyStoreError("a key name must be 1 to 100 characters of [A-Za-z0-9_-]")
        return self.directory / f"{name}{_SUFFIX}"

    def describe(self, name: str) -> str:
        """``key file <path>``: where the key called ``name`` lives, for messages."""
        return f"key file {self.path(name)}"

    def exists(self, name: str) -> bool:
        """Whether a key file called ``name`` exists."""
        return self.path(name).is_file()

    def generate(
        self,
        kind: KeyKind,
        name_for: NameFor,
        *,
        new_key: Callable[[], PrivateKey] | None = None,
    ) -> GeneratedKey:
        """Make a key of ``kind`` with ``new_key`` (default: a fresh one) and save it.

        See :meth:`KeyStore.generate`. A key ``new_key`` returns that is not
        of ``kind`` raises ``KeyStoreError``.
        """
        while True:
            private_key = new_key() if new_key is not None else new_private_key(kind)
            public_key = private_key.public_key()
            if kind_of(public_key) is not kind:
                raise KeyStoreError(f"a new key is not of the kind asked for ({kind.value})")
            name = name_for(public_key)
            if name is not None:
                break
        self.save(name, private_key)
        return GeneratedKey(name, public_key)

    def public_key(self, name: str) -> PublicKey:
        """The public half of the key file ``name`` (decrypted once per process)."""
        return self._key(name).public_key

    def sign(self, name: str, message: bytes) -> bytes:
        """ES256 (raw ``r || s``) or Ed25519 signature of ``message`` by the key file ``name``."""
        loaded = self._key(name)
        key = loaded.private_key
        if loaded.kind is KeyKind.P256 and isinstance(key, ec.EllipticCurvePrivateKey):
            return der_to_raw(key.sign(message, _ECDSA_SHA256))
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(message)
        raise KeyStoreError(f"{self.describe(name)} holds no P-256 or Ed25519 signing key")

    def rsasp1(self, name: str, message: bytes) -> bytes:
        """RSASP1 with the RSA key file ``name`` (2048 bits or more); see :meth:`KeyStore.rsasp1`.

        OpenSSL computes it where libcrypto 3 loads, gmpy2 elsewhere
        (:func:`ageverify.crypto.blindrsa.private_operation`).
        """
        loaded = self._key(name)
        if loaded.operation is None or not isinstance(loaded.public_key, rsa.RSAPublicKey):
            raise KeyStoreError(f"{self.describe(name)} holds no RSA key of 2048 bits or more")
        check_rsasp1_input(loaded.public_key, message)
        try:
            result = loaded.operation(message)
        except RuntimeError:
            raise AgeVerifyError("blind-rsa-signing-failure") from None
        return check_rsasp1(loaded.public_key, message, result)

    def _key(self, name: str) -> _Loaded:
        loaded = self._loaded.get(name)
        if loaded is None:
            with self._lock:
                loaded = self._loaded.get(name)
                if loaded is None:
                    loaded = _Loaded(self.load(name))
                    self._loaded[name] = loaded
        return loaded

    def save(self, name: str, private_key: PrivateKey) -> None:
        """Encrypt ``private_key`` and write it as ``name``; an existing key is never replaced."""
        target = self.path(name)
        pem = private_key.private_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PrivateFormat.PKCS8,
            encryption_algorithm=serialization.BestAvailableEncryption(self._passphrase),
        )
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Write a temporary file, then hard-link it into place: the key appears
        # complete or not at all, and link() fails rather than overwrite.
        temporary = self.directory / f".{name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, target)
            except FileExistsError:
                raise KeyStoreError(f"a key file named {name} already exists") from None
        finally:
            temporary.unlink(missing_ok=True)
        _fsync_directory(self.directory)

    def load(self, name: str) -> PrivateKey:
        """Read and decrypt the key called ``name``.

        Raises ``KeyStoreError`` when the file is missing, is not a regular
        file, can be read by group or others, or does not decrypt with the
        passphrase.
        """
        path = self.path(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise KeyStoreError(f"no key file {path}") from None
        except OSError as exc:
            raise KeyStoreError(f"cannot open key file {path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise KeyStoreError(f"key file {path} is not a regular file")
            if info.st_mode & 0o077:
                raise KeyStoreError(
                    f"key file {path} is accessible by group or others "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
                )
            data = handle.read()
        try:
            key = serialization.load_pem_private_key(data, password=self._passphrase)
        except (ValueError, TypeError):
            # Deliberately vague: say nothing about the key or the passphrase.
            raise KeyStoreError(
                f"key file {path} cannot be decrypted: wrong passphrase or damaged file"
            ) from None
        if not isinstance(
            key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
        ):
            raise KeyStoreError(f"key file {path} holds an unsupported key type")
        return key

    def delete(self, name: str) -> None:
        """Remove the key file called ``name``; a missing file is not an error."""
        path = self.path(name)
        with self._lock:
            self._loaded.pop(name, None)
        path.unlink(missing_ok=True)
        _fsync_directory(self.directory)


def _fsync_directory(directory: Path) -> None:
    # Make the new or removed directory entry durable as well as the file.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
