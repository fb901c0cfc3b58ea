"""Strict compact JWS and JWK handling on top of ``cryptography``.

Only what ageverify's tokens need: compact serialisation, ES256 and EdDSA
(Ed25519), and minimal public JWKs. Every decision that JOSE leaves to the
token (where the key comes from, whether the payload is encoded, which
extensions are critical) is refused here, so a token can only be checked
against a key that the caller chose by ``kid`` (RFC 8725 sections 2 and 3).

Header member names refused by :data:`FORBIDDEN_HEADER_MEMBERS` are part of
the wire format: the set is only ever added to.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ageverify.errors import AgeVerifyError
from ageverify.formats import strictjson

__all__ = [
    "ALLOWED_JWK_MEMBERS",
    "FORBIDDEN_HEADER_MEMBERS",
    "PRIVATE_JWK_MEMBERS",
    "CompactJWS",
    "JWKError",
    "PrivateKey",
    "PublicKey",
    "b64url_decode",
    "b64url_encode",
    "decode_compact",
    "es256_signer",
    "parse_compact",
    "public_jwk",
    "p256_public_key",
    "public_key_from_jwk",
    "sign",
    "sign_input",
    "thumbprint",
    "verify_parts",
    "verify_signature",
]

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

# Members that would let the token choose its own key, hide its payload
# encoding or demand extensions: never accepted, whatever the token kind.
FORBIDDEN_HEADER_MEMBERS = frozenset(
    {"crit", "jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256", "b64", "zip", "enc"}
)

# JWK members other than the key material itself that a public JWK may carry.
ALLOWED_JWK_MEMBERS = frozenset({"kid", "alg", "use", "key_ops"})

# Members that only a private (or symmetric) JWK carries.
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# bytes.translate(None, alphabet) deletes the allowed characters: what is left
# is refused. Several times faster than a regular expression over a token.
B64URL_ALPHABET = _B64URL_ALPHABET.encode("ascii")
_COMPACT_BYTES = B64URL_ALPHABET + b"."
# Text length modulo 4 -> the bits of the last character that encode nothing.
_UNUSED_BITS = (0, 0, 0b1111, 0b11)
# Byte -> the six bits a base64url character stands for (0 for any other byte).
_SEXTETS = bytes(max(B64URL_ALPHABET.find(byte), 0) for byte in range(256))
_PADDING = (b"", b"", b"==", b"=")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
# base64url to standard base64; "+", "/" and "=" (standard base64, not
# base64url) become "*", which the decoder skips like any other stranger.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/***")

# Order of the P-256 group: ECDSA signature halves must lie in [1, n - 1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_SECP256R1 = ec.SECP256R1()
# The concrete class behind every EC public key cryptography makes.
_EC_PUBLIC_KEY = type(ec.generate_private_key(_SECP256R1).public_key())

# RFC 7638 section 3.2: the members that make up each key type's thumbprint.
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
}


def b64url_encode(data: bytes) -> str:
    """Encode ``data`` as base64url without padding (RFC 7515 section 2)."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


def _decode_checked(data: bytes) -> bytes:
    """Decode canonical unpadded base64url ``data``; anything else raises ``base64url-invalid``.

    The decoder skips characters outside its alphabet (after the mapping to
    it, every character outside base64url's): then the bytes it returns are
    fewer than the text's length promises, or the padding added here for
    the whole text no longer fits. No pass over the text looks for them.
    """
    size = len(data)
    remainder = size % 4
    if remainder == 1:
        raise AgeVerifyError("base64url-invalid")
    # Non-zero unused bits decode to the same bytes as the canonical text; a
    # token whose parts have several spellings invites signature confusion.
    if remainder and _SEXTETS[data[-1]] & _UNUSED_BITS[remainder]:
        raise AgeVerifyError("base64url-invalid")
    try:
        decoded = binascii.a2b_base64(data.translate(_TO_STANDARD) + _PADDING[remainder])
    except binascii.Error:
        raise AgeVerifyError("base64url-invalid") from None
    if len(decoded) != size * 3 // 4:
        raise AgeVerifyError("base64url-invalid")
    return decoded


def b64url_decode(text: str) -> bytes:
    """Decode canonical unpadded base64url, refusing anything else.

    ``text`` may only hold ``A-Z a-z 0-9 _ -``, no padding, a length that is
    not 1 modulo 4, and unused trailing bits set to zero (so that one byte
    string has exactly one encoding). Anything else raises
    ``base64url-invalid``.
    """
    if not isinstance(text, str) or not text.isascii():
        raise AgeVerifyError("base64url-invalid")
    return _decode_checked(text.encode("ascii"))


