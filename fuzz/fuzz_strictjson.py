"""Fuzz ``ageverify.formats.strictjson.loads``: bytes and text, any depth limit.

Contract: a value or a coded AgeVerifyError. A value must survive
``dumps`` and read back equal: what strict JSON accepts it can also write.
"""

from __future__ import annotations

from functools import partial

from harness import expect_contract, instrumented, main, text_of

with instrumented():
    from ageverify.formats import strictjson


def test_one_input(data: bytes) -> None:
    """Parse ``data`` as bytes, and as text, with a depth limit taken from its first byte."""
    if not data:
        return
    max_depth = data[0] % 20 + 1
    body = data[1:]
    for source in (body, text_of(body)):
        value = expect_contract(partial(strictjson.loads, source, max_depth=max_depth))
        if value is not None:
            again = strictjson.loads(strictjson.dumps(value), max_depth=max_depth)
            assert again == value, (value, again)


if __name__ == "__main__":
    main(test_one_input)
