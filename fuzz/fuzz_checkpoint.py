"""Fuzz ``ageverify.translog.checkpoint``: checkpoint texts and signed checkpoints.

The first byte picks the input's shape. 0: the bytes are a checkpoint text
for ``Checkpoint.parse``; what parses must encode back to the same text. 1:
the bytes are a signed checkpoint opened with ``open_checkpoint`` against the
fixed log key and origin (seeds are signed with it). 2: the bytes are a text
the harness signs before opening it, so the checkpoint grammar is fuzzed
behind a valid signature. Contract: a value or a coded AgeVerifyError.
"""

from __future__ import annotations

from harness import LOG_KEY, LOG_ORIGIN, expect_contract, instrumented, main, text_of

with instrumented():
    from ageverify.translog import checkpoint, note

SIGNER = note.Signer(LOG_ORIGIN, LOG_KEY)
VERIFIERS = (SIGNER.verifier,)


def test_one_input(data: bytes) -> None:
    """Parse or open ``data[1:]`` in the shape ``data[0]`` picks."""
    if not data:
        return
    shape, body = data[0] % 3, data[1:]
    if shape == 0:
        text = text_of(body)
        parsed = expect_contract(lambda: checkpoint.Checkpoint.parse(text))
        if parsed is not None:
            assert parsed.encode() == text
    elif shape == 1:
        expect_contract(lambda: checkpoint.open_checkpoint(body, LOG_ORIGIN, VERIFIERS))
    else:
        signed = expect_contract(lambda: note.sign(text_of(body), SIGNER))
        if signed is not None:
            expect_contract(lambda: checkpoint.open_checkpoint(signed, LOG_ORIGIN, VERIFIERS))


if __name__ == "__main__":
    main(test_one_input)
