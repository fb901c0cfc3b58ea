"""Privacy Pass wire format for token type 0x0002 (RFC 9577, RFC 9578 section 6).

Token type 0x0002 is "Blind RSA (2048-bit)": tokens are RSABSSA-SHA384-PSS-
Deterministic signatures that anyone holding the issuer's public key can
check. This module only encodes and decodes; the blind signature arithmetic
lives in :mod:`ageverify.crypto.blindrsa`.

Binary structures (TLS presentation language, network byte order):

* :class:`TokenChallenge` -- what a platform asks for (RFC 9577 section 2.1.1).
* :class:`TokenRequest` and :class:`TokenResponse` -- the issuance messages
  (RFC 9578 sections 6.1 and 6.2).
* :class:`Token` -- what a wallet redeems (RFC 9577 section 2.2.1).

Every ``decode`` is byte-exact: ``X.decode(data).encode() == data`` or a
coded :class:`~ageverify.errors.AgeVerifyError`, never another exception.
Exactness matters beyond tidiness: a token commits to SHA-256 of the
challenge bytes, so a challenge that two readers could re-encode differently
would yield two digests for one challenge.

Around them: the key id of RFC 9578 section 6.5 (SHA-256 of an RSASSA-PSS
SubjectPublicKeyInfo, built here by hand), the ``PrivateToken`` HTTP
authentication headers of RFC 9577 and the issuer directory of RFC 9578
section 4. Constants are wire format: only ever added to.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from ageverify.errors import AgeVerifyError
from ageverify.formats import jose, strictjson

__all__ = [
    "AUTH_SCHEME",
    "DIGEST_LENGTH",
    "DIRECTORY_PATH",
    "MAX_DIRECTORY_SIZE",
    "MAX_HEADER_LENGTH",
    "MEDIA_TYPE_ISSUER_DIRECTORY",
    "MEDIA_TYPE_TOKEN_REQUEST",
    "MEDIA_TYPE_TOKEN_RESPONSE",
    "MODULUS_BITS",
    "NID",
    "NK",
    "NONCE_LENGTH",
    "REDEMPTION_CONTEXT_LENGTH",
    "SALT_LENGTH",
    "TOKEN_TYPE_BLIND_RSA",
    "DirectoryKey",
    "IssuerDirectory",
    "PrivateTokenChallenge",
    "Token",
    "TokenChallenge",
    "TokenRequest",
    "TokenResponse",
    "authenticator_input",
    "build_directory",
    "challenge_digest",
    "decode_pss_spki",
    "encode_pss_spki",
    "format_authorization",
    "format_www_authenticate",
    "parse_authorization",
    "parse_directory",
    "parse_www_authenticate",
    "token_input",
    "token_key_id",
    "truncated_token_key_id",
]

# --- Wire format: only ever added to. ---------------------------------------
TOKEN_TYPE_BLIND_RSA = 0x0002
# RFC 9578 section 8.2.2: authenticator (and blinded message) length, key id length.
NK = 256
NID = 32
MODULUS_BITS = 2048
NONCE_LENGTH = 32
DIGEST_LENGTH = 32
# RSASSA-PSS salt length in bytes: the output size of SHA-384 (RFC 9578 section 6.5).
SALT_LENGTH = 48
REDEMPTION_CONTEXT_LENGTH = 32

AUTH_SCHEME = "PrivateToken"
MEDIA_TYPE_TOKEN_REQUEST = "application/private-token-request"  # noqa: S105 - not a secret
MEDIA_TYPE_TOKEN_RESPONSE = "application/private-token-response"  # noqa: S105 - not a secret
MEDIA_TYPE_ISSUER_DIRECTORY = "application/private-token-issuer-directory"
DIRECTORY_PATH = "/.well-known/private-token-issuer-directory"

# A PrivateToken Authorization header is about 500 characters; challenges a few
# hundred more each. Bound the work an attacker can make a header parser do.
MAX_HEADER_LENGTH = 16384
MAX_DIRECTORY_SIZE = 65536
# ----------------------------------------------------------------------------

_TOKEN_REQUEST_LENGTH = 2 + 1 + NK
_TOKEN_LENGTH = 2 + NONCE_LENGTH + DIGEST_LENGTH + NID + NK
_U16_MAX = 0xFFFF


def _malformed(description: str) -> AgeVerifyError:
    return AgeVerifyError("privacypass-malformed", description)


# What decoders accept: any contiguous bytes; what they keep is always immutable bytes.
Buffer = bytes | bytearray | memoryview


def _as_bytes(data: object) -> bytes:
    """``data`` as immutable bytes, or ``privacypass-malformed`` for anything not byte-like."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise _malformed("A Privacy Pass structure is decoded from bytes.")


