"""Transparency log checkpoints (C2SP tlog-checkpoint v1.0.0).

A checkpoint is a signed note whose text is the log's origin, the tree size
in decimal and the base64 RFC 6962 root hash, one per line, then optional
extension lines::

    example.com/behind-the-sofa
    20852163
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

:class:`Checkpoint` encodes and parses that text exactly: one checkpoint has
one spelling, so two parties comparing checkpoints compare the same bytes.
:func:`open_checkpoint` opens a signed checkpoint note for an expected origin.
Refusals raise :class:`~ageverify.errors.AgeVerifyError` with a
``checkpoint-*`` code (or the ``note-*`` codes of :mod:`.note`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ageverify.errors import AgeVerifyError
from ageverify.translog import note as signed_note

__all__ = ["HASH_SIZE", "MAX_TREE_SIZE", "Checkpoint", "open_checkpoint"]

# --- Wire format: only ever added to. ---------------------------------------
# RFC 6962 Merkle tree hashes are SHA-256.
HASH_SIZE = 32
# Tree sizes are uint64 in every tlog implementation that reads checkpoints.
MAX_TREE_SIZE = (1 << 64) - 1
# ----------------------------------------------------------------------------

# ASCII digits only: int() would also take "١٢" and "1_000".
_TREE_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


def _malformed(description: str) -> AgeVerifyError:
    return AgeVerifyError("checkpoint-malformed", description)


def _is_line(value: object) -> bool:
    """Whether ``value`` can be one non-empty line of a note text."""
    if not isinstance(value, str) or value == "":
        return False
    if any(ch < " " for ch in value):  # newline included: one line
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: ``origin``, tree ``size``, ``root_hash`` and ``extensions``.

    ``origin`` is any non-empty line (the spec recommends a schema-less URL
    but tells clients not to rely on it), ``size`` an integer from 0 to
    2**64 - 1, ``root_hash`` the 32-byte RFC 6962 root, ``extensions`` a
    tuple of non-empty lines. Invalid values raise ``checkpoint-malformed``
    on construction, so every instance encodes.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _is_line(self.origin):
            raise _malformed("The origin is one non-empty line without control characters.")
        # bool is an int; True is not a tree size.
        if type(self.size) is not int or not 0 <= self.size <= MAX_TREE_SIZE:
            raise _malformed("The tree size is an integer from 0 to 2**64 - 1.")
        if type(self.root_hash) is not bytes or len(self.root_hash) != HASH_SIZE:
            raise _malformed(f"The root hash is {HASH_SIZE} bytes.")
        if type(self.extensions) is not tuple or not all(_is_line(x) for x in self.extensions):
            raise _malformed("Extension lines are a tuple of non-empty lines.")

    def encode(self) -> str:
        """The checkpoint's note text, each line ending in a newline."""
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root_hash).decode("ascii"),
            *self.extensions,
        ]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: object) -> Checkpoint:
        """Parse a checkpoint note ``text`` (the note's text, without signatures).

        Strict: every line ends in a newline and none is empty, the size has
        no sign, no leading zero and fits uint64, the root hash is canonical
        padded base64 of 32 bytes. ``parse(c.encode()) == c`` and
        ``parse(t).encode() == t``; anything else raises ``checkpoint-malformed``.
        """
        if not isinstance(text, str):
            raise _malformed("A checkpoint is parsed from text.")
        if not text.endswith("\n"):
            raise _malformed("A checkpoint's lines each end with a newline.")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise _malformed("A checkpoint has an origin, a tree size and a root hash line.")
        origin, size_line, root_line, *extensions = lines
        if not _TREE_SIZE.fullmatch(size_line):
            raise _malformed("The tree size is decimal without sign or leading zeros.")
        size = int(size_line)
        root_hash = _decode_root_hash(root_line)
        # The constructor judges the origin, the size's range and the extensions.
        return cls(origin, size, root_hash, tuple(extensions))

    def sign(self, *signers: signed_note.Signer) -> bytes:
        """This checkpoint as a note signed by ``signers`` (see :func:`.note.sign`).

        The log's key name should be its origin (tlog-checkpoint, "Signatures").
        """
        return signed_note.sign(self.encode(), *signers)


def _decode_root_hash(line: str) -> bytes:
    try:
        raw = base64.b64decode(line.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _malformed("The root hash is standard base64.") from None
    # Only the canonical spelling: leftover bits zero, padding present.
    if len(raw) != HASH_SIZE or base64.b64encode(raw).decode("ascii") != line:
        raise _malformed(f"The root hash is canonical base64 of {HASH_SIZE} bytes.")
    return raw


def open_checkpoint(
    data: bytes, origin: str, verifiers: Iterable[signed_note.Verifier]
) -> tuple[Checkpoint, signed_note.Note]:
    """Open the signed checkpoint ``data`` of the log ``origin`` against ``verifiers``.

    Returns the checkpoint and the opened note (whose ``unverified``
    signatures are cosignatures a caller may count, never trust). The note's
    errors are those of :func:`.note.open`; a text that is no checkpoint
    raises ``checkpoint-malformed``, a checkpoint of another origin
    ``checkpoint-wrong-origin`` -- a valid signature by the right key does not
    make another log's tree head this log's.
    """
    opened = signed_note.open(data, verifiers)
    checkpoint = Checkpoint.parse(opened.text)
    if checkpoint.origin != origin:
        raise AgeVerifyError(
            "checkpoint-wrong-origin",
            # Bounded: the origin line came from the network.
            f"The checkpoint is for the log {checkpoint.origin[:200]!r}, not {origin!r}.",
        )
    return checkpoint, opened
