"""Choosing the key store from the settings: files (the default) or a PKCS#11 token.

``AGEVERIFY_KEY_STORE=file`` keeps every private key encrypted under
``AGEVERIFY_KEYS_DIR`` with ``AGEVERIFY_KEY_PASSPHRASE``;
``AGEVERIFY_KEY_STORE=pkcs11`` generates and keeps them in the token labelled
``AGEVERIFY_PKCS11_TOKEN_LABEL`` of the module ``AGEVERIFY_PKCS11_MODULE``,
logged in with ``AGEVERIFY_PKCS11_PIN``. python-pkcs11 is imported only for
the second.

A token without Ed25519 (``CKM_EDDSA``, PKCS#11 3.0) still holds the
credential and Privacy Pass keys; the transparency log's Ed25519 key is then
kept encrypted under ``AGEVERIFY_KEYS_DIR`` (:class:`LogKeyInFiles`), which
needs ``AGEVERIFY_KEY_PASSPHRASE``, and the start-up log says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ageverify.crypto.keystore import (
    FileKeyStore,
    GeneratedKey,
    KeyKind,
    KeyStore,
    NameFor,
    PrivateKey,
    PublicKey,
)
from ageverify.errors import ConfigurationError

__all__ = ["KEY_STORES", "KeyStoreSettings", "LogKeyInFiles", "open_key_store"]

log = logging.getLogger("ageverify.keys")

KEY_STORES = ("file", "pkcs11")


class KeyStoreSettings(Protocol):
    """The settings :func:`open_key_store` reads (``ageverify.config.Settings`` has them)."""

    @property
    def key_store(self) -> str: ...

    @property
    def keys_dir(self) -> Path: ...

    @property
    def passphrase_bytes(self) -> bytes: ...

    @property
    def pkcs11_module(self) -> str: ...

    @property
    def pkcs11_token_label(self) -> str: ...

    @property
    def pkcs11_pin(self) -> str: ...


def open_key_store(settings: KeyStoreSettings) -> KeyStore:
    """The key store ``settings`` ask for: ``key_store`` is ``file`` (default) or ``pkcs11``.

    The PKCS#11 store reads ``pkcs11_module``, ``pkcs11_token_label`` and
    ``pkcs11_pin``; it opens the token and logs in here, so a wrong module,
    label or PIN stops the issuer at start-up. Raises ``ConfigurationError``
    for an unknown store or python-pkcs11 missing, ``KeyStoreError`` for a
    token that is absent or refuses the PIN.
    """
    kind = settings.key_store
    if kind == "file":
        return FileKeyStore(settings.keys_dir, settings.passphrase_bytes)
    if kind != "pkcs11":
        raise ConfigurationError(
            f"AGEVERIFY_KEY_STORE must be one of {', '.join(KEY_STORES)}, not {kind!r}"
        )
    try:
        from ageverify.crypto.pkcs11 import Pkcs11KeyStore
    except ImportError:
        raise ConfigurationError(
            "AGEVERIFY_KEY_STORE=pkcs11 needs python-pkcs11: "
            "pip install 'python-pkcs11>=0.10.1,<0.11'"
        ) from None
    token = Pkcs11KeyStore(
        module=settings.pkcs11_module,
        token_label=settings.pkcs11_token_label,
        pin=settings.pkcs11_pin,
    )
    if token.supports_ed25519:
        return token
    if not settings.passphrase_bytes:
        raise ConfigurationError(
            f"the PKCS#11 token {settings.pkcs11_token_label!r} offers no CKM_EDDSA (Ed25519), "
            "so the transparency log key is kept encrypted in AGEVERIFY_KEYS_DIR "
            f"({settings.keys_dir}): set AGEVERIFY_KEY_PASSPHRASE to encrypt it, or use a "
            "token with Ed25519 (PKCS#11 3.0; SoftHSM2 2.5 or later)"
        )
    log.warning(
        "the PKCS#11 token %r offers no CKM_EDDSA: the transparency log key is kept "
        "encrypted in %s, the other keys in the token",
        settings.pkcs11_token_label,
        settings.keys_dir,
    )
    return LogKeyInFiles(token, FileKeyStore(settings.keys_dir, settings.passphrase_bytes))


class LogKeyInFiles:
    """A token's key store whose Ed25519 keys (the log key) live in ``files`` instead.

    For tokens without ``CKM_EDDSA``: Ed25519 keys are generated in and
    used from ``files``; every other key from ``token``. A name is looked
    up in ``files`` first.
    """

    def __init__(self, token: KeyStore, files: FileKeyStore) -> None:
        self.token = token
        self.files = files

    def __repr__(self) -> str:
        return f"LogKeyInFiles({self.token!r}, {self.files!r})"

    def _store(self, name: str) -> KeyStore:
        return self.files if self.files.exists(name) else self.token

    def generate(
        self,
        kind: KeyKind,
        name_for: NameFor,
        *,
        new_key: Callable[[], PrivateKey] | None = None,
    ) -> GeneratedKey:
        """Ed25519 keys in the files, the others in the token; see :meth:`KeyStore.generate`."""
        store: KeyStore = self.files if kind is KeyKind.ED25519 else self.token
        return store.generate(kind, name_for, new_key=new_key)

    def exists(self, name: str) -> bool:
        """Whether either store holds a key called ``name``."""
        return self.files.exists(name) or self.token.exists(name)

    def public_key(self, name: str) -> PublicKey:
        """The public key of ``name``, from the store that holds it."""
        return self._store(name).public_key(name)

    def sign(self, name: str, message: bytes) -> bytes:
        """Sign with ``name`` in the store that holds it."""
        return self._store(name).sign(name, message)

    def rsasp1(self, name: str, message: bytes) -> bytes:
        """RSASP1 with ``name`` in the store that holds it (the token)."""
        return self._store(name).rsasp1(name, message)

    def delete(self, name: str) -> None:
        """Delete ``name`` from both stores."""
        self.files.delete(name)
        self.token.delete(name)

    def describe(self, name: str) -> str:
        """Where ``name`` lives (the token's description for a key in neither)."""
        return self._store(name).describe(name)
