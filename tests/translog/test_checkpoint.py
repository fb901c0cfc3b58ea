"""C2SP tlog-checkpoint: the spec's and Go's checkpoints, strict parsing, signed round trips."""

from __future__ import annotations

import base64
import hashlib
from contextlib import AbstractContextManager

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ageverify.errors import CODES, AgeVerifyError
from ageverify.translog import note
from ageverify.translog.checkpoint import MAX_TREE_SIZE, Checkpoint, open_checkpoint

# --- Vectors ------------------------------------------------------------------

# tlog-checkpoint spec example: a checkpoint signed by a key the spec does not publish.
SPEC_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_NOTE = (
    SPEC_TEXT
    + "\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Z"
    "hcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
).encode()
# Go sumdb/tlog TestFormatTree: Go's checksum database tree note, whose first
# line is an origin with spaces. The hash is the RFC 6962 leaf hash of "hello world".
GO_TREE_TEXT = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"

ORIGIN = "ageverify.example/log"
ROOT = hashlib.sha256(b"root").digest()


def refused(code: str) -> AbstractContextManager[pytest.ExceptionInfo[AgeVerifyError]]:
    """pytest.raises for an AgeVerifyError carrying exactly ``code``."""
    assert code in CODES
    return pytest.raises(AgeVerifyError, match=f"^{code}:")


def log_signer(name: str = ORIGIN) -> note.Signer:
    return note.Signer(name, Ed25519PrivateKey.generate())


# --- Known answers ------------------------------------------------------------


def test_spec_example_parses_and_encodes_back() -> None:
    checkpoint = Checkpoint.parse(SPEC_TEXT)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint.encode() == SPEC_TEXT


def test_spec_example_note_needs_its_log_key() -> None:
    # Its key is not published: the note parses, but nothing known signed it.
    with refused("note-unverified"):
        open_checkpoint(SPEC_NOTE, "example.com/behind-the-sofa", [log_signer().verifier])


def test_go_tree_note_is_a_checkpoint() -> None:
    checkpoint = Checkpoint.parse(GO_TREE_TEXT)
    assert checkpoint.origin == "go.sum database tree"
    assert checkpoint.size == 123456789012
    assert checkpoint.root_hash == hashlib.sha256(b"\x00hello world").digest()
    assert checkpoint.encode() == GO_TREE_TEXT


def test_encode_layout() -> None:
    checkpoint = Checkpoint(ORIGIN, 0, bytes(32), ("ext one", "ext-two"))
    assert checkpoint.encode() == (
        f"{ORIGIN}\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next one\next-two\n"
    )


# --- Signed round trips ---------------------------------------------------------


def test_signed_checkpoint_opens_for_its_origin() -> None:
    signer = log_signer()
    checkpoint = Checkpoint(ORIGIN, 42, ROOT)
    opened, signed_note = open_checkpoint(checkpoint.sign(signer), ORIGIN, [signer.verifier])
    assert opened == checkpoint
    assert signed_note.text == checkpoint.encode()


def test_witness_cosignature_is_tolerated_and_reported() -> None:
    signer, witness = log_signer(), log_signer("witness.example/w")
    signed = note.sign(Checkpoint(ORIGIN, 7, ROOT).encode(), signer, witness)
    checkpoint, opened = open_checkpoint(signed, ORIGIN, [signer.verifier])
    assert checkpoint.size == 7
    assert [s.name for s in opened.unverified] == ["witness.example/w"]


def test_checkpoint_of_another_origin_is_refused() -> None:
    # Signed by the pinned key, but for another log: still not this log's head.
    signer = log_signer()
    signed = Checkpoint("other.example/log", 42, ROOT).sign(signer)
    with refused("checkpoint-wrong-origin"):
        open_checkpoint(signed, ORIGIN, [signer.verifier])


def test_checkpoint_by_an_unknown_key_is_refused() -> None:
    signed = Checkpoint(ORIGIN, 42, ROOT).sign(log_signer())
    with refused("note-unverified"):
        open_checkpoint(signed, ORIGIN, [log_signer().verifier])


