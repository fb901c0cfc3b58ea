"""Fuzz ``ageverify.translog.note``: opening signed notes and reading verifier keys.

The first byte picks the input's shape. 0: the bytes are a signed note,
opened against the fixed log key (seeds are signed with it, so a fuzzer that
keeps a signature line intact gets past it). 1: the bytes are a note text
that the harness signs with the log key before opening, so every text the
signer accepts is opened too. 2: the bytes are a verifier key
(``name+keyid+base64``). Contract: a value or a coded AgeVerifyError; a note
the log key signed opens with that signature verified.
"""

from __future__ import annotations

from harness import LOG_KEY, LOG_ORIGIN, WITNESS_KEY, expect_contract, instrumented, main, text_of

with instrumented():
    from ageverify.translog import note

SIGNER = note.Signer(LOG_ORIGIN, LOG_KEY)
WITNESS = note.Signer("witness.fuzz.example", WITNESS_KEY)
VERIFIERS = (SIGNER.verifier,)


def test_one_input(data: bytes) -> None:
    """Open or read ``data[1:]`` in the shape ``data[0]`` picks."""
    if not data:
        return
    shape, body = data[0] % 3, data[1:]
    if shape == 0:
        expect_contract(lambda: note.open(body, VERIFIERS))
    elif shape == 1:
        signed = expect_contract(lambda: note.sign(text_of(body), SIGNER, WITNESS))
        if signed is not None:
            opened = note.open(signed, VERIFIERS)
            assert [s.name for s in opened.verified] == [LOG_ORIGIN]
    else:
        verifier = expect_contract(lambda: note.Verifier.from_vkey(text_of(body)))
        if verifier is not None:
            assert note.Verifier.from_vkey(verifier.vkey) == verifier


if __name__ == "__main__":
    main(test_one_input)
