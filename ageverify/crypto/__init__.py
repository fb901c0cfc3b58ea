"""Key material: the key stores and blind RSA. Private keys never leave this package.

:class:`KeyStore` is the interface every private key operation of the issuer
goes through; :class:`FileKeyStore` keeps keys in encrypted files, and
``ageverify.crypto.pkcs11.Pkcs11KeyStore`` in a PKCS#11 token (imported on
demand: python-pkcs11 is needed only there). ``ageverify.crypto.keystores``
opens the one the settings name.
"""

from __future__ import annotations

from ageverify.crypto.keystore import (
    FileKeyStore,
    GeneratedKey,
    KeyKind,
    KeyStore,
    PrivateKey,
    PublicKey,
)

__all__ = ["FileKeyStore", "GeneratedKey", "KeyKind", "KeyStore", "PrivateKey", "PublicKey"]