def test_signed_note_that_is_no_checkpoint_is_refused() -> None:
    signer = log_signer()
    with refused("checkpoint-malformed"):
        open_checkpoint(note.sign(f"{ORIGIN}\n42\n", signer), ORIGIN, [signer.verifier])


def test_tampered_size_fails_the_signature() -> None:
    signer = log_signer()
    signed = Checkpoint(ORIGIN, 42, ROOT).sign(signer).replace(b"\n42\n", b"\n43\n")
    with refused("note-bad-signature"):
        open_checkpoint(signed, ORIGIN, [signer.verifier])


# --- Strict parsing -------------------------------------------------------------

B64_ROOT = base64.b64encode(ROOT).decode()
URLSAFE_ROOT = base64.urlsafe_b64encode(bytes([0xFF]) * 32).decode()
GO_BAD_HASH = "Tszz" + "RgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG="

MALFORMED_TEXTS = {
    "empty": "",
    "no_final_newline": f"{ORIGIN}\n1\n{B64_ROOT}",
    "two_lines": f"{ORIGIN}\n1\n",
    "empty_origin": f"\n1\n{B64_ROOT}\n",
    "empty_extension": f"{ORIGIN}\n1\n{B64_ROOT}\n\n",
    "empty_extension_between": f"{ORIGIN}\n1\n{B64_ROOT}\na\n\nb\n",
    "leading_zero": f"{ORIGIN}\n01\n{B64_ROOT}\n",
    "double_zero": f"{ORIGIN}\n00\n{B64_ROOT}\n",
    "plus_sign": f"{ORIGIN}\n+1\n{B64_ROOT}\n",
    "minus_sign": f"{ORIGIN}\n-1\n{B64_ROOT}\n",
    "minus_zero": f"{ORIGIN}\n-0\n{B64_ROOT}\n",
    "hex_size": f"{ORIGIN}\n0x1\n{B64_ROOT}\n",
    "underscore_size": f"{ORIGIN}\n1_000\n{B64_ROOT}\n",
    "arabic_digits": f"{ORIGIN}\n\u0661\u0662\n{B64_ROOT}\n",
    "fullwidth_digit": f"{ORIGIN}\n\uff11\n{B64_ROOT}\n",
    "space_in_size": f"{ORIGIN}\n 1\n{B64_ROOT}\n",
    "empty_size": f"{ORIGIN}\n\n{B64_ROOT}\n",
    "size_2_64": f"{ORIGIN}\n{MAX_TREE_SIZE + 1}\n{B64_ROOT}\n",
    "size_huge": f"{ORIGIN}\n{'9' * 5000}\n{B64_ROOT}\n",
    "root_31_bytes": f"{ORIGIN}\n1\n{base64.b64encode(ROOT[:31]).decode()}\n",
    "root_33_bytes": f"{ORIGIN}\n1\n{base64.b64encode(ROOT + b'x').decode()}\n",
    "root_unpadded": f"{ORIGIN}\n1\n{B64_ROOT.rstrip('=')}\n",
    "root_urlsafe": f"{ORIGIN}\n1\n{URLSAFE_ROOT}\n",
    "root_noncanonical_bits": f"{ORIGIN}\n1\n{'A' * 42}B=\n",
    "root_with_space": f"{ORIGIN}\n1\n {B64_ROOT}\n",
    "root_non_ascii": f"{ORIGIN}\n1\n{B64_ROOT[:-2]}é=\n",
    # Go's TestParseTree bad trees.
    "go_hex_size": "go.sum database tree\n0xabcdef\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n",
    "go_bad_hash": f"go.sum database tree\n123456789012\n{GO_BAD_HASH}\n",
    "go_junk_without_newline": GO_TREE_TEXT + "JOE",
    "control_character": f"{ORIGIN}\x07\n1\n{B64_ROOT}\n",
    "carriage_return": f"{ORIGIN}\r\n1\r\n{B64_ROOT}\r\n",
    "surrogate_origin": f"\ud800\n1\n{B64_ROOT}\n",
}


