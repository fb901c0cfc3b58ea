"""Fixtures of the crypto tests: SoftHSM2 tokens for the PKCS#11 store (tests/softhsm.py)."""

from __future__ import annotations

from softhsm import hsm_store, hsm_token, softhsm

__all__ = ["hsm_store", "hsm_token", "softhsm"]
