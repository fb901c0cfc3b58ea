"""Signed notes (C2SP signed-note v1.0.0) with Ed25519 keys.

A signed note is a UTF-8 text ending in a newline, a blank line, then one or
more signature lines ``— <key name> <base64(key id || signature)>``::

    This is an example message.

    — example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1E...

A key is named and identified by a 32-bit key id, the first four bytes of
SHA-256(name || 0x0A || 0x01 || 32-byte Ed25519 public key). Verifier keys
travel as ``<name>+<hex key id>+<base64(0x01 || public key)>``.

:func:`open` verifies the signatures of the keys it is given and keeps the
others (witness cosignatures, a rotated log key) as unverified, as the spec
requires: a note opens when at least one known key's signature verifies and
no known key's signature fails. Everything refused raises
:class:`~ageverify.errors.AgeVerifyError` with a ``note-*`` code.

This module does not hold private keys at rest: a :class:`Signer` wraps a key
object loaded by the key store.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ageverify.errors import AgeVerifyError

__all__ = [
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "SIGNATURE_TYPE_ED25519",
    "Note",
    "Signature",
    "Signer",
    "Verifier",
    "is_valid_key_name",
    "key_id",
    "open",
    "sign",
]

# --- Wire format: only ever added to. ---------------------------------------
# Signature type byte of Ed25519 notes (signed-note, "Signature types").
SIGNATURE_TYPE_ED25519 = 0x01
# The spec requires accepting at least 16 signatures; Go's note package stops
# at 100. A log with a dozen witnesses stays far below either.
MAX_SIGNATURES = 100
# Bounds the work one note can cost: 100 post-quantum signatures of ~5 kB
# each still fit, a checkpoint is a few hundred bytes.
MAX_NOTE_SIZE = 1 << 20
# ----------------------------------------------------------------------------

_EM_DASH_PREFIX = "\u2014 "
_KEY_ID_LENGTH = 4
_ED25519_PUBLIC_KEY_LENGTH = 32
_ED25519_SIGNATURE_LENGTH = 64

# The Unicode White_Space property: what Go's unicode.IsSpace (and so the
# reference implementation) calls a space. str.isspace() differs slightly
# (it also counts U+001C..U+001F), so the set is spelled out.
_UNICODE_SPACES = frozenset(
    "\t\n\v\f\r \u0085\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def _malformed(description: str) -> AgeVerifyError:
    return AgeVerifyError("note-malformed", description)


def _key_invalid(description: str) -> AgeVerifyError:
    return AgeVerifyError("note-key-invalid", description)


def _is_utf8(text: str) -> bool:
    # A Python str can hold lone surrogates, which have no UTF-8 encoding.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _has_control_character(text: str) -> bool:
    """Whether ``text`` holds an ASCII control character other than newline."""
    return any(ch < " " and ch != "\n" for ch in text)


def _decode_base64(text: str) -> bytes | None:
    """Canonical padded standard base64 (RFC 4648 section 4) decoded, or None.

    Canonical means the encoding of the result gives back ``text``: leftover
    bits must be zero. One byte string then has one spelling, so a signature
    line cannot be varied without changing what it says.
    """
    if not text.isascii():
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


def is_valid_key_name(name: object) -> bool:
    """Whether ``name`` may name a note key.

    signed-note: key names are non-empty and hold no Unicode spaces and no
    plus sign (``+`` separates the parts of a verifier key). Control
    characters are refused too: a note may not contain them anywhere.
    """
    return (
        isinstance(name, str)
        and name != ""
        and "+" not in name
        and _is_utf8(name)
        and not any(ch in _UNICODE_SPACES or ch < " " for ch in name)
    )


def key_id(name: str, signature_type: int, public_key: bytes) -> int:
    """The 32-bit key id of a key: SHA-256(name || 0x0A || type || public key)[:4].

    ``name`` is the key name, ``signature_type`` the one-byte signature type
    (:data:`SIGNATURE_TYPE_ED25519`) and ``public_key`` the key's encoding for
    that type. Read big-endian, as the signature lines and verifier keys carry it.
    """
    digest = hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key
    ).digest()
    return int.from_bytes(digest[:_KEY_ID_LENGTH], "big")


def _raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class Verifier:
    """An Ed25519 note verifier key: a name, its key id and the public key.

    Build one from a verifier key string with :meth:`from_vkey`, or from a
    name and public key with the constructor; the key id is always computed
    from the key, never taken on trust.
    """

    __slots__ = ("_name", "_key_id", "_public_key", "_raw")

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        """A verifier for ``public_key`` under the key name ``name``.

        An invalid name or a key that is not Ed25519 raises ``note-key-invalid``.
        """
        if not is_valid_key_name(name):
            raise _key_invalid("A key name is non-empty and holds no spaces and no '+'.")
        if not isinstance(public_key, Ed25519PublicKey):
            raise _key_invalid("A note verifier key is an Ed25519 public key.")
        self._name = name
        self._public_key = public_key
        self._raw = _raw_public_key(public_key)
        self._key_id = key_id(name, SIGNATURE_TYPE_ED25519, self._raw)

    @classmethod
    def from_vkey(cls, vkey: object) -> Verifier:
        """Parse a verifier key ``<name>+<hex key id>+<base64(0x01 || public key)>``.

        Strict: the key id is eight lowercase hex digits and must be the one
        computed from name and key, the base64 is canonical, the type byte is
        0x01 (Ed25519, the only type this log uses) and the key is 32 bytes.
        Anything else raises ``note-key-invalid``.
        """
        if not isinstance(vkey, str):
            raise _key_invalid("A verifier key is a string.")
        # The name and the hex id hold no '+', the base64 part may: split twice.
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise _key_invalid("A verifier key has the form name+keyid+base64.")
        name, hex_id, key64 = parts
        if not is_valid_key_name(name):
            raise _key_invalid("A key name is non-empty and holds no spaces and no '+'.")
        if len(hex_id) != 8 or any(ch not in "0123456789abcdef" for ch in hex_id):
            raise _key_invalid("A verifier key's id is eight lowercase hex digits.")
        raw = _decode_base64(key64)
        if raw is None or len(raw) == 0:
            raise _key_invalid("A verifier key's key material is not canonical base64.")
        if raw[0] != SIGNATURE_TYPE_ED25519:
            raise _key_invalid("Only Ed25519 (signature type 0x01) verifier keys are supported.")
        if len(raw) != 1 + _ED25519_PUBLIC_KEY_LENGTH:
            raise _key_invalid("An Ed25519 verifier key holds a 32-byte public key.")
        if int(hex_id, 16) != key_id(name, raw[0], raw[1:]):
            raise _key_invalid("The verifier key's id does not match its name and key.")
        return cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))

    @property
    def name(self) -> str:
        """The key name, as it appears in signature lines."""
        return self._name

    @property
    def key_id(self) -> int:
        """The 32-bit key id computed from the name and the public key."""
        return self._key_id

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The Ed25519 public key."""
        return self._public_key

    @property
    def vkey(self) -> str:
        """The verifier key string ``<name>+<hex key id>+<base64(0x01 || key)>``."""
        material = base64.b64encode(bytes([SIGNATURE_TYPE_ED25519]) + self._raw).decode("ascii")
        return f"{self._name}+{self._key_id:08x}+{material}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (no key id) is this key's Ed25519 signature of ``message``."""
        if len(signature) != _ED25519_SIGNATURE_LENGTH:
            return False
        try:
            self._public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Verifier):
            return NotImplemented
        return self._name == other._name and self._raw == other._raw

    def __hash__(self) -> int:
        return hash((self._name, self._raw))

    def __repr__(self) -> str:
        return f"Verifier({self.vkey!r})"


