"""Tiled transparency log encodings (C2SP tlog-tiles).

A tiled log serves its Merkle tree as static resources: hash tiles of 256
consecutive hashes at one level, and entry bundles of 256 consecutive
entries, the rightmost of each level possibly partial:

* ``tile/<L>/<N>[.p/<W>]`` -- the N-th hash tile at level L. Each hash at
  level L is the RFC 6962 Merkle tree hash of 256**L consecutive entries.
* ``tile/entries/<N>[.p/<W>]`` -- the N-th entry bundle.

N is written in three-digit groups, all but the last prefixed with ``x``
(1234067 is ``x001/x234/067``); ``.p/<W>`` marks a partial tile of W < 256
hashes. A hash tile is the concatenation of its 32-byte hashes; an entry
bundle is a sequence of entries, each preceded by its length as a big-endian
uint16.

Everything here is pure: paths, tile data, and which tiles a tree of a given
size has. Parsers accept exactly one spelling of each resource and raise
:class:`~ageverify.errors.AgeVerifyError` (``tile-path-invalid``,
``tile-malformed``, ``entry-bundle-malformed``) for anything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ageverify.errors import AgeVerifyError

__all__ = [
    "HASH_SIZE",
    "MAX_ENTRY_SIZE",
    "MAX_LEVEL",
    "MAX_TREE_SIZE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "EntryBundle",
    "Tile",
    "decode_entry_bundle",
    "decode_hash_tile",
    "encode_entry_bundle",
    "encode_hash_tile",
    "entry_bundle_path",
    "new_tiles",
    "parse_entry_bundle_path",
    "parse_tile_path",
    "partial_tiles",
    "tile_path",
    "tiles_for_size",
]

# --- Wire format: only ever added to. ---------------------------------------
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # hashes in a full tile, entries in a full bundle
HASH_SIZE = 32  # SHA-256, as in RFC 6962
MAX_LEVEL = 63  # tlog-tiles: L is between 0 and 63
MAX_ENTRY_SIZE = 0xFFFF  # entries are uint16 length-prefixed
MAX_TREE_SIZE = (1 << 64) - 1  # checkpoints carry uint64 tree sizes
# ----------------------------------------------------------------------------

# The longest canonical path is well under 100 characters; refusing longer
# input first keeps the work done on a hostile path small.
_MAX_PATH_LENGTH = 256
_INDEX = r"((?:x[0-9]{3}/)*[0-9]{3})"
_PARTIAL = r"(?:\.p/([0-9]+))?"
_TILE_PATH = re.compile(r"tile/([0-9]+)/" + _INDEX + _PARTIAL)
_ENTRY_BUNDLE_PATH = re.compile(r"tile/entries/" + _INDEX + _PARTIAL)


# Frozen dataclasses rather than NamedTuples: a NamedTuple field named
# ``index`` would shadow tuple.index. Both still unpack like tuples.
@dataclass(frozen=True, order=True)
class Tile:
    """The coordinates of a hash tile: ``level``, ``index`` within it, ``width`` in hashes.

    ``width`` is 256 for a full tile, 1 to 255 for a partial one. Unpacks as
    ``level, index, width = tile``. Not validated on construction: use
    :attr:`path` or :func:`parse_tile_path` to check coordinates.
    """

    level: int
    index: int
    width: int = TILE_WIDTH

    def __iter__(self) -> Iterator[int]:
        return iter((self.level, self.index, self.width))

    @property
    def path(self) -> str:
        """The tile's path, ``tile/<L>/<N>[.p/<W>]``."""
        return tile_path(self.level, self.index, self.width)

    @property
    def is_partial(self) -> bool:
        """Whether the tile holds fewer than 256 hashes."""
        return self.width < TILE_WIDTH