@dataclass(frozen=True)
class CompactJWS:
    """A parsed compact JWS whose signature has not been checked yet.

    ``header`` and ``payload`` are the decoded JSON objects, ``signing_input``
    the ASCII bytes ``<header>.<payload>`` that the signature covers and
    ``signature`` the raw signature bytes.
    """

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


# Every credential of one issuer key, and every Key Binding JWT, carries the
# same header text: parse it once. Only headers of plain string and number
# members are kept, so the shallow copy handed out cannot alter the cache.
_HEADER_CACHE: dict[str, dict[str, Any]] = {}
_HEADER_CACHE_SIZE = 256


def _parse_header(part: str, data: bytes) -> dict[str, Any]:
    """The header whose text is ``part`` (``data`` its ASCII bytes)."""
    cached = _HEADER_CACHE.get(part)
    if cached is not None:
        return cached.copy()
    header = _json_object(data)
    forbidden = FORBIDDEN_HEADER_MEMBERS.intersection(header)
    if forbidden:
        raise AgeVerifyError(
            "jws-forbidden-header", f"The JOSE header carries {sorted(forbidden)[0]!r}."
        )
    if not isinstance(header.get("alg"), str):
        raise AgeVerifyError("jws-malformed", "The JOSE header needs an alg string.")
    if all(isinstance(value, str | int | float) for value in header.values()):
        if len(_HEADER_CACHE) >= _HEADER_CACHE_SIZE:
            _HEADER_CACHE.clear()
        _HEADER_CACHE[part] = header.copy()
    return header


def _json_object(part: bytes) -> dict[str, Any]:
    value = strictjson.loads(_decode_checked(part))
    if not isinstance(value, dict):
        raise AgeVerifyError("jws-malformed", "A JWS header and payload must be JSON objects.")
    return value


def parse_compact(token: str, *, max_size: int) -> CompactJWS:
    """Split and decode a compact JWS without verifying it; see :func:`decode_compact`."""
    return CompactJWS(*decode_compact(token, max_size=max_size))