@pytest.mark.parametrize("text", MALFORMED_TEXTS.values(), ids=MALFORMED_TEXTS.keys())
def test_malformed_checkpoint_text_is_refused(text: str) -> None:
    with refused("checkpoint-malformed"):
        Checkpoint.parse(text)


def test_parse_refuses_bytes() -> None:
    with refused("checkpoint-malformed"):
        Checkpoint.parse(SPEC_TEXT.encode())


@pytest.mark.parametrize(
    "text",
    [
        f"{ORIGIN}\n0\n{B64_ROOT}\n",
        f"{ORIGIN}\n{MAX_TREE_SIZE}\n{B64_ROOT}\n",
        f"origin with spaces + plus\n1\n{B64_ROOT}\n",
        f"{ORIGIN}\n1\n{B64_ROOT}\nextension\n— looks like a signature\n",
        GO_TREE_TEXT + "JOE\n",
    ],
    ids=["size_zero", "size_max", "free_form_origin", "extensions", "go_junk_line"],
)
def test_valid_checkpoint_texts_parse_and_encode_back(text: str) -> None:
    assert Checkpoint.parse(text).encode() == text


@pytest.mark.parametrize(
    ("defect", "fields"),
    [
        ("empty_origin", ("", 1, ROOT, ())),
        ("newline_in_origin", ("a\nb", 1, ROOT, ())),
        ("origin_not_str", (b"a", 1, ROOT, ())),
        ("negative_size", (ORIGIN, -1, ROOT, ())),
        ("size_2_64", (ORIGIN, MAX_TREE_SIZE + 1, ROOT, ())),
        ("bool_size", (ORIGIN, True, ROOT, ())),
        ("str_size", (ORIGIN, "1", ROOT, ())),
        ("short_root", (ORIGIN, 1, ROOT[:31], ())),
        ("bytearray_root", (ORIGIN, 1, bytearray(ROOT), ())),
        ("extension_list", (ORIGIN, 1, ROOT, ["a"])),
        ("empty_extension", (ORIGIN, 1, ROOT, ("",))),
        ("newline_in_extension", (ORIGIN, 1, ROOT, ("a\nb",))),
    ],
)
def test_invalid_fields_are_refused(defect: str, fields: tuple[object, ...]) -> None:
    with refused("checkpoint-malformed"):
        Checkpoint(*fields)  # type: ignore[arg-type]


# --- Properties -----------------------------------------------------------------

_LINE = st.text(st.characters(codec="utf-8", min_codepoint=0x20), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    origin=_LINE,
    size=st.integers(0, MAX_TREE_SIZE),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_LINE, max_size=3).map(tuple),
)
def test_encode_then_parse_is_identity(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> None:
    checkpoint = Checkpoint(origin, size, root, extensions)
    assert Checkpoint.parse(checkpoint.encode()) == checkpoint


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_parse_raises_only_coded_errors(text: str) -> None:
    try:
        checkpoint = Checkpoint.parse(text)
    except AgeVerifyError as error:
        assert error.code == "checkpoint-malformed"
    else:
        assert checkpoint.encode() == text


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_parse_of_mutated_text_raises_only_coded_errors(data: st.DataObject) -> None:
    base = f"{ORIGIN}\n1234\n{B64_ROOT}\next\n"
    position = data.draw(st.integers(0, len(base)))
    cut = data.draw(st.integers(0, 3))
    insert = data.draw(st.text(max_size=3) | st.sampled_from(["\n", "0", "=", "+", " "]))
    text = base[:position] + insert + base[position + cut :]
    try:
        checkpoint = Checkpoint.parse(text)
    except AgeVerifyError as error:
        assert error.code == "checkpoint-malformed"
    else:
        assert checkpoint.encode() == text