class _Reader:
    """Consumes a byte string front to back; every shortfall is ``privacypass-malformed``."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    def take(self, length: int) -> bytes:
        end = self._pos + length
        if end > len(self._data):
            raise _malformed(f"The {self._what} is truncated.")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise _malformed(f"The {self._what} has trailing bytes.")


def _require_token_type(token_type: object) -> None:
    # bool is an int; True must not pass for a token type.
    if type(token_type) is not int:
        raise _malformed("token_type must be an integer.")
    if token_type != TOKEN_TYPE_BLIND_RSA:
        raise AgeVerifyError(
            "privacypass-unsupported-token-type",
            f"Token type 0x{token_type & _U16_MAX:04x} is not supported; only 0x0002 is.",
        )


def _require_bytes(value: object, length: int, name: str) -> None:
    # Exactly bytes: a bytearray would make a frozen dataclass mutable after all.
    if type(value) is not bytes or len(value) != length:
        raise _malformed(f"{name} must be {length} bytes.")


def _peek_token_type(data: bytes, what: str) -> None:
    # The type decides the layout of the rest (RFC 9577 section 2.1.1), so it is
    # judged first: a type 0x0001 token gets "unsupported", not "wrong length".
    if len(data) < 2:
        raise _malformed(f"The {what} is truncated.")
    _require_token_type(int.from_bytes(data[:2], "big"))


# RFC 9577 section 2.1.1.1: server names are the authority of a URI (RFC 3986
# section 3.2) without userinfo, so no "@"; "," separates names in origin_info.
_SERVER_NAME = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+;=:\[\]]+")


def _require_server_name(name: object, what: str) -> None:
    if not isinstance(name, str) or not _SERVER_NAME.fullmatch(name):
        raise _malformed(f"{what} is not a server name (host and optional port).")


@dataclass(frozen=True)
class TokenChallenge:
    """A platform's request for a token (RFC 9577 section 2.1.1).

    ``issuer_name`` names the issuer whose tokens are accepted;
    ``redemption_context`` is empty or 32 bytes chosen by the platform to bind
    tokens to a context; ``origin_info`` holds the origin names the token may
    be redeemed at (empty: any origin). Names are server names, ``host`` or
    ``host:port``. Invalid values raise ``privacypass-malformed`` (or
    ``privacypass-unsupported-token-type``) on construction, so every instance
    encodes.
    """

    token_type: int = field(default=TOKEN_TYPE_BLIND_RSA, kw_only=True)
    issuer_name: str
    redemption_context: bytes = b""
    origin_info: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require_token_type(self.token_type)
        _require_server_name(self.issuer_name, "issuer_name")
        if len(self.issuer_name) > _U16_MAX:
            raise _malformed("issuer_name is longer than 65535 bytes.")
        # RFC 9577: "either 0 or 32 bytes"; other lengths MUST be ignored by clients.
        if type(self.redemption_context) is not bytes or len(self.redemption_context) not in (
            0,
            REDEMPTION_CONTEXT_LENGTH,
        ):
            raise _malformed("redemption_context must be empty or 32 bytes.")
        if type(self.origin_info) is not tuple:
            raise _malformed("origin_info must be a tuple of origin names.")
        for name in self.origin_info:
            _require_server_name(name, "An origin_info entry")
        if len(",".join(self.origin_info)) > _U16_MAX:
            raise _malformed("origin_info is longer than 65535 bytes.")

    def encode(self) -> bytes:
        """The TLS-encoded TokenChallenge."""
        issuer = self.issuer_name.encode("ascii")
        origins = ",".join(self.origin_info).encode("ascii")
        return b"".join(
            (
                self.token_type.to_bytes(2, "big"),
                len(issuer).to_bytes(2, "big"),
                issuer,
                len(self.redemption_context).to_bytes(1, "big"),
                self.redemption_context,
                len(origins).to_bytes(2, "big"),
                origins,
            )
        )

    @classmethod
    def decode(cls, data: Buffer) -> TokenChallenge:
        """Decode exactly one TokenChallenge from ``data``.

        A type other than 0x0002 raises ``privacypass-unsupported-token-type``;
        truncation, trailing bytes, an empty issuer name, a redemption context
        of other than 0 or 32 bytes, an empty or non-ASCII name or an empty
        entry in ``origin_info`` raise ``privacypass-malformed``.
        """
        raw = _as_bytes(data)
        _peek_token_type(raw, "TokenChallenge")
        reader = _Reader(raw, "TokenChallenge")
        token_type = reader.u16()
        issuer = reader.take(reader.u16())
        context = reader.take(reader.u8())
        origins = reader.take(reader.u16())
        reader.finish()
        if not issuer.isascii() or not origins.isascii():
            raise _malformed("Names in a TokenChallenge are ASCII.")
        # An empty origin_info means "any origin", not one empty name.
        names = tuple(origins.decode("ascii").split(",")) if origins else ()
        return cls(
            token_type=token_type,
            issuer_name=issuer.decode("ascii"),
            redemption_context=context,
            origin_info=names,
        )


@dataclass(frozen=True)
class TokenRequest:
    """A wallet's blinded token request (RFC 9578 section 6.1).

    ``truncated_token_key_id`` is the last byte of the issuer key's id (see
    :func:`truncated_token_key_id`): enough for the issuer to pick a key, too
    little to tell clients apart. ``blinded_msg`` is the Nk-byte blinded
    message.
    """

    token_type: int = field(default=TOKEN_TYPE_BLIND_RSA, kw_only=True)
    truncated_token_key_id: int
    blinded_msg: bytes

    def __post_init__(self) -> None:
        _require_token_type(self.token_type)
        if type(self.truncated_token_key_id) is not int or not (
            0 <= self.truncated_token_key_id <= 0xFF
        ):
            raise _malformed("truncated_token_key_id must be one byte.")
        _require_bytes(self.blinded_msg, NK, "blinded_msg")

    def encode(self) -> bytes:
        """The TLS-encoded TokenRequest (259 bytes), the body of a token request."""
        return (
            self.token_type.to_bytes(2, "big")
            + self.truncated_token_key_id.to_bytes(1, "big")
            + self.blinded_msg
        )

    @classmethod
    def decode(cls, data: Buffer) -> TokenRequest:
        """Decode a TokenRequest from ``data``.

        A type other than 0x0002 raises ``privacypass-unsupported-token-type``;
        any length but 259 bytes raises ``privacypass-malformed``.
        """
        raw = _as_bytes(data)
        _peek_token_type(raw, "TokenRequest")
        if len(raw) != _TOKEN_REQUEST_LENGTH:
            raise _malformed(f"A TokenRequest is {_TOKEN_REQUEST_LENGTH} bytes.")
        return cls(truncated_token_key_id=raw[2], blinded_msg=raw[3:])


@dataclass(frozen=True)
class TokenResponse:
    """The issuer's answer to a :class:`TokenRequest`: the Nk-byte blind signature."""

    blind_sig: bytes

    def __post_init__(self) -> None:
        _require_bytes(self.blind_sig, NK, "blind_sig")

    def encode(self) -> bytes:
        """The TokenResponse (256 bytes), content of ``application/private-token-response``."""
        return self.blind_sig

    @classmethod
    def decode(cls, data: Buffer) -> TokenResponse:
        """Decode a TokenResponse; any length but 256 bytes raises ``privacypass-malformed``."""
        raw = _as_bytes(data)
        if len(raw) != NK:
            raise _malformed(f"A TokenResponse is {NK} bytes.")
        return cls(blind_sig=raw)


