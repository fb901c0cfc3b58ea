"""Key material at rest. Private key objects never leave this package and the signing code."""

from __future__ import annotations

from ageverify.crypto.keystore import FileKeyStore, PrivateKey

__all__ = ["FileKeyStore", "PrivateKey"]
