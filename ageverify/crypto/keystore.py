"""Private keys at rest: encrypted PKCS#8 PEM files, one per key, mode 0600.

A key file is named after its kid and encrypted with the deployment's
passphrase (``BestAvailableEncryption``). Files are created exclusively with
mode 0600 inside a 0700 directory, and a file that group or others could read
is refused rather than used: a leaked signing key would let anyone mint age
credentials. Private key objects returned by ``load`` stay in the signing
code (``ageverify.issuer.keys``); nothing here logs or echoes key material.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ageverify.errors import KeyStoreError

# Credential and log signing keys (P-256, Ed25519) and Privacy Pass token keys (RSA).
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
_SUFFIX = ".pem"


class FileKeyStore:
    """Encrypted private key files in ``directory``, unlocked with ``passphrase``."""

    def __init__(self, directory: str | os.PathLike[str], passphrase: bytes) -> None:
        if not isinstance(passphrase, bytes) or not 1 <= len(passphrase) <= 1023:
            raise KeyStoreError("the key passphrase must be 1 to 1023 bytes")
        self.directory = Path(directory)
        self._passphrase = passphrase

    def __repr__(self) -> str:
        return f"FileKeyStore({str(self.directory)!r})"

    def path(self, name: str) -> Path:
        """The file that holds the key called ``name`` (a kid)."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise KeyStoreError("a key name must be 1 to 100 characters of [A-Za-z0-9_-]")
        return self.directory / f"{name}{_SUFFIX}"

    def exists(self, name: str) -> bool:
        """Whether a key file called ``name`` exists."""
        return self.path(name).is_file()

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
        self.path(name).unlink(missing_ok=True)
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