@dataclass(frozen=True)
class Token:
    """A redeemable token (RFC 9577 section 2.2.1, RFC 9578 section 6.3).

    ``nonce`` is the wallet's 32 random bytes, ``challenge_digest`` SHA-256 of
    the encoded :class:`TokenChallenge`, ``token_key_id`` the full 32-byte id
    of the issuer key and ``authenticator`` the RSA-PSS signature over
    :func:`token_input`.
    """

    token_type: int = field(default=TOKEN_TYPE_BLIND_RSA, kw_only=True)
    nonce: bytes
    challenge_digest: bytes
    token_key_id: bytes
    authenticator: bytes

    def __post_init__(self) -> None:
        _require_token_type(self.token_type)
        _require_bytes(self.nonce, NONCE_LENGTH, "nonce")
        _require_bytes(self.challenge_digest, DIGEST_LENGTH, "challenge_digest")
        _require_bytes(self.token_key_id, NID, "token_key_id")
        _require_bytes(self.authenticator, NK, "authenticator")

    def encode(self) -> bytes:
        """The TLS-encoded Token (354 bytes)."""
        return token_input(self) + self.authenticator

    @classmethod
    def decode(cls, data: Buffer) -> Token:
        """Decode a Token from ``data``.

        A type other than 0x0002 raises ``privacypass-unsupported-token-type``;
        any length but 354 bytes raises ``privacypass-malformed``.
        """
        raw = _as_bytes(data)
        _peek_token_type(raw, "Token")
        if len(raw) != _TOKEN_LENGTH:
            raise _malformed(f"A Token is {_TOKEN_LENGTH} bytes.")
        reader = _Reader(raw, "Token")
        reader.u16()
        return cls(
            nonce=reader.take(NONCE_LENGTH),
            challenge_digest=reader.take(DIGEST_LENGTH),
            token_key_id=reader.take(NID),
            authenticator=reader.take(NK),
        )