def decode_compact(
    token: str, *, max_size: int
) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Split and decode a compact JWS into ``(header, payload, signing_input, signature)``.

    The tuple form of :func:`parse_compact`, for verification hot paths.

    ``token`` longer than ``max_size`` characters raises ``jws-too-large``
    before anything else is looked at. It must then be an ASCII ``str`` of
    three base64url parts separated by two dots (a five-part JWE, the JSON
    serialisation or whitespace raise ``jws-malformed``); the header and
    payload must be JSON objects. A header with any member of
    :data:`FORBIDDEN_HEADER_MEMBERS` raises ``jws-forbidden-header``; ``alg``
    must be a string. Errors in the parts' base64url or JSON keep their own
    codes.
    """
    if not isinstance(token, str):
        raise AgeVerifyError("jws-malformed")
    if len(token) > max_size:
        raise AgeVerifyError("jws-too-large")
    if not token.isascii():
        raise AgeVerifyError("jws-malformed")
    data = token.encode("ascii")
    parts = data.split(b".")
    if len(parts) != 3:
        raise AgeVerifyError("jws-malformed")
    header_part, payload_part, signature_part = parts
    header_end = len(header_part)
    try:
        header = _parse_header(token[:header_end], header_part)
        payload = _json_object(payload_part)
        signature = _decode_checked(signature_part)
    except AgeVerifyError:
        # A character outside the alphabet anywhere in the token is what is
        # reported, before whatever it broke in the part that failed.
        _check_compact_alphabet(token, data)
        raise
    return header, payload, data[: header_end + 1 + len(payload_part)], signature


def _check_compact_alphabet(token: str, data: bytes) -> None:
    """Refuse a compact JWS holding anything but base64url characters and dots.

    Whitespace raises ``jws-malformed`` (never allowed), any other character
    ``base64url-invalid``.
    """
    if data.translate(None, _COMPACT_BYTES):
        if any(c.isspace() for c in token):
            raise AgeVerifyError("jws-malformed")
        raise AgeVerifyError("base64url-invalid")


def _der_integer(value: bytes) -> bytes:
    """DER INTEGER of an unsigned big-endian number with 1 <= value < 2**256."""
    value = value.lstrip(b"\x00")
    if value[0] & 0x80:
        value = b"\x00" + value
    return b"\x02" + bytes((len(value),)) + value


def _der_signature(raw: bytes) -> bytes:
    """DER ECDSA-Sig-Value of a raw P-256 ``r || s`` whose halves are already range-checked.

    What encode_dss_signature returns, built from bytes instead of Python
    integers: both halves fit in 33 bytes, so every length is one byte.
    """
    body = _der_integer(raw[:32]) + _der_integer(raw[32:])
    return b"\x30" + bytes((len(body),)) + body


def _raw_signature(der: bytes) -> bytes:
    """Raw 64-byte ``r || s`` of a DER ECDSA P-256 signature made by OpenSSL."""
    # SEQUENCE (short length) { INTEGER r, INTEGER s }, each at most 33 bytes.
    r_length = der[3]
    s_start = 6 + r_length
    if (
        der[0] == 0x30
        and der[1] == len(der) - 2
        and der[2] == 0x02
        and der[4 + r_length] == 0x02
        and der[5 + r_length] == len(der) - s_start
        and r_length <= 33
        and len(der) - s_start <= 33
    ):
        r = der[4 : s_start - 2]
        s = der[s_start:]
        return r[-32:].rjust(32, b"\x00") + s[-32:].rjust(32, b"\x00")
    r_value, s_value = decode_dss_signature(der)
    return r_value.to_bytes(32, "big") + s_value.to_bytes(32, "big")


def verify_signature(jws: CompactJWS, key: PublicKey) -> bool:
    """Tell whether ``jws`` carries a valid signature by ``key``.

    The header's ``alg`` must match the key: ``ES256`` with a P-256 key
    (raw 64-byte ``r || s``) or ``EdDSA`` with an Ed25519 key. Any mismatch,
    other algorithm or malformed signature gives ``False``.
    """
    return verify_parts(jws.header.get("alg"), jws.signing_input, jws.signature, key)


def verify_parts(alg: Any, signing_input: bytes, signature: bytes, key: PublicKey) -> bool:
    """Tell whether ``signature`` over ``signing_input`` is valid for ``alg`` and ``key``.

    The rules of :func:`verify_signature`, on a JWS already taken apart.
    """
    if alg == "ES256":
        # The exact type first: isinstance against the abstract class costs
        # more than the rest of this function's checks together.
        if (
            type(key) is not _EC_PUBLIC_KEY and not isinstance(key, ec.EllipticCurvePublicKey)
        ) or key.curve.name != "secp256r1":
            return False
        if len(signature) != 64:
            return False
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        # r = s = 0 verifies any message in some implementations
        # (CVE-2022-21449); refuse out-of-range halves before OpenSSL sees them.
        if not (0 < r < _P256_ORDER and 0 < s < _P256_ORDER):
            return False
        try:
            key.verify(_der_signature(signature), signing_input, _ECDSA_SHA256)
        except InvalidSignature:
            return False
        return True
    if alg == "EdDSA":
        if not isinstance(key, ed25519.Ed25519PublicKey) or len(signature) != 64:
            return False
        try:
            key.verify(signature, signing_input)
        except InvalidSignature:
            return False
        return True
    return False


def sign_input(private_key: PrivateKey, signing_input: bytes) -> bytes:
    """Sign ``signing_input`` with ``private_key``; return the JWS signature bytes.

    P-256 keys give ES256 (raw 64-byte ``r || s``), Ed25519 keys give EdDSA.
    """
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.name != "secp256r1":
            raise ValueError("only P-256 EC keys sign (ES256)")
        return _raw_signature(private_key.sign(signing_input, _ECDSA_SHA256))
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(signing_input)
    raise TypeError("only P-256 and Ed25519 private keys sign")


def es256_signer(private_key: PrivateKey) -> Callable[[bytes], bytes]:
    """Return ``sign(signing_input) -> raw r || s`` for the P-256 ``private_key``.

    What :func:`sign_input` does for ES256, with the key checked once: a
    batch of credentials makes tens of signatures with one key, and the
    abstract class checks cost a microsecond per call. Any other key raises
    ``ValueError``.
    """
    if (
        not isinstance(private_key, ec.EllipticCurvePrivateKey)
        or private_key.curve.name != "secp256r1"
    ):
        raise ValueError("only P-256 EC keys sign (ES256)")
    # A key held by a key store signs raw r || s itself: no DER in between.
    sign_raw = getattr(private_key, "sign_raw", None)
    if callable(sign_raw):
        return sign_raw  # type: ignore[no-any-return]
    sign = private_key.sign

    def es256(signing_input: bytes) -> bytes:
        return _raw_signature(sign(signing_input, _ECDSA_SHA256))

    return es256


def _alg_for(private_key: PrivateKey) -> str:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return "ES256"
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise TypeError("only P-256 and Ed25519 private keys sign")


def sign(private_key: PrivateKey, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """Return the compact JWS of ``payload`` under ``header`` signed by ``private_key``.

    ``header`` must already hold the ``alg`` matching the key (``ES256`` for
    P-256, ``EdDSA`` for Ed25519) and whatever ``typ`` and ``kid`` the caller
    chose; a mismatched ``alg`` raises ``ValueError`` rather than producing a
    token nobody can verify.
    """
    if header.get("alg") != _alg_for(private_key):
        raise ValueError("header alg does not match the signing key")
    encoded = (
        b64url_encode(strictjson.dumps(header)) + "." + b64url_encode(strictjson.dumps(payload))
    )
    signature = sign_input(private_key, encoded.encode("ascii"))
    return encoded + "." + b64url_encode(signature)


class JWKError(ValueError):
    """A JWK was refused; ``reason`` says why and ``private`` whether it held private members.

    Callers map this to their own error codes (a holder key with private
    members and a bad verifier registry key are different failures).
    """

    def __init__(self, reason: str, private: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.private = private


def _coordinate(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise JWKError(f"member {name!r} must be a base64url string")
    try:
        raw = b64url_decode(value)
    except AgeVerifyError:
        raise JWKError(f"member {name!r} is not canonical base64url") from None
    if len(raw) != 32:
        raise JWKError(f"member {name!r} must encode exactly 32 bytes")
    return raw


def p256_public_key(x: Any, y: Any) -> ec.EllipticCurvePublicKey:
    """The P-256 public key with base64url coordinates ``x`` and ``y``.

    The key material of an ``EC`` / ``P-256`` JWK, without the members around
    it: a holder key arriving in a credential's ``cnf`` is built here directly.
    Each coordinate must be canonical base64url of 32 bytes and the point must
    lie on the curve, else :class:`JWKError`.
    """
    point = b"\x04" + _coordinate(x, "x") + _coordinate(y, "y")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_SECP256R1, point)
    except ValueError:
        raise JWKError("the point is not on the P-256 curve") from None


def public_key_from_jwk(
    jwk: dict[str, Any], *, kinds: tuple[str, ...] = ("EC-P-256", "OKP-Ed25519")
) -> PublicKey:
    """Build the public key described by ``jwk``, refusing anything unexpected.

    ``kinds`` lists the accepted key kinds: ``"EC-P-256"`` (``kty`` EC, ``crv``
    P-256, ``x`` and ``y`` of 32 bytes each, a point on the curve) and
    ``"OKP-Ed25519"`` (``kty`` OKP, ``crv`` Ed25519, ``x`` of 32 bytes). Besides
    the key material only ``kid``, ``alg``, ``use`` and ``key_ops`` may appear.
    Raises :class:`JWKError`, with ``private`` set when the JWK holds private
    key members.
    """
    if not isinstance(jwk, dict):
        raise JWKError("a JWK must be a JSON object")
    if not PRIVATE_JWK_MEMBERS.isdisjoint(jwk):
        raise JWKError("the JWK carries private key members", private=True)
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "EC" and crv == "P-256" and "EC-P-256" in kinds:
        extra = set(jwk) - {"kty", "crv", "x", "y"} - ALLOWED_JWK_MEMBERS
        if extra:
            raise JWKError(f"unexpected JWK member {sorted(extra)[0]!r}")
        return p256_public_key(jwk.get("x"), jwk.get("y"))
    if kty == "OKP" and crv == "Ed25519" and "OKP-Ed25519" in kinds:
        extra = set(jwk) - {"kty", "crv", "x"} - ALLOWED_JWK_MEMBERS
        if extra:
            raise JWKError(f"unexpected JWK member {sorted(extra)[0]!r}")
        return ed25519.Ed25519PublicKey.from_public_bytes(_coordinate(jwk.get("x"), "x"))
    raise JWKError(f"unsupported key type: kty={kty!r} crv={crv!r}")


def public_jwk(key: PublicKey | PrivateKey) -> dict[str, str]:
    """Return the minimal public JWK of ``key`` (a public key, or a private key's public half).

    P-256 keys give ``kty``, ``crv``, ``x``, ``y``; Ed25519 keys give ``kty``,
    ``crv``, ``x``.
    """
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        key = key.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name != "secp256r1":
            raise ValueError("only P-256 EC keys are supported")
        numbers = key.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    raise TypeError("only P-256 and Ed25519 keys are supported")


def thumbprint(jwk: dict[str, Any]) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of ``jwk``, base64url encoded.

    Only the required members of the key type take part (EC: crv, kty, x, y;
    OKP: crv, kty, x; RSA: e, kty, n), sorted and serialised without spaces.
    A JWK missing one of them raises :class:`JWKError`.
    """
    kty = jwk.get("kty")
    # A kty that is no string (a JSON array or object) cannot be looked up: unhashable.
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise JWKError(f"no thumbprint for kty={jwk.get('kty')!r}")
    required = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise JWKError(f"member {name!r} is required for a thumbprint")
        required[name] = value
    return b64url_encode(hashlib.sha256(strictjson.canonical(required)).digest())
