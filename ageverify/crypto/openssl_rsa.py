"""RSASP1 (the raw RSA private operation) through the system's OpenSSL 3 libcrypto.

RFC 9474's BlindSign is RSASP1 on a message the client blinded: no padding.
``cryptography`` offers RSA only with padding, so the raw operation is called
here in libcrypto itself (``EVP_PKEY_decrypt`` with ``RSA_NO_PADDING``), the
code path TLS servers run: CRT with constant-time Montgomery exponentiation,
base blinding, and a check of the CRT result against the public exponent that
falls back to a non-CRT computation rather than release a faulty value.

libcrypto is loaded with ``ctypes``; where it cannot be (another platform),
:func:`load` returns ``None`` and :class:`~ageverify.crypto.blindrsa.BlindSigner`
computes with ``gmpy2`` instead. Either way the caller still checks every
signature before it leaves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import weakref
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["OpenSSLPrivateOperation", "load"]

_RSA_NO_PADDING = 3  # openssl/rsa.h


@cache
def _libcrypto() -> ctypes.CDLL | None:
    """libcrypto 3 with the prototypes used here, or None if it cannot be loaded."""
    for name in ("libcrypto.so.3", ctypes.util.find_library("crypto")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            if lib.OpenSSL_version_num() >> 28 < 3:
                continue  # EVP_PKEY_CTX_set_rsa_padding is a function from 3.0 on
        except (OSError, AttributeError):
            continue
        voidp, sizep = ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)
        lib.d2i_AutoPrivateKey.restype = voidp
        lib.d2i_AutoPrivateKey.argtypes = [voidp, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]
        lib.EVP_PKEY_free.argtypes = [voidp]
        lib.EVP_PKEY_CTX_new.restype = voidp
        lib.EVP_PKEY_CTX_new.argtypes = [voidp, voidp]
        lib.EVP_PKEY_CTX_free.argtypes = [voidp]
        lib.EVP_PKEY_decrypt_init.argtypes = [voidp]
        lib.EVP_PKEY_CTX_set_rsa_padding.argtypes = [voidp, ctypes.c_int]
        lib.EVP_PKEY_decrypt.argtypes = [
            voidp,
            ctypes.c_char_p,
            sizep,
            ctypes.c_char_p,
            ctypes.c_size_t,
        ]
        lib.ERR_clear_error.argtypes = []
        return lib
    return None


class OpenSSLPrivateOperation:
    """RSASP1 with one private key held by libcrypto: ``operation(m) -> m^d mod n``.

    ``m`` and the result are big-endian byte strings exactly as long as the
    modulus; ``m`` must already be known to be below n. Each thread uses its
    own ``EVP_PKEY_CTX``, so one object serves any number of threads. A
    failure inside libcrypto raises ``RuntimeError`` without details.
    """

    __slots__ = ("__weakref__", "_contexts", "_length", "_lib", "_pkey")

    def __init__(self, lib: ctypes.CDLL, private_key: rsa.RSAPrivateKey) -> None:
        der = private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        cursor = ctypes.c_char_p(der)
        pkey = lib.d2i_AutoPrivateKey(None, ctypes.byref(cursor), len(der))
        if not pkey:
            lib.ERR_clear_error()
            raise RuntimeError("libcrypto could not read the RSA key")
        self._lib = lib
        self._pkey = pkey
        self._length = (private_key.key_size + 7) // 8
        self._contexts = threading.local()
        weakref.finalize(self, lib.EVP_PKEY_free, pkey)

    def __call__(self, message: bytes) -> bytes:
        lib = self._lib
        ctx = lib.EVP_PKEY_CTX_new(self._pkey, None)
        if not ctx:
            raise RuntimeError("libcrypto could not allocate a context")
        try:
            out = ctypes.create_string_buffer(self._length)
            out_length = ctypes.c_size_t(self._length)
            if (
                lib.EVP_PKEY_decrypt_init(ctx) != 1
                or lib.EVP_PKEY_CTX_set_rsa_padding(ctx, _RSA_NO_PADDING) != 1
                or lib.EVP_PKEY_decrypt(ctx, out, ctypes.byref(out_length), message, len(message))
                != 1
                or out_length.value != self._length
            ):
                lib.ERR_clear_error()
                raise RuntimeError("libcrypto refused the RSA private operation")
            return out.raw
        finally:
            lib.EVP_PKEY_CTX_free(ctx)


def load(private_key: rsa.RSAPrivateKey) -> OpenSSLPrivateOperation | None:
    """RSASP1 for ``private_key`` in libcrypto, or None where libcrypto 3 is not available."""
    lib = _libcrypto()
    if lib is None:
        return None
    return OpenSSLPrivateOperation(lib, private_key)