@dataclass(frozen=True, order=True)
class EntryBundle:
    """The coordinates of an entry bundle: ``index`` and ``width`` in entries.

    Entry bundle N holds the entries whose leaf hashes level-0 tile N holds.
    Unpacks as ``index, width = bundle``.
    """

    index: int
    width: int = TILE_WIDTH

    def __iter__(self) -> Iterator[int]:
        return iter((self.index, self.width))

    @property
    def path(self) -> str:
        """The bundle's path, ``tile/entries/<N>[.p/<W>]``."""
        return entry_bundle_path(self.index, self.width)

    @property
    def is_partial(self) -> bool:
        """Whether the bundle holds fewer than 256 entries."""
        return self.width < TILE_WIDTH


def _invalid(description: str) -> AgeVerifyError:
    return AgeVerifyError("tile-path-invalid", description)


def _check_coordinates(level: object, index: object, width: object) -> None:
    """Refuse coordinates that name no tile of any tree of at most 2**64 - 1 entries."""
    # type() rather than isinstance(): bool is an int, and True is no tile index.
    if type(level) is not int or not 0 <= level <= MAX_LEVEL:
        raise _invalid(f"A tile level is an integer from 0 to {MAX_LEVEL}.")
    if type(index) is not int or index < 0:
        raise _invalid("A tile index is a non-negative integer.")
    if type(width) is not int or not 1 <= width <= TILE_WIDTH:
        raise _invalid(f"A tile width is an integer from 1 to {TILE_WIDTH}.")
    # The tile exists once the tree has this many entries; no uint64 tree
    # reaches past that, and the bound keeps indexes (and paths) short.
    entries_needed = (index * TILE_WIDTH + width) * TILE_WIDTH**level
    if entries_needed > MAX_TREE_SIZE:
        raise _invalid("No tree of at most 2**64 - 1 entries has this tile.")


def _encode_index(index: int) -> str:
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index > 0:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def _suffix(width: int) -> str:
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """The path of hash tile ``index`` at ``level`` holding ``width`` hashes.

    For example ``tile_path(0, 1234067, 5) == "tile/0/x001/x234/067.p/5"``.
    Coordinates no tree of at most 2**64 - 1 entries has raise
    ``tile-path-invalid``.
    """
    _check_coordinates(level, index, width)
    return f"tile/{level}/{_encode_index(index)}{_suffix(width)}"


def entry_bundle_path(index: int, width: int = TILE_WIDTH) -> str:
    """The path of entry bundle ``index`` holding ``width`` entries.

    For example ``entry_bundle_path(1) == "tile/entries/001"``. Coordinates
    no tree of at most 2**64 - 1 entries has raise ``tile-path-invalid``.
    """
    _check_coordinates(0, index, width)
    return f"tile/entries/{_encode_index(index)}{_suffix(width)}"


def _decode_index(text: str) -> int:
    index = 0
    for group in text.split("/"):
        index = index * 1000 + int(group.removeprefix("x"))
    return index


def _match(pattern: re.Pattern[str], path: object) -> re.Match[str]:
    if not isinstance(path, str) or len(path) > _MAX_PATH_LENGTH:
        raise _invalid("A tile path is a short string.")
    match = pattern.fullmatch(path)
    if match is None:
        raise _invalid("Not a tlog-tiles path.")
    return match


def _decode_width(text: str | None) -> int:
    if text is None:
        return TILE_WIDTH
    # Bounded by the pattern and the length limit; the range is checked after.
    width = int(text)
    if width >= TILE_WIDTH:
        raise _invalid("A partial tile holds 1 to 255 hashes.")
    return width


def parse_tile_path(path: object) -> Tile:
    """Parse a hash tile path ``tile/<L>/<N>[.p/<W>]`` (without the log's prefix).

    Strict: only the canonical spelling is accepted (no leading zeros in L or
    W, no empty leading ``x000`` groups, no ``.p/256``), so that one tile has
    one path; ``parse_tile_path(p).path == p``. Anything else, including
    entry bundle paths, raises ``tile-path-invalid``.
    """
    match = _match(_TILE_PATH, path)
    level_text, index_text, width_text = match.groups()
    tile = Tile(int(level_text), _decode_index(index_text), _decode_width(width_text))
    # Re-encoding checks the range and catches every non-canonical spelling at once.
    if tile_path(*tile) != path:
        raise _invalid("Not the canonical spelling of a tile path.")
    return tile