def authenticator_input(nonce: bytes, challenge_digest: bytes, token_key_id: bytes) -> bytes:
    """The message an issuer signs blindly: ``token_type||nonce||challenge_digest||token_key_id``.

    Wallets compute it from ``nonce``, ``challenge_digest`` and
    ``token_key_id`` before they hold a token (RFC 9578 section 6.1);
    :func:`token_input` gives the same bytes for a finished token.
    """
    _require_bytes(nonce, NONCE_LENGTH, "nonce")
    _require_bytes(challenge_digest, DIGEST_LENGTH, "challenge_digest")
    _require_bytes(token_key_id, NID, "token_key_id")
    return TOKEN_TYPE_BLIND_RSA.to_bytes(2, "big") + nonce + challenge_digest + token_key_id


def token_input(token: Token) -> bytes:
    """The bytes ``token.authenticator`` signs (RFC 9577 section 2.2.3, AuthenticatorInput)."""
    return authenticator_input(token.nonce, token.challenge_digest, token.token_key_id)


def challenge_digest(challenge: TokenChallenge) -> bytes:
    """SHA-256 of the encoded ``challenge``, as carried in :attr:`Token.challenge_digest`."""
    return hashlib.sha256(challenge.encode()).digest()


# --- Token keys: RSASSA-PSS SubjectPublicKeyInfo (RFC 9578 section 6.5) -----
#
# cryptography serialises every RSA public key under rsaEncryption; the key id
# is defined over the id-RSASSA-PSS form with explicit parameters, so the few
# DER structures needed are written out here.


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        header = bytes([tag, length])
    else:
        octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
        header = bytes([tag, 0x80 | len(octets)]) + octets
    return header + content


