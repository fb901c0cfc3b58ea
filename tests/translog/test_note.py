"""C2SP signed notes: the spec's and Go's known notes, round trips, and refusals.

Known-good values come from two independent sources: the example of the
signed-note spec (c2sp.org/signed-note) and the PeterNeumann / EnochRoot keys
and notes of Go's golang.org/x/mod/sumdb/note documentation and tests.
"""

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

# --- Vectors ------------------------------------------------------------------

# signed-note spec, "Verifier keys / Example": a verifier key and a note it verifies.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n"
    "\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYj"
    "OBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()
# signed-note spec, opening example: a note by a key the spec does not publish.
QUASIMODO_NOTE = (
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed è subito sera.\n"
    "\n"
    "— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU"
    "0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
).encode()

# Go sumdb/note: the signer key PRIVATE+KEY+PeterNeumann+c74f20a3+<base64(0x01 || seed)>
# and its verifier key. Go's own text format for private keys is not used by
# this project; the test takes the seed out of it.
PETER_SKEY_MATERIAL = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
    "fqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGw"
    "nWLox33WWd1RvMc+QQ=\n"
)
# Go's Sign output for TEXT by PeterNeumann (TestSign "want").
PETER_NOTE = (TEXT + "\n" + PETER_SIG).encode()


