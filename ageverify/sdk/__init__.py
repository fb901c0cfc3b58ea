"""What a platform and a wallet need: :class:`Verifier` and :class:`Holder`.

The SDK works offline and needs no database: a platform verifies
presentations with the issuer's cached keys and a nonce store, and Privacy
Pass tokens with a :class:`TokenVerifier` and a double-spend store; a wallet
keeps its keys and credentials in a :class:`Wallet`.
"""

from __future__ import annotations

from ageverify.errors import VerificationError
from ageverify.sdk.holder import Holder
from ageverify.sdk.stores import (
    MemoryNonceStore,
    MemorySpentTokens,
    NonceStore,
    RedisNonceStore,
    RedisSpentTokens,
    SpentTokens,
)
from ageverify.sdk.tokens import TokenClient, TokenKey, TokenProof, TokenVerifier
from ageverify.sdk.verifier import AgeProof, Verifier
from ageverify.sdk.wallet import FileWallet, HeldCredential, MemoryWallet, Wallet

__all__ = [
    "AgeProof",
    "FileWallet",
    "HeldCredential",
    "Holder",
    "MemoryNonceStore",
    "MemorySpentTokens",
    "MemoryWallet",
    "NonceStore",
    "RedisNonceStore",
    "RedisSpentTokens",
    "SpentTokens",
    "TokenClient",
    "TokenKey",
    "TokenProof",
    "TokenVerifier",
    "VerificationError",
    "Verifier",
    "Wallet",
]
