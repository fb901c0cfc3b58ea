"""RSA blind signatures, RFC 9474: RSABSSA-SHA384-PSS-Deterministic and -Randomized.

Privacy Pass token type 0x0002 (RFC 9578) uses RSABSSA-SHA384-PSS-Deterministic:
the holder's wallet blinds a token input, the issuer signs it without seeing
it, and the wallet unblinds the answer into an ordinary RSASSA-PSS signature
(SHA-384, MGF1 with SHA-384, 48-byte salt) that any platform checks offline.

The two sides are kept apart:

- holder (client): :func:`prepare`, :func:`blind`, :func:`finalize`;
- issuer (server): :class:`BlindSigner` (or :func:`blind_sign` for one call);
- anyone: :func:`verify`.

The two variants differ only in :func:`prepare`: the randomized one puts 32
random bytes in front of the message, and that prepared message is what is
blinded, finalized and verified. The salt-free ``PSSZERO`` variants of RFC 9474
are deliberately not offered.

The signer runs the raw private operation in the system's OpenSSL where it can
(:mod:`ageverify.crypto.openssl_rsa`), else on the private key numbers with
constant-time exponentiation (``gmpy2.powmod_sec``) under CRT and a fresh
random blinding factor; either way it checks every signature before it leaves
(see :class:`BlindSigner`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import NamedTuple

import gmpy2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from gmpy2 import mpz, powmod, powmod_sec

from ageverify.crypto import openssl_rsa
from ageverify.errors import AgeVerifyError, IssuanceError, VerificationError

__all__ = [
    "MIN_MODULUS_BITS",
    "PREFIX_LENGTH",
    "RSABSSA_SHA384_PSS_DETERMINISTIC",
    "RSABSSA_SHA384_PSS_RANDOMIZED",
    "SALT_LENGTH",
    "BlindSigner",
    "Blinded",
    "Gmpy2PrivateOperation",
    "PrivateOperation",
    "RandomBytes",
    "blind",
    "blind_sign",
    "emsa_pss_encode",
    "finalize",
    "prepare",
    "private_operation",
    "verify",
]

RSABSSA_SHA384_PSS_DETERMINISTIC = "RSABSSA-SHA384-PSS-Deterministic"
RSABSSA_SHA384_PSS_RANDOMIZED = "RSABSSA-SHA384-PSS-Randomized"

# RFC 9474 section 5: both PSS variants use a salt as long as the SHA-384 digest.
SALT_LENGTH = 48
# RFC 9474 section 4.1: the randomized variant's message prefix.
PREFIX_LENGTH = 32
# RFC 9474 section 6.2 asks for at least 2048-bit moduli; Privacy Pass type 2 uses exactly that.
MIN_MODULUS_BITS = 2048

_HASH_LENGTH = 48
# Built once: these objects are immutable and verification is on every token's path.
_SHA384 = hashes.SHA384()
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=SALT_LENGTH)

RandomBytes = Callable[[int], bytes]
"""A source of random bytes: called with a length, returns that many bytes."""


class Blinded(NamedTuple):
    """What :func:`blind` returns: ``blinded_msg`` for the issuer, ``inv`` kept by the holder.

    ``inv`` unblinds the issuer's answer in :func:`finalize`. It is the secret
    that keeps the token unlinkable to its issuance: it never leaves the
    holder, and is used for one message only.
    """

    blinded_msg: bytes
    inv: int


def prepare(msg: bytes, randomized: bool, *, rng: RandomBytes | None = None) -> bytes:
    """Prepare ``msg`` for blinding (RFC 9474 section 4.1).

    With ``randomized`` false (RSABSSA-SHA384-PSS-Deterministic, the Privacy
    Pass variant) ``msg`` is returned unchanged; otherwise 32 random bytes from
    ``rng`` (by default the operating system's generator) are put in front of
    it. The result is the message that :func:`blind`, :func:`finalize` and
    :func:`verify` take.
    """
    if not randomized:
        return msg
    prefix = (rng or secrets.token_bytes)(PREFIX_LENGTH)
    if len(prefix) != PREFIX_LENGTH:
        raise ValueError("rng returned the wrong number of bytes")
    return prefix + msg


def emsa_pss_encode(msg: bytes, em_bits: int, salt: bytes) -> bytes:
    """EMSA-PSS-ENCODE (RFC 8017 section 9.1.1) of ``msg`` with SHA-384, MGF1-SHA-384 and ``salt``.

    ``em_bits`` is the bit length of the encoded message: one less than the
    modulus's for RSASSA-PSS. The salt is an argument so that the RFC's test
    vectors can be reproduced; :func:`blind` draws a fresh one.
    """
    em_len = (em_bits + 7) // 8
    if em_len < _HASH_LENGTH + len(salt) + 2:
        raise ValueError("the modulus is too short for EMSA-PSS with SHA-384")
    m_hash = hashlib.sha384(msg).digest()
    h = hashlib.sha384(b"\x00" * 8 + m_hash + salt).digest()
    db_len = em_len - _HASH_LENGTH - 1
    db = b"\x00" * (db_len - len(salt) - 1) + b"\x01" + salt
    masked = int.from_bytes(db, "big") ^ int.from_bytes(_mgf1_sha384(h, db_len), "big")
    # Clearing the leftmost bits keeps the encoded integer below the modulus.
    masked &= (1 << (8 * db_len - (8 * em_len - em_bits))) - 1
    return masked.to_bytes(db_len, "big") + h + b"\xbc"


def blind(public_key: rsa.RSAPublicKey, msg: bytes, *, rng: RandomBytes | None = None) -> Blinded:
    """Blind the prepared message ``msg`` for the issuer's ``public_key`` (RFC 9474 section 4.2).

    ``rng`` (by default the operating system's generator) supplies first the
    48-byte PSS salt, then the blinding factor r, drawn uniformly from [1, n)
    by rejection sampling. Returns the blinded message, as long as the modulus,
    and ``inv``, the inverse of r modulo n.

    Raises ``blind-rsa-unsupported-key`` for a modulus under 2048 bits,
    ``blind-rsa-invalid-input`` if the encoded message shares a factor with n
    and ``blind-rsa-blinding-error`` if r has no inverse (either would mean
    that n has been factored).
    """
    n, e, length = _public_numbers(public_key)
    draw = rng or secrets.token_bytes
    salt = draw(SALT_LENGTH)
    if len(salt) != SALT_LENGTH:
        raise ValueError("rng returned the wrong number of bytes")
    encoded = emsa_pss_encode(msg, n.bit_length() - 1, salt)
    m = mpz.from_bytes(encoded, "big")
    if gmpy2.gcd(m, n) != 1:
        raise AgeVerifyError("blind-rsa-invalid-input")
    r = _random_below(n, length, draw)
    try:
        inv = gmpy2.invert(r, n)
    except ZeroDivisionError:
        raise AgeVerifyError("blind-rsa-blinding-error") from None
    # r is what makes this token unlinkable: exponentiate it in constant time
    # too. n is odd, as powmod_sec requires, and a wallet signs few messages.
    z = m * powmod_sec(r, e, n) % n
    return Blinded(z.to_bytes(length, "big"), int(inv))


def finalize(public_key: rsa.RSAPublicKey, msg: bytes, blind_sig: bytes, inv: int) -> bytes:
    """Unblind the issuer's ``blind_sig`` with ``inv`` into a signature on ``msg`` (RFC 9474 §4.4).

    ``msg`` is the prepared message that was blinded, ``inv`` what :func:`blind`
    returned with it. The signature is verified as RSASSA-PSS before it is
    returned, so a wrong or malicious answer from the issuer never becomes a
    token. Raises ``blind-rsa-blind-signature-length`` if ``blind_sig`` is not
    as long as the modulus and ``blind-rsa-invalid-signature`` if the result
    does not verify.
    """
    n, _, length = _public_numbers(public_key)
    if len(blind_sig) != length:
        raise VerificationError("blind-rsa-blind-signature-length")
    s = mpz.from_bytes(blind_sig, "big") * inv % n
    sig = s.to_bytes(length, "big")
    verify(public_key, msg, sig)
    return sig


def verify(public_key: rsa.RSAPublicKey, msg: bytes, sig: bytes) -> None:
    """Check ``sig``, an RSASSA-PSS signature on ``msg`` under ``public_key`` (RFC 9474 §4.5).

    SHA-384, MGF1 with SHA-384 and a salt of exactly 48 bytes; ``sig`` must be
    exactly as long as the modulus. Returns nothing; raises
    ``blind-rsa-invalid-signature`` (or ``blind-rsa-unsupported-key``).
    """
    _require_supported(public_key.key_size)
    # OpenSSL accepts a signature shorter than the modulus as if left-padded;
    # a token has one encoding only.
    if len(sig) != (public_key.key_size + 7) // 8:
        raise VerificationError("blind-rsa-invalid-signature")
    try:
        public_key.verify(sig, msg, _PSS, _SHA384)
    except InvalidSignature:
        raise VerificationError("blind-rsa-invalid-signature") from None


PrivateOperation = Callable[[bytes], bytes]
"""RSASP1 for one private key: a message as long as the modulus (its integer below n) -> m^d mod n.

Both are big-endian byte strings exactly as long as the modulus. A failure
raises ``RuntimeError`` (or the ``AgeVerifyError`` of a key store) without
details.
"""


class Gmpy2PrivateOperation:
    """RSASP1 computed here with gmpy2: CRT with constant-time halves, the input blinded.

    The message is first multiplied by r^e for a fresh random r, so that
    nothing the client chose reaches the arithmetic on p and q (the
    exponentiations are constant time, but the reductions modulo p and q
    and the CRT recombination are plain GMP, whose running time follows its
    operands: a client steering ``m mod q`` could otherwise time its way to
    q, Brumley and Boneh 2003); the two halves are computed with
    ``gmpy2.powmod_sec`` and recombined (Garner). The caller checks the
    result against the public exponent.
    """

    __slots__ = ("_d_p", "_d_q", "_e", "_length", "_n", "_p", "_q", "_q_inv")

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        numbers = private_key.private_numbers()
        public = numbers.public_numbers
        self._n = mpz(public.n)
        self._e = mpz(public.e)
        self._length = (public.n.bit_length() + 7) // 8
        self._p = mpz(numbers.p)
        self._q = mpz(numbers.q)
        self._d_p = mpz(numbers.dmp1)
        self._d_q = mpz(numbers.dmq1)
        self._q_inv = mpz(numbers.iqmp)

    def __call__(self, message: bytes) -> bytes:
        n = self._n
        m = mpz.from_bytes(message, "big")
        r, r_inv = self._blinding_pair()
        # r^e with the public exponent: a few multiplications, and r is used once.
        c = m * powmod(r, self._e, n) % n
        p, q = self._p, self._q
        s_p = powmod_sec(c % p, self._d_p, p)
        s_q = powmod_sec(c % q, self._d_q, q)
        s = (s_q + (s_p - s_q) * self._q_inv % p * q) * r_inv % n
        return bytes(s.to_bytes(self._length, "big"))

    def _blinding_pair(self) -> tuple[mpz, mpz]:
        """A uniformly random unit r of Z/nZ and its inverse."""
        n = self._n
        while True:
            r = mpz(secrets.randbelow(n - 1) + 1)
            try:
                return r, gmpy2.invert(r, n)
            except ZeroDivisionError:
                # r shares a factor with n: impossible in practice (about 2^-1023).
                continue


def private_operation(
    private_key: rsa.RSAPrivateKey, backend: str = "auto"
) -> tuple[PrivateOperation, str]:
    """RSASP1 for ``private_key`` in memory, and the name of the backend that computes it.

    ``backend`` is ``"auto"`` (OpenSSL where libcrypto 3 loads, else gmpy2),
    ``"openssl"`` (libcrypto or ``RuntimeError``) or ``"gmpy2"``. The result
    is not checked here: :class:`BlindSigner` and the key stores check it.
    """
    if backend not in ("auto", "openssl", "gmpy2"):
        raise ValueError("backend is 'auto', 'openssl' or 'gmpy2'")
    openssl = None if backend == "gmpy2" else openssl_rsa.load(private_key)
    if backend == "openssl" and openssl is None:
        raise RuntimeError("libcrypto 3 is not available on this system")
    if openssl is None:
        return Gmpy2PrivateOperation(private_key), "gmpy2"
    return openssl, "openssl"


class BlindSigner:
    """The issuer's side of RFC 9474: RSASP1 on blinded messages, for one private key.

    Each signature:

    - refuses a blinded message that is not exactly as long as the modulus
      (``blind-rsa-blinded-message-length``) or whose integer is not below n
      (``blind-rsa-blinded-message-range``);
    - computes m^d mod n. With ``backend="openssl"`` (the default where the
      system's libcrypto 3 loads) OpenSSL does it as for TLS: CRT with
      constant-time exponentiation and its own base blinding. With
      ``backend="gmpy2"`` it is done here (:class:`Gmpy2PrivateOperation`).
      A signer made with :meth:`with_operation` hands the message to a key
      store instead (a PKCS#11 token computes it with ``CKM_RSA_X_509``);
    - checks s^e = m (mod n) and raises ``blind-rsa-signing-failure`` instead
      of returning a wrong signature: one faulty CRT half would reveal a factor
      of n to the client (Boneh, DeMillo and Lipton, 1997).

    OpenSSL signs about twice as fast as gmpy2 on the same machine, which is
    why it is preferred. The object holds no mutable state; one instance
    serves any number of threads.
    """

    __slots__ = ("_e", "_length", "_n", "_operation", "backend", "public_key")

    def __init__(self, private_key: rsa.RSAPrivateKey, *, backend: str = "auto") -> None:
        """Prepare to sign with ``private_key``, an RSA key of at least 2048 bits.

        ``backend`` is ``"auto"`` (OpenSSL where libcrypto 3 loads, else
        gmpy2), ``"openssl"`` (libcrypto or ``RuntimeError``) or ``"gmpy2"``.
        A shorter key is a configuration fault, refused with ``ValueError``.
        """
        if backend not in ("auto", "openssl", "gmpy2"):
            raise ValueError("backend is 'auto', 'openssl' or 'gmpy2'")
        _require_signing_size(private_key.key_size)
        operation, name = private_operation(private_key, backend)
        self._setup(private_key.public_key(), operation, name)

    @classmethod
    def with_operation(
        cls, public_key: rsa.RSAPublicKey, operation: PrivateOperation, *, backend: str
    ) -> BlindSigner:
        """A signer for the key whose public half is ``public_key``, computing with ``operation``.

        ``operation`` is the key's RSASP1 held elsewhere (a key store);
        ``backend`` names it. Every result is still checked against
        ``public_key`` before it is returned. A key under 2048 bits raises
        ``ValueError``.
        """
        _require_signing_size(public_key.key_size)
        signer = cls.__new__(cls)
        signer._setup(public_key, operation, backend)
        return signer

    def _setup(
        self, public_key: rsa.RSAPublicKey, operation: PrivateOperation, backend: str
    ) -> None:
        public = public_key.public_numbers()
        self.public_key: rsa.RSAPublicKey = public_key
        """The public half of the key: what holders blind for and tokens verify under."""
        self._n = mpz(public.n)
        self._e = mpz(public.e)
        self._length = (public.n.bit_length() + 7) // 8
        self._operation = operation
        self.backend = backend
        """Which implementation computes the private operation."""

    def sign(self, blinded_msg: bytes) -> bytes:
        """Sign ``blinded_msg`` (RFC 9474 section 4.3) and return the blind signature.

        The result is as long as the modulus. Raises ``IssuanceError`` with
        ``blind-rsa-blinded-message-length`` or ``blind-rsa-blinded-message-range``
        for a message the client got wrong, and ``AgeVerifyError`` with
        ``blind-rsa-signing-failure`` if the signature failed its own check.
        """
        if len(blinded_msg) != self._length:
            raise IssuanceError("blind-rsa-blinded-message-length")
        n = self._n
        m = mpz.from_bytes(blinded_msg, "big")
        if m >= n:
            raise IssuanceError("blind-rsa-blinded-message-range")
        try:
            result = self._operation(blinded_msg)
        except RuntimeError:
            raise AgeVerifyError("blind-rsa-signing-failure") from None
        if len(result) != self._length:
            raise AgeVerifyError("blind-rsa-signing-failure")
        s = mpz.from_bytes(result, "big")
        if powmod(s, self._e, n) != m:
            raise AgeVerifyError("blind-rsa-signing-failure")
        return bytes(result)


def blind_sign(private_key: rsa.RSAPrivateKey, blinded_msg: bytes) -> bytes:
    """Sign ``blinded_msg`` with ``private_key`` once; see :meth:`BlindSigner.sign`.

    An issuer signing many messages keeps one :class:`BlindSigner` per key
    instead, which reads the private numbers once.
    """
    return BlindSigner(private_key).sign(blinded_msg)


def _mgf1_sha384(seed: bytes, length: int) -> bytes:
    """MGF1 (RFC 8017 appendix B.2.1) with SHA-384."""
    blocks = -(-length // _HASH_LENGTH)
    stream = b"".join(
        hashlib.sha384(seed + counter.to_bytes(4, "big")).digest() for counter in range(blocks)
    )
    return stream[:length]


def _require_signing_size(modulus_bits: int) -> None:
    # A signing key too short is a configuration fault, not the caller's input.
    if modulus_bits < MIN_MODULUS_BITS:
        raise ValueError(f"blind signing keys need a modulus of at least {MIN_MODULUS_BITS} bits")


def _require_supported(modulus_bits: int) -> None:
    if modulus_bits < MIN_MODULUS_BITS:
        raise AgeVerifyError("blind-rsa-unsupported-key")


def _public_numbers(public_key: rsa.RSAPublicKey) -> tuple[mpz, mpz, int]:
    """n, e and the modulus length in bytes of a supported ``public_key``."""
    numbers = public_key.public_numbers()
    _require_supported(numbers.n.bit_length())
    return mpz(numbers.n), mpz(numbers.e), (numbers.n.bit_length() + 7) // 8


def _random_below(n: mpz, length: int, draw: RandomBytes) -> mpz:
    """RFC 9474's random_integer_uniform(1, n): rejection sampling from ``draw``."""
    # Masking to the bit length of n keeps rejections under one in two.
    mask = (1 << n.bit_length()) - 1
    while True:
        candidate = draw(length)
        if len(candidate) != length:
            raise ValueError("rng returned the wrong number of bytes")
        value = mpz.from_bytes(candidate, "big") & mask
        if 0 < value < n:
            return value
