"""Issuing age credentials and Privacy Pass tokens: attestation intake, credential signing,
keys, verifier registry, blind token issuance.

Nothing here knows about HTTP: the web layer and the command line call these
functions with plain values.
"""

from __future__ import annotations

from ageverify.issuer.keys import CurrentKey, SigningKeys
from ageverify.issuer.service import Issuer
from ageverify.issuer.tokens import TokenIssuer, TokenKeys
from ageverify.issuer.verifiers import VerifierKeyRecord, VerifierRecord

__all__ = [
    "CurrentKey",
    "Issuer",
    "SigningKeys",
    "TokenIssuer",
    "TokenKeys",
    "VerifierKeyRecord",
    "VerifierRecord",
]