class Signer:
    """An Ed25519 note signing key under a key name.

    The private key object stays inside: a signer signs, and gives out its
    :attr:`verifier`, nothing more. Its ``repr`` shows the public side only.
    """

    __slots__ = ("_private_key", "_verifier")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        """A signer named ``name`` signing with ``private_key``.

        An invalid name or a key that is not Ed25519 raises ``note-key-invalid``.
        """
        if not isinstance(private_key, Ed25519PrivateKey):
            raise _key_invalid("A note signing key is an Ed25519 private key.")
        self._verifier = Verifier(name, private_key.public_key())
        self._private_key = private_key

    @property
    def name(self) -> str:
        """The key name written in signature lines."""
        return self._verifier.name

    @property
    def key_id(self) -> int:
        """The 32-bit key id written in front of each signature."""
        return self._verifier.key_id

    @property
    def verifier(self) -> Verifier:
        """The matching :class:`Verifier`, to publish as :attr:`Verifier.vkey`."""
        return self._verifier

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._private_key.sign(message)

    def __repr__(self) -> str:
        return f"Signer(verifier={self._verifier.vkey!r})"


@dataclass(frozen=True)
class Signature:
    """One signature line of a note: key ``name``, ``key_id`` and the ``signature`` bytes.

    ``signature`` excludes the four key-id bytes that precede it on the wire.
    """

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        """The signature line, ``— <name> <base64(key id || signature)>`` and a newline."""
        payload = self.key_id.to_bytes(_KEY_ID_LENGTH, "big") + self.signature
        return f"{_EM_DASH_PREFIX}{self.name} {base64.b64encode(payload).decode('ascii')}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: its ``text`` and its signatures.

    ``text`` ends with a newline and excludes the blank separator line.
    ``verified`` holds the signatures checked against a known key, in note
    order; ``unverified`` those by keys the caller did not know (witness
    cosignatures, say), kept so they can be passed on, never trusted.
    """

    text: str
    verified: tuple[Signature, ...]
    unverified: tuple[Signature, ...] = ()


def _require_text(text: object) -> str:
    if not isinstance(text, str):
        raise _malformed("A note text is a string.")
    if not text.endswith("\n"):
        raise _malformed("A note text ends with a newline.")
    if not _is_utf8(text) or _has_control_character(text):
        raise _malformed("A note is UTF-8 without control characters other than newline.")
    return text


def sign(text: str, *signers: Signer) -> bytes:
    """The signed note of ``text`` with one signature line per signer, in order.

    ``text`` must end with a newline, be valid UTF-8 and hold no control
    character but newline; ``signers`` must be at least one and no two of
    the same key. What this returns, :func:`open` accepts: the same rules
    and limits apply, and breaking them raises ``note-malformed``.
    """
    _require_text(text)
    if not signers:
        raise _malformed("A note is signed by at least one key.")
    if len(signers) > MAX_SIGNATURES:
        raise _malformed(f"A note carries at most {MAX_SIGNATURES} signatures.")
    if len({(s.name, s.key_id) for s in signers}) != len(signers):
        raise _malformed("A note is signed once per key.")
    message = text.encode("utf-8")
    lines = [Signature(s.name, s.key_id, s.sign(message)).line() for s in signers]
    note = message + b"\n" + "".join(lines).encode("utf-8")
    if len(note) > MAX_NOTE_SIZE:
        raise _malformed(f"A signed note is at most {MAX_NOTE_SIZE} bytes.")
    return note


def _index_verifiers(verifiers: Iterable[Verifier]) -> dict[tuple[str, int], Verifier]:
    known: dict[tuple[str, int], Verifier] = {}
    for verifier in verifiers:
        if not isinstance(verifier, Verifier):
            raise _key_invalid("Notes are opened with Verifier objects.")
        slot = (verifier.name, verifier.key_id)
        # Name and key id identify a key. Two different keys under one pair
        # leave no way to tell which one a signature claims: a broken key list.
        if slot in known and known[slot] != verifier:
            raise _key_invalid(f"Two verifier keys share the name and id {slot[0]}+{slot[1]:08x}.")
        known[slot] = verifier
    return known


def _parse_signature_line(line: str) -> Signature:
    if not line.startswith(_EM_DASH_PREFIX):
        raise _malformed("A signature line starts with an em dash and a space.")
    # Names hold no spaces, so the first space ends the name.
    name, space, payload64 = line[len(_EM_DASH_PREFIX) :].partition(" ")
    if not space or not is_valid_key_name(name):
        raise _malformed("A signature line names its key with a valid key name.")
    payload = _decode_base64(payload64)
    if payload is None or len(payload) <= _KEY_ID_LENGTH:
        raise _malformed("A signature is canonical base64 of a key id and signature bytes.")
    return Signature(
        name=name,
        key_id=int.from_bytes(payload[:_KEY_ID_LENGTH], "big"),
        signature=payload[_KEY_ID_LENGTH:],
    )


def open(note: bytes, verifiers: Iterable[Verifier]) -> Note:  # noqa: A001 - the spec's verb
    """Parse the signed ``note`` and check its signatures against ``verifiers``.

    A signature whose key name and id match one of ``verifiers`` must verify,
    else ``note-bad-signature``; signatures by other keys are kept unverified
    (the spec requires ignoring them: they are how witnesses cosign). If no
    known key signed, ``note-unverified`` -- so an empty ``verifiers`` never
    opens a note. Refused with ``note-malformed``: anything not bytes, over
    :data:`MAX_NOTE_SIZE`, not UTF-8, holding a control character other than
    newline, without a blank line before the signatures, a signature line
    that is not ``— <name> <base64>``, more than :data:`MAX_SIGNATURES`
    signatures, and two signatures by one key (name and key id). The last is
    stricter than Go's note package, which drops repeats: a signer signs once,
    and a repeat could only inflate a count of cosigners.
    """
    known = _index_verifiers(verifiers)
    if not isinstance(note, bytes | bytearray | memoryview):
        raise _malformed("A signed note is bytes.")
    raw = bytes(note)
    if len(raw) > MAX_NOTE_SIZE:
        raise _malformed(f"A signed note is at most {MAX_NOTE_SIZE} bytes.")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("A signed note is valid UTF-8.") from None
    if _has_control_character(decoded):
        raise _malformed("A signed note holds no control characters other than newline.")

    # The text ends at the last blank line; it may itself hold blank lines.
    split = decoded.rfind("\n\n")
    if split < 0:
        raise _malformed("A signed note has a blank line before its signatures.")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block.endswith("\n"):
        raise _malformed("A signed note ends with a signature line and a newline.")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _malformed(f"A signed note carries at most {MAX_SIGNATURES} signatures.")

    message = text.encode("utf-8")
    seen: set[tuple[str, int]] = set()
    verified: list[Signature] = []
    unverified: list[Signature] = []
    for line in lines:
        signature = _parse_signature_line(line)
        slot = (signature.name, signature.key_id)
        if slot in seen:
            raise _malformed(f"The note is signed twice by {slot[0]}+{slot[1]:08x}.")
        seen.add(slot)
        verifier = known.get(slot)
        if verifier is None:
            unverified.append(signature)
        elif verifier.verify(message, signature.signature):
            verified.append(signature)
        else:
            raise AgeVerifyError(
                "note-bad-signature",
                f"The signature by {slot[0]}+{slot[1]:08x} does not verify.",
            )
    if not verified:
        raise AgeVerifyError("note-unverified")
    return Note(text=text, verified=tuple(verified), unverified=tuple(unverified))