def parse_entry_bundle_path(path: object) -> EntryBundle:
    """Parse an entry bundle path ``tile/entries/<N>[.p/<W>]`` (without the prefix).

    Strict in the same way as :func:`parse_tile_path`; anything else raises
    ``tile-path-invalid``.
    """
    match = _match(_ENTRY_BUNDLE_PATH, path)
    index_text, width_text = match.groups()
    bundle = EntryBundle(_decode_index(index_text), _decode_width(width_text))
    if entry_bundle_path(*bundle) != path:
        raise _invalid("Not the canonical spelling of an entry bundle path.")
    return bundle


def _check_size(size: object, name: str) -> int:
    if type(size) is not int or not 0 <= size <= MAX_TREE_SIZE:
        raise ValueError(f"{name} must be an integer from 0 to 2**64 - 1")
    return size


def new_tiles(old_size: int, new_size: int) -> list[Tile]:
    """The tiles a log publishes when its tree grows from ``old_size`` to ``new_size``.

    Per level, from level 0 up: the full tiles completed since ``old_size``,
    then the partial right-edge tile of ``new_size`` if it has one (a level
    with a hash count that is a multiple of 256 has none: empty tiles are
    never served). Level L of a tree of size s holds floor(s / 256**L)
    hashes. Entry bundles follow level 0: same indexes, same widths. Sizes
    out of 0 <= old_size <= new_size <= 2**64 - 1 raise ``ValueError``.
    """
    old = _check_size(old_size, "old_size")
    new = _check_size(new_size, "new_size")
    if old > new:
        raise ValueError("old_size must not exceed new_size")
    tiles: list[Tile] = []
    level = 0
    while new >> (TILE_HEIGHT * level) > 0:
        old_hashes = old >> (TILE_HEIGHT * level)
        new_hashes = new >> (TILE_HEIGHT * level)
        if new_hashes != old_hashes:
            # The old right edge, if partial, is now full: start from its index.
            first = old_hashes >> TILE_HEIGHT
            full = new_hashes >> TILE_HEIGHT
            tiles.extend(Tile(level, n) for n in range(first, full))
            if width := new_hashes % TILE_WIDTH:
                tiles.append(Tile(level, full, width))
        level += 1
    return tiles


def tiles_for_size(size: int) -> list[Tile]:
    """Every hash tile of a tree of ``size`` entries: full ones and the partial right edge.

    Ordered by level, then index. A tree of 256 entries has ``Tile(0, 0)``
    and ``Tile(1, 0, 1)``; a tree of 70,000 has 273 full and one 112-wide
    level-0 tiles, a full and a 17-wide level-1 tile and a 1-wide level-2
    tile (the tlog-tiles examples). The list has about size / 255 tiles.
    """
    return new_tiles(0, size)