def peter_signer() -> note.Signer:
    seed = base64.b64decode(PETER_SKEY_MATERIAL)
    assert seed[0] == note.SIGNATURE_TYPE_ED25519
    return note.Signer("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed[1:]))


PETER = note.Verifier.from_vkey(PETER_VKEY)
ENOCH = note.Verifier.from_vkey(ENOCH_VKEY)


def refused(code: str) -> AbstractContextManager[pytest.ExceptionInfo[AgeVerifyError]]:
    """pytest.raises for an AgeVerifyError carrying exactly ``code``."""
    assert code in CODES
    return pytest.raises(AgeVerifyError, match=f"^{code}:")


# --- Known answers ------------------------------------------------------------


def test_spec_example_verifies() -> None:
    opened = note.open(SPEC_NOTE, [note.Verifier.from_vkey(SPEC_VKEY)])
    assert opened.text == "This is an example message.\n"
    assert [(s.name, s.key_id) for s in opened.verified] == [("example.com/foo", 0x530D903A)]
    assert opened.unverified == ()


def test_spec_opening_example_parses_but_no_known_key_signed_it() -> None:
    with refused("note-unverified"):
        note.open(QUASIMODO_NOTE, [PETER])


def test_signing_reproduces_go_note_byte_for_byte() -> None:
    # Ed25519 is deterministic, so the same key and text give Go's exact bytes.
    assert note.sign(TEXT, peter_signer()) == PETER_NOTE


def test_signer_publishes_go_verifier_key() -> None:
    signer = peter_signer()
    assert signer.key_id == 0xC74F20A3
    assert signer.verifier.vkey == PETER_VKEY
    assert signer.verifier == PETER
    assert "PRIVATE" not in repr(signer) and PETER_VKEY in repr(signer)


def test_key_id_is_truncated_sha256_of_name_type_and_key() -> None:
    raw = base64.b64decode(PETER_VKEY.split("+", 2)[2])
    digest = hashlib.sha256(b"PeterNeumann\n" + raw).digest()
    assert PETER.key_id == int.from_bytes(digest[:4], "big") == 0xC74F20A3
    assert note.key_id("PeterNeumann", raw[0], raw[1:]) == PETER.key_id


def test_vkey_round_trips() -> None:
    for vkey in (PETER_VKEY, ENOCH_VKEY, SPEC_VKEY):
        assert note.Verifier.from_vkey(vkey).vkey == vkey


def test_go_open_one_known_one_unknown_signature() -> None:
    opened = note.open((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [PETER])
    assert opened.text == TEXT
    assert [s.name for s in opened.verified] == ["PeterNeumann"]
    assert [(s.name, s.key_id) for s in opened.unverified] == [("EnochRoot", 0xAF0CFE78)]
    assert opened.unverified[0].line() == ENOCH_SIG


def test_go_open_both_known() -> None:
    opened = note.open((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [ENOCH, PETER])
    assert [s.name for s in opened.verified] == ["PeterNeumann", "EnochRoot"]
    assert opened.unverified == ()
    assert "".join(s.line() for s in opened.verified) == PETER_SIG + ENOCH_SIG


def test_go_open_both_unknown_is_unverified() -> None:
    with refused("note-unverified"):
        note.open((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [])


def test_a_repeated_verifier_object_is_harmless() -> None:
    assert note.open(PETER_NOTE, [PETER, ENOCH, PETER, note.Verifier.from_vkey(PETER_VKEY)])


# --- Unknown signatures: cosignatures are kept, never trusted -------------------


def _other_signer(name: str) -> note.Signer:
    return note.Signer(name, Ed25519PrivateKey.generate())


def test_extra_unknown_cosignature_still_opens() -> None:
    log = _other_signer("log.example/ageverify")
    witness = _other_signer("witness.example/w1")
    signed = note.sign("log.example/ageverify\n1\nAAAA\n", log, witness)
    opened = note.open(signed, [log.verifier])
    assert [s.name for s in opened.verified] == ["log.example/ageverify"]
    assert [s.name for s in opened.unverified] == ["witness.example/w1"]


def test_unknown_signature_with_a_garbage_body_is_ignored() -> None:
    # Unknown keys may use any signature type and length: their bytes are not judged.
    cosignature = note.Signature("witness.example", 0x01020304, b"\x04" + b"\x00" * 71).line()
    opened = note.open(PETER_NOTE + cosignature.encode(), [PETER])
    assert opened.unverified[0].signature == b"\x04" + b"\x00" * 71


def test_note_signed_only_by_an_unknown_key_is_refused() -> None:
    stranger = _other_signer("PeterNeumann")  # same name, other key: another key id
    with refused("note-unverified"):
        note.open(note.sign(TEXT, stranger), [PETER])


def test_same_key_id_under_another_name_is_unknown() -> None:
    # The spec: signatures matching a known key in name or id, but not both, are ignored.
    line = PETER_SIG.replace("PeterNeumann", "PeterNeumann2")
    with refused("note-unverified"):
        note.open((TEXT + "\n" + line).encode(), [PETER])


def test_bad_signature_by_a_known_key_refuses_the_whole_note() -> None:
    forged = note.Signature("PeterNeumann", PETER.key_id, bytes(64)).line()
    with refused("note-bad-signature"):
        note.open((TEXT + "\n" + ENOCH_SIG + forged).encode(), [PETER, ENOCH])
    # Go's TestOpen "Invalid signature": four base64 characters inserted.
    longer = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with refused("note-bad-signature"):
        note.open((TEXT + "\n" + longer).encode(), [PETER])


def test_changed_text_fails_the_known_signature() -> None:
    with refused("note-bad-signature"):
        note.open(PETER_NOTE.replace(b"problem,", b"problems,"), [PETER])


def test_empty_verifier_list_never_opens() -> None:
    with refused("note-unverified"):
        note.open(PETER_NOTE, [])


def test_two_keys_under_one_name_and_id_are_refused() -> None:
    # A key list where one name+id names two keys cannot say which to trust.
    impostor = note.Verifier("PeterNeumann", Ed25519PrivateKey.generate().public_key())
    object.__setattr__(impostor, "_key_id", PETER.key_id)  # a forced collision
    with refused("note-key-invalid"):
        note.open(PETER_NOTE, [PETER, impostor])


# --- Malformed notes ------------------------------------------------------------

MALFORMED_NOTES = {
    # Go's TestOpen badMsgs.
    "text_only": TEXT,
    "no_signature_after_blank_line": TEXT + "\n",
    "last_line_without_newline": TEXT + "\n" + PETER_SIG[:-1],
    "control_character": "\x01" + TEXT + "\n" + PETER_SIG,
    "name_with_space": TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name"),
    "line_after_signatures": TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    # And more.
    "empty": "",
    "tab": TEXT.replace(" ", "\t", 1) + "\n" + PETER_SIG,
    "carriage_return": TEXT.replace("\n", "\r\n") + "\n" + PETER_SIG,
    "nul": TEXT + "\x00\n" + PETER_SIG,
    "hyphen_not_em_dash": TEXT + "\n" + PETER_SIG.replace("—", "-"),
    "en_dash": TEXT + "\n" + PETER_SIG.replace("—", "–"),
    "no_space_after_dash": TEXT + "\n" + PETER_SIG.replace("— ", "—"),
    "two_spaces_after_name": TEXT + "\n" + PETER_SIG.replace("Neumann ", "Neumann  "),
    "no_signature_part": TEXT + "\n— PeterNeumann\n",
    "empty_signature": TEXT + "\n— PeterNeumann \n",
    "empty_name": TEXT + "\n— " + PETER_SIG[len("— PeterNeumann ") :],
    "plus_in_name": TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann"),
    "nbsp_in_name": TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter\u00a0Neumann"),
    "ideographic_space_in_name": TEXT
    + "\n"
    + PETER_SIG.replace("PeterNeumann", "Peter\u3000Neumann"),
    "trailing_space": TEXT + "\n" + PETER_SIG.replace("=\n", "= \n"),
    "bad_base64": TEXT + "\n" + PETER_SIG.replace("x08go", "x08g!"),
    "unpadded_base64": TEXT + "\n" + PETER_SIG.replace("=\n", "\n"),
    "urlsafe_base64": TEXT + "\n" + PETER_SIG.replace("/", "_"),
    "noncanonical_base64_bits": TEXT + "\n" + PETER_SIG.replace("AM=\n", "AN=\n"),
    "signature_of_only_a_key_id": TEXT + "\n— PeterNeumann x08gow==\n",
    "duplicate_signature": TEXT + "\n" + PETER_SIG + PETER_SIG,
    "duplicate_second_signature": TEXT + "\n" + PETER_SIG + ENOCH_SIG + ENOCH_SIG,
    # Go's "duplicated verified and unverified" case: a second EnochRoot line
    # with other bytes. Go keeps both; a key signs once, so this is refused.
    "same_key_two_signatures": TEXT
    + "\n"
    + PETER_SIG
    + ENOCH_SIG
    + ENOCH_SIG[:60]
    + "ABCD"
    + ENOCH_SIG[60:],
    "too_many_signatures": TEXT + "\n" + PETER_SIG * (note.MAX_SIGNATURES + 1),
}


@pytest.mark.parametrize("message", MALFORMED_NOTES.values(), ids=MALFORMED_NOTES.keys())
def test_malformed_note_is_refused(message: str) -> None:
    with refused("note-malformed"):
        note.open(message.encode(), [PETER, ENOCH])


@pytest.mark.parametrize(
    ("defect", "data"),
    [
        ("invalid_utf8", b"\xff" + PETER_NOTE),
        ("overlong_utf8_newline", PETER_NOTE.replace(b"\n\n", b"\n\xc0\x8a")),
        ("utf8_surrogate", PETER_NOTE.replace(b"If", b"\xed\xa0\x80")),
        ("too_large", PETER_NOTE + b"\x2d" * note.MAX_NOTE_SIZE),
    ],
)
def test_malformed_bytes_are_refused(defect: str, data: bytes) -> None:
    with refused("note-malformed"):
        note.open(data, [PETER])


def test_duplicate_unknown_signature_is_refused() -> None:
    with refused("note-malformed"):
        note.open((TEXT + "\n" + PETER_SIG + ENOCH_SIG + ENOCH_SIG).encode(), [PETER])


def test_blank_line_between_signatures_moves_them_into_the_text() -> None:
    # The text ends at the last blank line, so PETER_SIG becomes text that
    # EnochRoot never signed: a known key's signature fails, not the syntax.
    message = TEXT + "\n" + PETER_SIG + "\n" + ENOCH_SIG
    with refused("note-bad-signature"):
        note.open(message.encode(), [PETER, ENOCH])
    with refused("note-unverified"):
        note.open(message.encode(), [PETER])


def test_not_bytes_is_refused() -> None:
    with refused("note-malformed"):
        note.open(PETER_NOTE.decode(), [PETER])  # type: ignore[arg-type]


def test_many_distinct_unknown_signatures_are_refused_past_the_limit() -> None:
    def line(i: int) -> str:
        return note.Signature(f"w{i}.example", i, bytes(64)).line()

    at_limit = TEXT + "\n" + PETER_SIG + "".join(line(i) for i in range(note.MAX_SIGNATURES - 1))
    assert len(note.open(at_limit.encode(), [PETER]).unverified) == note.MAX_SIGNATURES - 1
    with refused("note-malformed"):
        note.open((at_limit + line(note.MAX_SIGNATURES)).encode(), [PETER])


def test_the_spec_minimum_of_16_signatures_opens() -> None:
    signers = [_other_signer(f"w{i}.example") for i in range(16)]
    assert len(note.open(note.sign(TEXT, *signers), [signers[7].verifier]).unverified) == 15


# --- Verifier keys --------------------------------------------------------------


def _vkey_manglings() -> list[str]:
    # Go's TestNewVerifier: every proper substring and every one-byte increment.
    n = len(PETER_VKEY)
    mangled = {PETER_VKEY[i:j] for i in range(n + 1) for j in range(i + 1, n + 1)}
    for i, ch in enumerate(PETER_VKEY):
        mangled.add(PETER_VKEY[:i] + chr(ord(ch) + 1) + PETER_VKEY[i + 1 :])
    mangled.discard(PETER_VKEY)
    return sorted(mangled)


def test_every_mangled_verifier_key_is_refused() -> None:
    for vkey in _vkey_manglings():
        with refused("note-key-invalid"):
            note.Verifier.from_vkey(vkey)


@pytest.mark.parametrize(
    ("defect", "vkey"),
    [
        # Go's TestNewVerifier: key ids adjusted so only the named defect remains.
        (
            "wrong_key_length",
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        ),
        ("unknown_algorithm", "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        ("uppercase_key_id", PETER_VKEY.replace("c74f20a3", "C74F20A3")),
        ("short_key_id", PETER_VKEY.replace("c74f20a3", "c74f20a")),
        ("signed_key_id", PETER_VKEY.replace("c74f20a3", "+74f20a3")),
        ("empty_name", PETER_VKEY.removeprefix("PeterNeumann")),
        ("space_in_name", PETER_VKEY.replace("Peter", "Peter ")),
        ("two_parts", "PeterNeumann+c74f20a3"),
        ("non_ascii_base64", PETER_VKEY[:-1] + "Ŵ"),
        ("empty_key", "PeterNeumann+c74f20a3+"),
        ("not_a_string", b"PeterNeumann"),
    ],
)
def test_invalid_verifier_key_is_refused(defect: str, vkey: str) -> None:
    with refused("note-key-invalid"):
        note.Verifier.from_vkey(vkey)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("example.com/log", True),
        ("PeterNeumann", True),
        ("ünïcödé/名前", True),
        ("—", True),
        ("", False),
        ("a+b", False),
        ("a b", False),
        ("a\tb", False),
        ("a\nb", False),
        ("a\u0085b", False),
        ("a\u00a0b", False),
        ("a\u2003b", False),
        ("a\u2028b", False),
        ("a\u3000b", False),
        ("a\x1fb", False),
        ("a\ud800b", False),
        (None, False),
    ],
)
def test_key_name_validity(name: object, valid: bool) -> None:
    assert note.is_valid_key_name(name) is valid


def test_signer_refuses_invalid_name_and_wrong_key_type() -> None:
    with refused("note-key-invalid"):
        note.Signer("a b", Ed25519PrivateKey.generate())
    with refused("note-key-invalid"):
        note.Signer("ok", "not a key")  # type: ignore[arg-type]


# --- Signing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("defect", "text"),
    [
        ("no_final_newline", TEXT[:-1]),
        ("empty", ""),
        ("control_character", "a\x07\n"),
        ("carriage_return", "a\r\n"),
        ("surrogate", "\ud800\n"),
    ],
)
def test_sign_refuses_text_a_note_cannot_hold(defect: str, text: str) -> None:
    with refused("note-malformed"):
        note.sign(text, peter_signer())


def test_sign_needs_one_signer_per_key() -> None:
    with refused("note-malformed"):
        note.sign(TEXT)
    with refused("note-malformed"):
        note.sign(TEXT, peter_signer(), peter_signer())


def test_text_with_blank_lines_round_trips() -> None:
    signer = peter_signer()
    for text in ("\n", "a\n\n", "a\n\nb\n", "a\n\n\n", "— x y\n\n— z\n"):
        assert note.open(note.sign(text, signer), [PETER]).text == text


# Anything a note may hold: UTF-8 (no lone surrogates), no control below U+0020 but newline.
_TEXT_CHARS = st.characters(codec="utf-8", min_codepoint=0x20) | st.just("\n")


@settings(max_examples=200, deadline=None)
@given(st.text(_TEXT_CHARS, max_size=200).map(lambda t: t + "\n"))
def test_whatever_sign_writes_open_reads_back(text: str) -> None:
    signed = note.sign(text, peter_signer())
    opened = note.open(signed, [PETER])
    assert opened.text == text
    assert signed == (text + "\n" + opened.verified[0].line()).encode()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_open_raises_only_coded_errors_on_arbitrary_bytes(data: bytes) -> None:
    try:
        note.open(data, [PETER])
    except AgeVerifyError as error:
        assert error.code in {"note-malformed", "note-unverified", "note-bad-signature"}


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_open_raises_only_coded_errors_on_mutated_notes(data: st.DataObject) -> None:
    base = (TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    position = data.draw(st.integers(0, len(base)))
    cut = data.draw(st.integers(0, 4))
    insert = data.draw(st.binary(max_size=4) | st.sampled_from([b"\n", b" ", "—".encode()]))
    mutated = base[:position] + insert + base[position + cut :]
    try:
        opened = note.open(mutated, [PETER, ENOCH])
    except AgeVerifyError as error:
        assert error.code in {"note-malformed", "note-unverified", "note-bad-signature"}
    else:
        # Whatever still opens carries valid signatures over its text.
        assert opened.verified


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_from_vkey_raises_only_coded_errors(vkey: str) -> None:
    try:
        note.Verifier.from_vkey(vkey)
    except AgeVerifyError as error:
        assert error.code == "note-key-invalid"
