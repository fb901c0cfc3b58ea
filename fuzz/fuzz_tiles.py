"""Fuzz ``ageverify.translog.tiles``: tile and entry bundle paths, hash tiles, entry bundles.

The first byte picks the reader and, for tile data, the width expected.
Contract: a value or a coded AgeVerifyError; a path that parses is the
canonical spelling of what it names, and tile data that decodes encodes back
to the same bytes.
"""

from __future__ import annotations

from harness import expect_contract, instrumented, main, text_of

with instrumented():
    from ageverify.translog import tiles


def test_one_input(data: bytes) -> None:
    """Read ``data[1:]`` with the reader ``data[0] % 4`` picks."""
    if not data:
        return
    reader, body = data[0] % 4, data[1:]
    # The width a caller expects: 1 to 256, or (bundles only) None for "whatever is there".
    width = data[0] // 4 * 4 + 1 if data[0] >= 4 else tiles.TILE_WIDTH
    if reader == 0:
        tile = expect_contract(lambda: tiles.parse_tile_path(text_of(body)))
        if tile is not None:
            assert tile.path == text_of(body)
    elif reader == 1:
        bundle = expect_contract(lambda: tiles.parse_entry_bundle_path(text_of(body)))
        if bundle is not None:
            assert bundle.path == text_of(body)
    elif reader == 2:
        hashes = expect_contract(lambda: tiles.decode_hash_tile(body, width))
        if hashes is not None:
            assert tiles.encode_hash_tile(hashes) == body
    else:
        expected = None if data[0] < 4 else width
        entries = expect_contract(lambda: tiles.decode_entry_bundle(body, expected))
        if entries is not None:
            assert tiles.encode_entry_bundle(entries) == body


if __name__ == "__main__":
    main(test_one_input)