def partial_tiles(size: int) -> list[Tile]:
    """The partial right-edge tiles of a tree of ``size`` entries, level 0 first.

    What a log must serve for each checkpoint besides full tiles: at most one
    per level, none where the level's hash count is a multiple of 256. Cheap
    at any size, unlike :func:`tiles_for_size`. Sizes out of 0 to 2**64 - 1
    raise ``ValueError``.
    """
    remaining = _check_size(size, "size")
    edge: list[Tile] = []
    level = 0
    while remaining:
        if width := remaining % TILE_WIDTH:
            edge.append(Tile(level, remaining // TILE_WIDTH, width))
        remaining //= TILE_WIDTH
        level += 1
    return edge


def _as_bytes(data: object, code: str, what: str) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise AgeVerifyError(code, f"{what} is bytes.")
    return bytes(data)


def _check_width(width: object, code: str) -> int:
    if type(width) is not int or not 1 <= width <= TILE_WIDTH:
        raise AgeVerifyError(code, f"A tile width is an integer from 1 to {TILE_WIDTH}.")
    return width


def encode_hash_tile(hashes: Sequence[bytes]) -> bytes:
    """The tile data of ``hashes``: 1 to 256 hashes of 32 bytes, concatenated.

    Anything else raises ``tile-malformed``.
    """
    if not 1 <= len(hashes) <= TILE_WIDTH:
        raise AgeVerifyError("tile-malformed", f"A tile holds 1 to {TILE_WIDTH} hashes.")
    if not all(type(h) is bytes and len(h) == HASH_SIZE for h in hashes):
        raise AgeVerifyError("tile-malformed", f"Tile hashes are {HASH_SIZE} bytes each.")
    return b"".join(hashes)


def decode_hash_tile(data: bytes, width: int = TILE_WIDTH) -> list[bytes]:
    """The ``width`` hashes in the tile ``data``.

    ``data`` must be exactly ``width`` * 32 bytes: a truncated or overlong
    tile raises ``tile-malformed`` (the width comes from the path, so a tile
    cannot be checked without it).
    """
    raw = _as_bytes(data, "tile-malformed", "Tile data")
    expected = _check_width(width, "tile-malformed")
    if len(raw) != expected * HASH_SIZE:
        raise AgeVerifyError(
            "tile-malformed",
            f"A tile of {expected} hashes is {expected * HASH_SIZE} bytes, not {len(raw)}.",
        )
    return [raw[i : i + HASH_SIZE] for i in range(0, len(raw), HASH_SIZE)]


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """The entry bundle of ``entries``: 1 to 256 entries of at most 65,535 bytes each.

    Each entry is written after its length as a big-endian uint16. Anything
    else raises ``entry-bundle-malformed``.
    """
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise AgeVerifyError(
            "entry-bundle-malformed", f"An entry bundle holds 1 to {TILE_WIDTH} entries."
        )
    if not all(type(e) is bytes and len(e) <= MAX_ENTRY_SIZE for e in entries):
        raise AgeVerifyError(
            "entry-bundle-malformed", f"Entries are bytes of at most {MAX_ENTRY_SIZE} bytes."
        )
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)


def decode_entry_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """The entries of the entry bundle ``data``.

    ``data`` must be 1 to 256 length-prefixed entries with nothing left over
    -- exactly ``width`` of them when ``width`` (from the path) is given.
    A truncated length or entry, trailing bytes or the wrong count raise
    ``entry-bundle-malformed``.
    """
    raw = _as_bytes(data, "entry-bundle-malformed", "An entry bundle")
    expected = None if width is None else _check_width(width, "entry-bundle-malformed")
    entries: list[bytes] = []
    position = 0
    while position < len(raw):
        # Checked before reading on: a bundle can hold at most 256 entries,
        # so a hostile one costs at most 256 steps.
        if len(entries) == TILE_WIDTH:
            raise AgeVerifyError(
                "entry-bundle-malformed", f"An entry bundle holds at most {TILE_WIDTH} entries."
            )
        if position + 2 > len(raw):
            raise AgeVerifyError("entry-bundle-malformed", "An entry's length is truncated.")
        length = int.from_bytes(raw[position : position + 2], "big")
        start, position = position + 2, position + 2 + length
        if position > len(raw):
            raise AgeVerifyError("entry-bundle-malformed", "An entry is truncated.")
        entries.append(raw[start:position])
    if not entries:
        raise AgeVerifyError("entry-bundle-malformed", "An entry bundle is never empty.")
    if expected is not None and len(entries) != expected:
        raise AgeVerifyError(
            "entry-bundle-malformed",
            f"The bundle holds {len(entries)} entries, not {expected}.",
        )
    return entries
