"""C2SP tlog-tiles: paths, which tiles a tree has, hash tiles and entry bundles.

Known answers are the tlog-tiles spec's examples (index 1234067, trees of
256 and 70,000 entries) and the paths of Go's sumdb/tlog tests rewritten for
tlog-tiles, which drops Go's height element (``tile/<H>/<L>/...``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ageverify.errors import CODES, AgeVerifyError
from ageverify.translog import tiles
from ageverify.translog.tiles import EntryBundle, Tile


def refused(code: str) -> AbstractContextManager[pytest.ExceptionInfo[AgeVerifyError]]:
    """pytest.raises for an AgeVerifyError carrying exactly ``code``."""
    assert code in CODES
    return pytest.raises(AgeVerifyError, match=f"^{code}:")


# --- Paths --------------------------------------------------------------------

KNOWN_PATHS = [
    # tlog-tiles: "index 1234067 will be encoded as x001/x234/067".
    ("tile/0/x001/x234/067", Tile(0, 1234067)),
    ("tile/0/x001/x234/067.p/5", Tile(0, 1234067, 5)),
    # Go sumdb/tlog TestTilePath, without the height element; level 5 there
    # becomes 2 here, since no uint64 tree has level-5 tile 123456078 of 256-wide tiles.
    ("tile/0/001", Tile(0, 1)),
    ("tile/0/001.p/5", Tile(0, 1, 5)),
    ("tile/2/x123/x456/078", Tile(2, 123456078)),
    ("tile/2/x123/x456/078.p/2", Tile(2, 123456078, 2)),
    ("tile/0/x003/x057/500", Tile(0, 3057500)),
    # Edges of each element.
    ("tile/0/000", Tile(0, 0)),
    ("tile/0/000.p/1", Tile(0, 0, 1)),
    ("tile/0/000.p/255", Tile(0, 0, 255)),
    ("tile/0/999", Tile(0, 999)),
    ("tile/0/x001/000", Tile(0, 1000)),
    ("tile/1/x001/x000/000", Tile(1, 1000000)),
    ("tile/7/000.p/255", Tile(7, 0, 255)),
]


@pytest.mark.parametrize(("path", "tile"), KNOWN_PATHS, ids=[p for p, _ in KNOWN_PATHS])
def test_tile_path_known_answers(path: str, tile: Tile) -> None:
    assert tiles.tile_path(tile.level, tile.index, tile.width) == path
    assert tile.path == path
    assert tiles.parse_tile_path(path) == tile


@pytest.mark.parametrize(
    ("path", "bundle"),
    [
        ("tile/entries/000", EntryBundle(0)),
        ("tile/entries/001.p/5", EntryBundle(1, 5)),
        ("tile/entries/x001/x234/067", EntryBundle(1234067)),
        ("tile/entries/x001/x234/067.p/255", EntryBundle(1234067, 255)),
    ],
)
def test_entry_bundle_path_known_answers(path: str, bundle: EntryBundle) -> None:
    assert tiles.entry_bundle_path(bundle.index, bundle.width) == path
    assert bundle.path == path
    assert tiles.parse_entry_bundle_path(path) == bundle


def test_coordinates_unpack_like_tuples() -> None:
    level, index, width = tiles.parse_tile_path("tile/2/x001/000.p/7")
    assert (level, index, width) == (2, 1000, 7)
    index, width = tiles.parse_entry_bundle_path("tile/entries/001")
    assert (index, width) == (1, 256)
    assert Tile(0, 1, 5).is_partial and not Tile(0, 1).is_partial
    assert EntryBundle(1, 5).is_partial and not EntryBundle(1).is_partial


INVALID_TILE_PATHS = {
    # Go's ParseTilePath fuzz seeds and table, in tlog-tiles form.
    "groups_without_x": "tile/5/123/456/078",
    "negative_level": "tile/-1/123",
    "go_data_level": "tile/data/x003/x057/500",
    "go_height_element": "tile/8/0/001",
    # Non-canonical spellings.
    "empty": "",
    "no_index": "tile/0/",
    "leading_slash": "/tile/0/000",
    "trailing_slash": "tile/0/000/",
    "two_digit_group": "tile/0/01",
    "four_digit_group": "tile/0/0001",
    "unpadded_index": "tile/0/1",
    "x_on_last_group": "tile/0/x001",
    "middle_group_without_x": "tile/1/x001/000/000",
    "leading_zero_group": "tile/0/x000/001",
    "leading_zero_groups": "tile/0/x000/x000/999",
    "leading_zero_level": "tile/00/000",
    "leading_zero_level_1": "tile/01/000",
    "level_64": "tile/64/000",
    "full_width_suffix": "tile/0/000.p/256",
    "width_zero": "tile/0/000.p/0",
    "leading_zero_width": "tile/0/000.p/05",
    "width_too_large": "tile/0/000.p/1000",
    "empty_width": "tile/0/000.p/",
    "p_without_width": "tile/0/000.p",
    "suffix_on_group": "tile/0/x001.p/5/000",
    "uppercase_x": "tile/0/X001/000",
    "plus_level": "tile/+1/000",
    "arabic_digits": "tile/0/\u0660\u0660\u0661",
    "newline_after": "tile/0/000\n",
    "space": "tile/0/000 ",
    "backslash": "tile\\0\\000",
    "double_slash": "tile//0/000",
    "entries_path": "tile/entries/000",
    "other_prefix": "tiles/0/000",
    "too_long": "tile/0/" + "x001/" * 60 + "000",
    # Tiles no tree of at most 2**64 - 1 entries has.
    "level_8": "tile/8/000.p/1",
    "go_level_5_index": "tile/5/x123/x456/078",
    "level_7_full": "tile/7/000",
    "index_beyond_uint64": "tile/0/x072/x057/x594/x037/x927/936",
    "not_a_string": b"tile/0/000",
}


@pytest.mark.parametrize("path", INVALID_TILE_PATHS.values(), ids=INVALID_TILE_PATHS.keys())
def test_invalid_tile_path_is_refused(path: str) -> None:
    with refused("tile-path-invalid"):
        tiles.parse_tile_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "tile/entries/1",
        "tile/entries/x000/001",
        "tile/entries/000.p/256",
        "tile/entries/000.p/0",
        "tile/entries/000.p/01",
        "tile/entries/x001",
        "tile/entries/",
        "tile/0/000",
        "tile/entry/000",
        "tile/entries/000/",
        "tile/entries/x072/x057/x594/x037/x927/936",
    ],
)
def test_invalid_entry_bundle_path_is_refused(path: str) -> None:
    with refused("tile-path-invalid"):
        tiles.parse_entry_bundle_path(path)


def test_largest_tiles_of_a_uint64_tree_have_paths() -> None:
    # A tree of 2**64 - 1 entries: its last level-0 tile is index 2**56 - 1.
    last = Tile(0, 2**56 - 1, 255)
    assert tiles.parse_tile_path(last.path) == last
    assert tiles.parse_tile_path("tile/7/000.p/255") == Tile(7, 0, 255)


@pytest.mark.parametrize(
    ("level", "index", "width"),
    [(-1, 0, 256), (64, 0, 1), (0, -1, 256), (0, 0, 0), (0, 0, 257), (True, 0, 1), (0, 1.0, 1)],
)
def test_tile_path_refuses_invalid_coordinates(level: int, index: int, width: int) -> None:
    with refused("tile-path-invalid"):
        tiles.tile_path(level, index, width)


@settings(max_examples=500, deadline=None)
@given(
    level=st.integers(0, 7),
    index=st.integers(0, 2**48),
    width=st.integers(1, 256),
)
def test_tile_path_round_trips(level: int, index: int, width: int) -> None:
    try:
        path = tiles.tile_path(level, index, width)
    except AgeVerifyError:
        return  # coordinates beyond any uint64 tree
    assert tiles.parse_tile_path(path) == Tile(level, index, width)
    bundle_path = tiles.entry_bundle_path(index % 2**40, width)
    assert tiles.parse_entry_bundle_path(bundle_path) == EntryBundle(index % 2**40, width)


_PATH_ALPHABET = st.sampled_from(list("tile/entrisx.p0123456789 \n+-"))


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.text(max_size=40), st.text(_PATH_ALPHABET, max_size=40)))
def test_path_parsers_raise_only_coded_errors(path: str) -> None:
    for parse in (tiles.parse_tile_path, tiles.parse_entry_bundle_path):
        try:
            parsed = parse(path)
        except AgeVerifyError as error:
            assert error.code == "tile-path-invalid"
        else:
            assert parsed.path == path


# --- Which tiles a tree has -----------------------------------------------------


def test_tree_of_70000_from_the_spec() -> None:
    # "273 full level 0 tiles, one partial level 0 tile of width 112, one full
    # level 1 tile, one partial level 1 tile of width 17, and one partial
    # level 2 tile of width 1."
    have = tiles.tiles_for_size(70_000)
    assert have == [
        *(Tile(0, n) for n in range(273)),
        Tile(0, 273, 112),
        Tile(1, 0),
        Tile(1, 1, 17),
        Tile(2, 0, 1),
    ]


def test_tree_of_256_from_the_spec() -> None:
    # "a tree of size 256 will be represented by a full level 0 tile and a
    # partial level 1 tile of width 1."
    assert tiles.tiles_for_size(256) == [Tile(0, 0), Tile(1, 0, 1)]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, []),
        (1, [Tile(0, 0, 1)]),
        (255, [Tile(0, 0, 255)]),
        (257, [Tile(0, 0), Tile(0, 1, 1), Tile(1, 0, 1)]),
        (512, [Tile(0, 0), Tile(0, 1), Tile(1, 0, 2)]),
        (65536, [*(Tile(0, n) for n in range(256)), Tile(1, 0), Tile(2, 0, 1)]),
    ],
)
def test_small_trees(size: int, expected: list[Tile]) -> None:
    assert tiles.tiles_for_size(size) == expected


def test_largest_tree_right_edge() -> None:
    # Not listing 2**56 tiles: one step from just below the end, and the edge alone.
    size = tiles.MAX_TREE_SIZE
    assert tiles.new_tiles(size - 1, size) == [Tile(0, 2**56 - 1, 255)]
    edge = tiles.partial_tiles(size)
    assert edge == [Tile(level, 2 ** (56 - 8 * level) - 1, 255) for level in range(8)]
    assert all(tiles.parse_tile_path(t.path) == t for t in edge)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, []),
        (256, [Tile(1, 0, 1)]),
        (65536, [Tile(2, 0, 1)]),
        (70_000, [Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)]),
    ],
)
def test_partial_tiles(size: int, expected: list[Tile]) -> None:
    assert tiles.partial_tiles(size) == expected


def test_new_tiles_promotes_the_old_partial_tile() -> None:
    assert tiles.new_tiles(300, 600) == [Tile(0, 1), Tile(0, 2, 88), Tile(1, 0, 2)]
    assert tiles.new_tiles(256, 256) == []
    assert tiles.new_tiles(256, 257) == [Tile(0, 1, 1)]


@pytest.mark.parametrize(("old", "new"), [(-1, 0), (2, 1), (0, 2**64), (0, True)])
def test_new_tiles_refuses_impossible_sizes(old: int, new: int) -> None:
    with pytest.raises(ValueError, match="size"):
        tiles.new_tiles(old, new)


def _tiles_by_definition(size: int) -> set[Tile]:
    # Straight from the spec's formula: level l holds floor(s / 256**l) hashes.
    result = set()
    for level in range(8):
        hashes = size // 256**level
        for n in range(hashes // 256):
            result.add(Tile(level, n))
        if hashes % 256:
            result.add(Tile(level, hashes // 256, hashes % 256))
    return result


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 300_000))
def test_tiles_for_size_matches_the_definition(size: int) -> None:
    have = tiles.tiles_for_size(size)
    assert set(have) == _tiles_by_definition(size)
    assert have == sorted(have)
    assert tiles.partial_tiles(size) == [t for t in have if t.is_partial]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 100_000), st.integers(0, 100_000))
def test_new_tiles_between_sizes(a: int, b: int) -> None:
    old, new = min(a, b), max(a, b)
    published = set(tiles.tiles_for_size(old)) | set(tiles.new_tiles(old, new))
    # After publishing, every tile of the new tree is there, and full tiles are never redone.
    assert set(tiles.tiles_for_size(new)) <= published
    full_before = {t for t in tiles.tiles_for_size(old) if not t.is_partial}
    assert not full_before & set(tiles.new_tiles(old, new))


# --- Hash tiles -----------------------------------------------------------------

HASHES = [bytes([i]) * 32 for i in range(256)]


def test_hash_tile_is_concatenated_hashes() -> None:
    data = tiles.encode_hash_tile(HASHES[:3])
    assert data == bytes([0]) * 32 + bytes([1]) * 32 + bytes([2]) * 32
    assert tiles.decode_hash_tile(data, 3) == HASHES[:3]
    full = tiles.encode_hash_tile(HASHES)
    assert len(full) == 8192
    assert tiles.decode_hash_tile(full) == HASHES


@pytest.mark.parametrize(
    ("defect", "data", "width"),
    [
        ("truncated_by_one_byte", bytes(8191), 256),
        ("truncated_by_one_hash", bytes(8160), 256),
        ("overlong", bytes(8193), 256),
        ("partial_width_mismatch", bytes(32 * 5), 4),
        ("empty", b"", 1),
        ("width_zero", b"", 0),
        ("width_257", bytes(32 * 257), 257),
        ("width_not_int", bytes(32), "1"),
        ("not_bytes", "0" * 32, 1),
    ],
)
def test_malformed_hash_tile_is_refused(defect: str, data: bytes, width: int) -> None:
    with refused("tile-malformed"):
        tiles.decode_hash_tile(data, width)


@pytest.mark.parametrize(
    ("defect", "hashes"),
    [
        ("none", []),
        ("too_many", [bytes(32)] * 257),
        ("short_hash", [bytes(31)]),
        ("long_hash", [bytes(33)]),
        ("not_bytes", ["0" * 32]),
    ],
)
def test_encode_hash_tile_refuses_bad_hashes(defect: str, hashes: list[bytes]) -> None:
    with refused("tile-malformed"):
        tiles.encode_hash_tile(hashes)


# --- Entry bundles --------------------------------------------------------------


def test_entry_bundle_is_uint16_length_prefixed() -> None:
    data = tiles.encode_entry_bundle([b"abc", b"", b"\x00" * 300])
    assert data == b"\x00\x03abc" + b"\x00\x00" + b"\x01\x2c" + b"\x00" * 300
    assert tiles.decode_entry_bundle(data) == [b"abc", b"", b"\x00" * 300]
    assert tiles.decode_entry_bundle(data, 3) == [b"abc", b"", b"\x00" * 300]


def test_largest_entries_and_full_bundle() -> None:
    biggest = b"\xff" * tiles.MAX_ENTRY_SIZE
    assert tiles.decode_entry_bundle(tiles.encode_entry_bundle([biggest])) == [biggest]
    entries = [i.to_bytes(2, "big") for i in range(256)]
    assert tiles.decode_entry_bundle(tiles.encode_entry_bundle(entries), 256) == entries


@pytest.mark.parametrize(
    ("defect", "data", "width"),
    [
        ("empty", b"", None),
        ("truncated_length", b"\x00", None),
        ("truncated_entry", b"\x00\x05abc", None),
        ("trailing_byte", b"\x00\x01a\x00", None),
        ("fewer_than_width", b"\x00\x01a", 2),
        ("more_than_width", b"\x00\x01a\x00\x01b", 1),
        ("more_than_256", b"\x00\x00" * 257, None),
        ("width_zero", b"\x00\x01a", 0),
        ("width_257", b"\x00\x00" * 257, 257),
        ("not_bytes", "\x00\x01a", None),
    ],
)
def test_malformed_entry_bundle_is_refused(defect: str, data: bytes, width: int | None) -> None:
    with refused("entry-bundle-malformed"):
        tiles.decode_entry_bundle(data, width)


@pytest.mark.parametrize(
    ("defect", "entries"),
    [
        ("none", []),
        ("too_many", [b""] * 257),
        ("entry_too_large", [bytes(65536)]),
        ("not_bytes", ["abc"]),
    ],
)
def test_encode_entry_bundle_refuses_bad_entries(defect: str, entries: list[bytes]) -> None:
    with refused("entry-bundle-malformed"):
        tiles.encode_entry_bundle(entries)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=256))
def test_entry_bundle_round_trips(entries: list[bytes]) -> None:
    data = tiles.encode_entry_bundle(entries)
    assert tiles.decode_entry_bundle(data, len(entries)) == entries


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=600), st.none() | st.integers(-2, 300))
def test_bundle_and_tile_decoders_raise_only_coded_errors(data: bytes, width: int | None) -> None:
    try:
        entries = tiles.decode_entry_bundle(data, width)
    except AgeVerifyError as error:
        assert error.code == "entry-bundle-malformed"
    else:
        assert tiles.encode_entry_bundle(entries) == data
    try:
        hashes = tiles.decode_hash_tile(data, 256 if width is None else width)
    except AgeVerifyError as error:
        assert error.code == "tile-malformed"
    else:
        assert tiles.encode_hash_tile(hashes) == data