def _der_oid(dotted: str) -> bytes:
    first, second, *rest = (int(arc) for arc in dotted.split("."))
    body = bytearray([40 * first + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return _der(0x06, bytes(body))


def _der_integer(value: int) -> bytes:
    # Non-negative only; one leading zero byte keeps a set top bit from reading as a sign.
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _der_sequence(*items: bytes) -> bytes:
    return _der(0x30, b"".join(items))


_OID_RSASSA_PSS = "1.2.840.113549.1.1.10"
_OID_MGF1 = "1.2.840.113549.1.1.8"
_OID_SHA384 = "2.16.840.1.101.3.4.2.2"
# The SHA-384 AlgorithmIdentifier without NULL parameters, as in RFC 9578's
# example: the id hashes these exact bytes, so the NULL form (which RFC 4055
# also allows) would give the same key a second id.
_SHA384_ALGORITHM = _der_sequence(_der_oid(_OID_SHA384))
_PSS_ALGORITHM = _der_sequence(
    _der_oid(_OID_RSASSA_PSS),
    _der_sequence(
        _der(0xA0, _SHA384_ALGORITHM),  # [0] hashAlgorithm
        _der(0xA1, _der_sequence(_der_oid(_OID_MGF1), _SHA384_ALGORITHM)),  # [1] maskGenAlgorithm
        _der(0xA2, _der_integer(SALT_LENGTH)),  # [2] saltLength
    ),
)


def _bad_key(description: str) -> AgeVerifyError:
    return AgeVerifyError("privacypass-bad-token-key", description)


def encode_pss_spki(public_key: rsa.RSAPublicKey) -> bytes:
    """The DER RSASSA-PSS SubjectPublicKeyInfo of ``public_key`` (RFC 9578 section 6.5).

    This is the token key of token type 0x0002 as sent in ``token-key``
    parameters and issuer directories. A key that is not a 2048-bit RSA
    public key raises ``privacypass-bad-token-key``.
    """
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise _bad_key("A token key is an RSA public key.")
    numbers = public_key.public_numbers()
    if numbers.n.bit_length() != MODULUS_BITS:
        raise _bad_key("Token type 0x0002 uses 2048-bit RSA keys.")
    rsa_public_key = _der_sequence(_der_integer(numbers.n), _der_integer(numbers.e))
    # BIT STRING: a leading octet counts the unused bits of the last octet (none).
    return _der_sequence(_PSS_ALGORITHM, _der(0x03, b"\x00" + rsa_public_key))


def _read_tlv(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """Start and end of the content of the element with ``tag`` at ``pos``."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise _bad_key("The token key is not the expected DER structure.")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        # A 2048-bit key's SPKI is 338 bytes: two length octets always suffice.
        if count not in (1, 2) or pos + count > len(data):
            raise _bad_key("The token key is not the expected DER structure.")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise _bad_key("The token key is truncated.")
    return pos, pos + length


def decode_pss_spki(der: Buffer) -> rsa.RSAPublicKey:
    """Read a token key: the exact DER that :func:`encode_pss_spki` produces, nothing else.

    ``der`` must be an RSASSA-PSS SubjectPublicKeyInfo with SHA-384, MGF1 with
    SHA-384 and a 48-byte salt, carrying a 2048-bit RSA key. An rsaEncryption
    SPKI, other parameters, a non-minimal DER spelling or trailing bytes
    raise ``privacypass-bad-token-key``: one key has one encoding, hence one id.
    """
    if not isinstance(der, bytes | bytearray | memoryview):
        raise _bad_key("A token key is DER bytes.")
    data = bytes(der)
    start, end = _read_tlv(data, 0, 0x30)
    if end != len(data):
        raise _bad_key("The token key has trailing bytes.")
    if data[start : start + len(_PSS_ALGORITHM)] != _PSS_ALGORITHM:
        raise _bad_key(
            "The token key's algorithm is not id-RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48."
        )
    bits_start, bits_end = _read_tlv(data, start + len(_PSS_ALGORITHM), 0x03)
    if bits_start == bits_end or data[bits_start] != 0:
        raise _bad_key("The token key's BIT STRING is malformed.")
    key_start, key_end = _read_tlv(data, bits_start + 1, 0x30)
    n_start, n_end = _read_tlv(data, key_start, 0x02)
    e_start, e_end = _read_tlv(data, n_end, 0x02)
    if e_end != key_end:
        raise _bad_key("The RSAPublicKey is malformed.")
    n = int.from_bytes(data[n_start:n_end], "big")
    e = int.from_bytes(data[e_start:e_end], "big")
    if n.bit_length() != MODULUS_BITS:
        raise _bad_key("Token type 0x0002 uses 2048-bit RSA keys.")
    try:
        key = rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError:
        raise _bad_key("The token key is not a valid RSA public key.") from None
    # Re-encoding is the exactness check: negative or padded integers, long-form
    # lengths and anything else the reader above tolerated fail here.
    if encode_pss_spki(key) != data:
        raise _bad_key("The token key is not in canonical DER.")
    return key


def token_key_id(public_key: rsa.RSAPublicKey) -> bytes:
    """The 32-byte id of ``public_key``: SHA-256 of :func:`encode_pss_spki` (RFC 9578 § 6.5)."""
    return hashlib.sha256(encode_pss_spki(public_key)).digest()


def truncated_token_key_id(key_id: bytes) -> int:
    """The last byte of ``key_id``, as sent in :attr:`TokenRequest.truncated_token_key_id`."""
    _require_bytes(key_id, NID, "token_key_id")
    return key_id[-1]


# --- PrivateToken HTTP authentication (RFC 9577 section 2, RFC 9110 section 11) -


def _b64_encode_padded(data: bytes) -> str:
    # RFC 9577 section 2.1.2 and 2.2.2: "the base64url value MUST include padding".
    text = jose.b64url_encode(data)
    return text + "=" * (-len(text) % 4)


def _b64_decode_either(text: str, code: str) -> bytes:
    """Decode base64url with correct padding or none; the last character's unused bits must be 0.

    The RFCs require senders to pad. Unpadded values are accepted too: they
    decode to the same bytes, and the strictness that matters, one spelling
    per value within each form, is kept.
    """
    unpadded = text.rstrip("=")
    padding = len(text) - len(unpadded)
    if padding and (padding > 2 or len(text) % 4):
        raise AgeVerifyError(code, "A base64url value has wrong padding.")
    try:
        return jose.b64url_decode(unpadded)
    except AgeVerifyError:
        raise AgeVerifyError(code, "A value is not base64url.") from None


def _header_malformed(description: str) -> AgeVerifyError:
    return AgeVerifyError("privacypass-header-malformed", description)


_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_OWS = " \t"
# quoted-string (RFC 9110 section 5.6.4): qdtext is HTAB, SP, VCHAR but '"' and
# backslash, or obs-text; a quoted-pair escapes HTAB, SP, VCHAR or obs-text.
# Other controls, DEL and characters beyond Latin-1 never appear in a field.
_QUOTED_STRING = re.compile(
    r'"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*)"'
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


@dataclass
class _AuthItem:
    """One challenge or credentials: a lower-cased scheme and its token68 or parameters."""

    scheme: str
    token68: str | None = None
    params: list[tuple[str, str]] = field(default_factory=list)


def _skip_ows(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _OWS:
        pos += 1
    return pos


def _skip_separators(text: str, pos: int) -> int:
    # Lists tolerate empty elements (RFC 9110 section 5.6.1): ", ," is one separator.
    while pos < len(text) and (text[pos] in _OWS or text[pos] == ","):
        pos += 1
    return pos


def _read_token(text: str, pos: int) -> tuple[str, int]:
    end = pos
    while end < len(text) and text[end] in _TCHAR:
        end += 1
    if end == pos:
        raise _header_malformed("A token was expected in the authentication header.")
    return text[pos:end], end


def _read_quoted(text: str, pos: int) -> tuple[str, int]:
    # pos is at the opening DQUOTE.
    match = _QUOTED_STRING.match(text, pos)
    if match is None:
        raise _header_malformed("A quoted string is unterminated or holds a control character.")
    return _QUOTED_PAIR.sub(r"\1", match.group(1)), match.end()


def _starts_auth_param(text: str, pos: int) -> bool:
    """Whether a list element at ``pos`` continues the parameters (``name =``), not a new scheme."""
    end = pos
    while end < len(text) and text[end] in _TCHAR:
        end += 1
    if end == pos:
        return False
    end = _skip_ows(text, end)
    return end < len(text) and text[end] == "="


def _auth_items(header: object) -> list[_AuthItem]:
    """Split a WWW-Authenticate or Authorization field value into its challenges or credentials.

    Implements RFC 9110 section 11: ``scheme [ 1*SP ( token68 / #auth-param ) ]``
    in a comma-separated list where a parameter list and the next challenge
    are told apart by whether ``token BWS "="`` follows a comma.
    """
    if not isinstance(header, str):
        raise _header_malformed("An authentication header is text.")
    if len(header) > MAX_HEADER_LENGTH:
        raise _header_malformed("The authentication header is too long.")
    items: list[_AuthItem] = []
    pos = _skip_separators(header, 0)
    while pos < len(header):
        scheme, pos = _read_token(header, pos)
        item = _AuthItem(scheme.lower())
        items.append(item)
        after_scheme = pos
        pos = _skip_ows(header, pos)
        if pos == len(header) or header[pos] == ",":
            pos = _skip_separators(header, pos)
            continue
        if pos == after_scheme:
            raise _header_malformed("An authentication scheme must be followed by a space.")
        token68 = _TOKEN68.match(header, pos)
        if token68:
            end = _skip_ows(header, token68.end())
            if end == len(header) or header[end] == ",":
                item.token68 = token68.group()
                pos = _skip_separators(header, end)
                continue
        while True:
            name, pos = _read_token(header, pos)
            pos = _skip_ows(header, pos)
            if pos == len(header) or header[pos] != "=":
                raise _header_malformed("An authentication parameter lacks '='.")
            pos = _skip_ows(header, pos + 1)
            if pos < len(header) and header[pos] == '"':
                value, pos = _read_quoted(header, pos)
            else:
                value, pos = _read_token(header, pos)
            # Parameter names are case-insensitive (RFC 9110 section 11.2).
            item.params.append((name.lower(), value))
            pos = _skip_ows(header, pos)
            if pos == len(header):
                break
            if header[pos] != ",":
                raise _header_malformed("Authentication parameters are separated by commas.")
            pos = _skip_separators(header, pos)
            if pos == len(header) or not _starts_auth_param(header, pos):
                break
    return items


def _single_params(item: _AuthItem) -> dict[str, str] | None:
    """The parameters of ``item`` by name, or None if it has a token68 or repeats a name."""
    if item.token68 is not None:
        return None
    params = dict(item.params)
    # "Each parameter name MUST only occur once per challenge" (RFC 9110 section 11.2):
    # which of two "challenge" values would a second reader take?
    if len(params) != len(item.params):
        return None
    return params


@dataclass(frozen=True)
class PrivateTokenChallenge:
    """One ``PrivateToken`` challenge of a WWW-Authenticate header (RFC 9577 section 2.1.2).

    ``challenge`` is the decoded :class:`TokenChallenge`; ``token_key`` the
    issuer key's SPKI DER, or None when the platform left it to be fetched
    out of band; ``max_age`` the seconds the platform accepts the challenge
    for, if given.
    """

    challenge: TokenChallenge
    token_key: bytes | None = None
    max_age: int | None = None


# RFC 9111 section 1.2.2: delta-seconds beyond 2^31 are read as 2^31.
_MAX_DELTA_SECONDS = 2**31


def _delta_seconds(value: str) -> int | None:
    if not value.isascii() or not value.isdigit():
        return None
    digits = value.lstrip("0") or "0"
    # Eleven digits exceed 2^31 anyway; never hand int() an attacker-sized string.
    if len(digits) > 10:
        return _MAX_DELTA_SECONDS
    return min(int(digits), _MAX_DELTA_SECONDS)


def _private_token_challenge(item: _AuthItem) -> PrivateTokenChallenge | None:
    params = _single_params(item)
    if params is None or "challenge" not in params:
        return None
    try:
        challenge = TokenChallenge.decode(
            _b64_decode_either(params["challenge"], "privacypass-malformed")
        )
        token_key = None
        if "token-key" in params:
            token_key = _b64_decode_either(params["token-key"], "privacypass-bad-token-key")
            decode_pss_spki(token_key)
    except AgeVerifyError:
        return None
    max_age = None
    if "max-age" in params:
        max_age = _delta_seconds(params["max-age"])
        if max_age is None:
            return None
    return PrivateTokenChallenge(challenge, token_key, max_age)


def format_www_authenticate(
    challenges: Sequence[tuple[TokenChallenge, bytes]], max_age: int | None = None
) -> str:
    """The WWW-Authenticate field value offering each ``(challenge, token_key)`` pair.

    ``token_key`` is the issuer key's SPKI DER (:func:`encode_pss_spki`).
    Each item reads ``PrivateToken challenge="...", token-key="..."``, with
    ``, max-age=N`` when ``max_age`` is given; values are padded base64url as
    RFC 9577 requires, and quoted since padding is not a token character.
    Items are separated by ``", "`` in the order given, which is the
    platform's preference (RFC 9577 section 2.1.2.1). An empty list or a
    negative ``max_age`` raises ValueError; a token key that is not a type
    0x0002 key raises ``privacypass-bad-token-key``.
    """
    if not challenges:
        raise ValueError("a WWW-Authenticate header offers at least one challenge")
    if max_age is not None and (type(max_age) is not int or max_age < 0):
        raise ValueError("max_age is a non-negative number of seconds")
    items = []
    for challenge, token_key in challenges:
        decode_pss_spki(token_key)
        item = (
            f'{AUTH_SCHEME} challenge="{_b64_encode_padded(challenge.encode())}", '
            f'token-key="{_b64_encode_padded(bytes(token_key))}"'
        )
        if max_age is not None:
            item += f", max-age={max_age}"
        items.append(item)
    return ", ".join(items)


def parse_www_authenticate(header: str) -> list[PrivateTokenChallenge]:
    """The usable token type 0x0002 challenges of a WWW-Authenticate field value, in order.

    ``header`` may hold several challenges of any scheme. Following RFC 9577
    sections 2.1.1 and 2.1.3, challenges a client must not act on are left
    out rather than failing the whole header, which may still offer a good
    one: other schemes, PrivateToken challenges of other token types
    (including grease), and PrivateToken challenges with a repeated
    parameter, a missing or invalid ``challenge``, a ``token-key`` that is
    not an RSASSA-PSS SPKI or a ``max-age`` that is not a number. Unknown
    parameters are ignored. A field value that does not follow the RFC 9110
    challenge grammar, or is longer than :data:`MAX_HEADER_LENGTH`, raises
    ``privacypass-header-malformed``.
    """
    offered = []
    for item in _auth_items(header):
        if item.scheme == AUTH_SCHEME.lower():
            challenge = _private_token_challenge(item)
            if challenge is not None:
                offered.append(challenge)
    return offered


def format_authorization(token: Token) -> str:
    """The Authorization field value redeeming ``token``: ``PrivateToken token="..."``."""
    return f'{AUTH_SCHEME} token="{_b64_encode_padded(token.encode())}"'


def parse_authorization(header: str) -> Token:
    """The :class:`Token` of an Authorization field value, strictly.

    ``header`` must hold exactly one ``PrivateToken`` credentials with one
    ``token`` parameter (quoted or not) of base64url, padded or not; unknown
    parameters are ignored (RFC 9577 section 2.2.2). Anything else, another
    scheme, a token68, a repeated parameter or bad base64url, raises
    ``privacypass-header-malformed``; the token's own bytes raise the codes of
    :meth:`Token.decode`.
    """
    items = _auth_items(header)
    if len(items) != 1:
        raise _header_malformed("An Authorization header holds exactly one credentials.")
    (item,) = items
    if item.scheme != AUTH_SCHEME.lower():
        raise _header_malformed("The Authorization header does not use the PrivateToken scheme.")
    params = _single_params(item)
    if params is None or "token" not in params:
        raise _header_malformed("PrivateToken credentials carry exactly one token parameter.")
    return Token.decode(_b64_decode_either(params["token"], "privacypass-header-malformed"))


# --- Issuer directory (RFC 9578 section 4) ----------------------------------


def _directory_invalid(description: str) -> AgeVerifyError:
    return AgeVerifyError("privacypass-directory-invalid", description)


@dataclass(frozen=True)
class DirectoryKey:
    """One ``token-keys`` entry of an issuer directory.

    ``token_key`` is the SPKI DER of a type 0x0002 key (:func:`encode_pss_spki`);
    ``not_before`` the UNIX time before which wallets should not use it, if any.
    """

    token_type: int = field(default=TOKEN_TYPE_BLIND_RSA, kw_only=True)
    token_key: bytes
    not_before: int | None = None

    @property
    def token_key_id(self) -> bytes:
        """SHA-256 of :attr:`token_key`: the id tokens made with this key carry."""
        return hashlib.sha256(self.token_key).digest()


@dataclass(frozen=True)
class IssuerDirectory:
    """An issuer's Privacy Pass directory: where to send token requests, and its keys.

    ``token_keys`` is in the issuer's order of preference (RFC 9578 section 4).
    """

    issuer_request_uri: str
    token_keys: tuple[DirectoryKey, ...]


def _require_request_uri(uri: object) -> str:
    # A URL string: absolute or relative, percent-encoded, so no spaces or controls.
    if not isinstance(uri, str) or not uri or not re.fullmatch(r"[\x21-\x7e]+", uri):
        raise _directory_invalid("issuer-request-uri must be a non-empty URL string.")
    return uri


def build_directory(issuer_request_uri: str, token_keys: Sequence[DirectoryKey]) -> bytes:
    """The JSON issuer directory (``application/private-token-issuer-directory``).

    ``token_keys`` are listed in the order given, most preferred first; each
    key must be a valid type 0x0002 SPKI and appear once. ``token-key``
    values are padded base64url, as RFC 9578 section 4 requires. Invalid
    input raises ``privacypass-directory-invalid``.
    """
    _require_request_uri(issuer_request_uri)
    if not token_keys:
        raise _directory_invalid("A directory lists at least one token key.")
    entries: list[dict[str, Any]] = []
    seen: set[bytes] = set()
    for key in token_keys:
        if key.token_type != TOKEN_TYPE_BLIND_RSA:
            raise _directory_invalid("Only token type 0x0002 keys are published.")
        try:
            decode_pss_spki(key.token_key)
        except AgeVerifyError:
            raise _directory_invalid("A token-key is not a type 0x0002 key.") from None
        if key.token_key in seen:
            raise _directory_invalid("A token-key is listed twice.")
        seen.add(key.token_key)
        entry: dict[str, Any] = {
            "token-type": key.token_type,
            "token-key": _b64_encode_padded(key.token_key),
        }
        if key.not_before is not None:
            if type(key.not_before) is not int or key.not_before < 0:
                raise _directory_invalid("not-before must be a non-negative integer.")
            entry["not-before"] = key.not_before
        entries.append(entry)
    return strictjson.dumps({"issuer-request-uri": issuer_request_uri, "token-keys": entries})


def _directory_key(entry: object) -> DirectoryKey | None:
    if not isinstance(entry, dict):
        raise _directory_invalid("Each token-keys entry is a JSON object.")
    token_type = entry.get("token-type")
    if type(token_type) is not int or not 0 <= token_type <= _U16_MAX:
        raise _directory_invalid("token-type must be an integer token type.")
    if token_type != TOKEN_TYPE_BLIND_RSA:
        # Keys of token types this client does not speak are not an error.
        return None
    encoded = entry.get("token-key")
    if not isinstance(encoded, str):
        raise _directory_invalid("token-key must be a base64url string.")
    try:
        token_key = _b64_decode_either(encoded, "privacypass-directory-invalid")
        decode_pss_spki(token_key)
    except AgeVerifyError:
        raise _directory_invalid("A token-key is not a type 0x0002 key.") from None
    not_before = entry.get("not-before")
    if not_before is not None and (type(not_before) is not int or not_before < 0):
        raise _directory_invalid("not-before must be a non-negative integer.")
    return DirectoryKey(token_key=token_key, not_before=not_before)


def parse_directory(data: Buffer) -> IssuerDirectory:
    """Read an issuer directory, keeping its token type 0x0002 keys in order.

    ``data`` is the JSON body, read with :func:`ageverify.formats.strictjson.loads`
    (whose ``json-*`` codes pass through). It must be an object with a URL
    string ``issuer-request-uri`` and a ``token-keys`` array; each entry
    needs an integer ``token-type``, and type 0x0002 entries a padded or
    unpadded base64url ``token-key`` holding an RSASSA-PSS SPKI and,
    optionally, a non-negative integer ``not-before``. Entries of other
    token types and unknown members are skipped. No type 0x0002 key, a key
    listed twice, a body over :data:`MAX_DIRECTORY_SIZE` bytes or any broken
    rule raise ``privacypass-directory-invalid``.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise _directory_invalid("A directory is read from bytes.")
    if len(data) > MAX_DIRECTORY_SIZE:
        raise _directory_invalid("The directory is too large.")
    document = strictjson.loads(bytes(data))
    if not isinstance(document, dict):
        raise _directory_invalid("A directory is a JSON object.")
    uri = _require_request_uri(document.get("issuer-request-uri"))
    entries = document.get("token-keys")
    if not isinstance(entries, list):
        raise _directory_invalid("token-keys must be an array.")
    keys = [key for key in map(_directory_key, entries) if key is not None]
    if not keys:
        raise _directory_invalid("The directory lists no token type 0x0002 key.")
    if len({key.token_key for key in keys}) != len(keys):
        raise _directory_invalid("A token-key is listed twice.")
    return IssuerDirectory(issuer_request_uri=uri, token_keys=tuple(keys))
