"""The RFC 9162 Merkle tree: transparency-dev vectors, and properties over random trees."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ageverify.errors import LogProofError
from ageverify.translog import merkle

# The transparency-dev/merkle test data, copied verbatim: each file is one case,
# named after the mutation it applies to a happy path; wantErr says whether
# verification must fail.
VECTORS = Path(__file__).parent.parent / "vectors" / "merkle"


def _cases(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert files, f"no vectors under {kind}"
    return [pytest.param(json.loads(f.read_text()), id=str(f.relative_to(VECTORS))) for f in files]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b64(p) for p in case["proof"] or []]


def _expect(want_err: bool, code: str, check: Any) -> None:
    if want_err:
        with pytest.raises(LogProofError) as caught:
            check()
        assert caught.value.code == code
    else:
        check()


@pytest.mark.parametrize("case", _cases("inclusion"))
def test_inclusion_vector(case: dict[str, Any]) -> None:
    _expect(
        case["wantErr"],
        "log-inclusion-invalid",
        lambda: merkle.verify_inclusion(
            _b64(case["leafHash"]),
            case["leafIdx"],
            case["treeSize"],
            _proof(case),
            _b64(case["root"]),
        ),
    )


@pytest.mark.parametrize("case", _cases("consistency"))
def test_consistency_vector(case: dict[str, Any]) -> None:
    _expect(
        case["wantErr"],
        "log-consistency-invalid",
        lambda: merkle.verify_consistency(
            case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), _proof(case)
        ),
    )


@pytest.mark.parametrize("case", [c for c in _cases("consistency") if c.values[0]["size1"] != 0])
def test_consistency_vector_as_subtree_of_prefix(case: dict[str, Any]) -> None:
    """An RFC 9162 consistency proof is the subtree consistency proof of [0, size1).

    Except from size 0: the empty subtree is in every tree, while a consistency
    proof from the empty tree proves nothing and is refused.
    """
    _expect(
        case["wantErr"],
        "log-consistency-invalid",
        lambda: merkle.verify_subtree_consistency(
            0,
            case["size1"],
            case["size2"],
            _b64(case["root1"]),
            _b64(case["root2"]),
            _proof(case),
        ),
    )


@pytest.mark.parametrize("case", _cases("subtreeinclusion"))
def test_subtree_inclusion_vector(case: dict[str, Any]) -> None:
    _expect(
        case["wantErr"],
        "log-inclusion-invalid",
        lambda: merkle.verify_subtree_inclusion(
            _b64(case["leafHash"]),
            case["leafIdx"],
            case["start"],
            case["end"],
            _proof(case),
            _b64(case["root"]),
        ),
    )


@pytest.mark.parametrize("case", _cases("subtreeconsistency"))
def test_subtree_consistency_vector(case: dict[str, Any]) -> None:
    _expect(
        case["wantErr"],
        "log-consistency-invalid",
        lambda: merkle.verify_subtree_consistency(
            case["start"],
            case["end"],
            case["size"],
            _b64(case["root1"]),
            _b64(case["root2"]),
            _proof(case),
        ),
    )


_REFERENCE_INPUTS = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
"""The entries of the eight-leaf tree (from certificate-transparency) the vectors prove over."""


def test_vectors_cover_mutations() -> None:
    """Most vector files are mutations that must fail; none may be skipped silently."""
    files = list(VECTORS.rglob("*.json"))
    failing = [f for f in files if json.loads(f.read_text())["wantErr"]]
    assert len(files) == 518
    assert len(failing) == 482


def test_hashing_is_domain_separated() -> None:
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    left, right = b"L" * 32, b"R" * 32
    assert merkle.node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert merkle.root([]) == merkle.EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_rfc9162_reference_tree() -> None:
    """The eight-leaf tree of the transparency-dev vectors, built from its inputs."""
    tree = _tree(_REFERENCE_INPUTS)
    assert tree.root() == _b64("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=")
    assert tree.inclusion_proof(0) == [
        _b64("lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c="),
        _b64("Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4="),
        _b64("a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ="),
    ]
    assert tree.consistency_proof(1, 8) == tree.inclusion_proof(0)


def _reference_roots() -> set[str]:
    tree = merkle.MerkleTree()
    roots = set()
    for entry in _REFERENCE_INPUTS:
        tree.append(entry)
        roots.add(base64.b64encode(tree.root()).decode())
    return roots


def _happy_reference_cases(kind: str, root_key: str) -> list[Any]:
    """The happy cases of ``kind`` whose root is one of the reference tree's prefixes."""
    roots = _reference_roots()
    return [
        case
        for case in _cases(kind)
        if not case.values[0]["wantErr"] and case.values[0][root_key] in roots
    ]


@pytest.mark.parametrize("case", _happy_reference_cases("inclusion", "root"))
def test_generated_inclusion_proof_matches_vector(case: dict[str, Any]) -> None:
    """Our generator produces exactly the vector's proof over the reference tree."""
    tree = _tree(_REFERENCE_INPUTS[: case["treeSize"]])
    assert tree.root() == _b64(case["root"])
    assert tree.hash_at(0, case["leafIdx"]) == _b64(case["leafHash"])
    assert tree.inclusion_proof(case["leafIdx"]) == _proof(case)


@pytest.mark.parametrize("case", _happy_reference_cases("consistency", "root2"))
def test_generated_consistency_proof_matches_vector(case: dict[str, Any]) -> None:
    """Our generator produces exactly the vector's proof over the reference tree."""
    tree = _tree(_REFERENCE_INPUTS[: case["size2"]])
    assert tree.root() == _b64(case["root2"])
    assert tree.root(case["size1"]) == _b64(case["root1"])
    assert tree.consistency_proof(case["size1"]) == _proof(case)


def _tree(entries: list[bytes]) -> merkle.MerkleTree:
    tree = merkle.MerkleTree()
    for entry in entries:
        tree.append(entry)
    return tree


def _naive_mth(leaves: list[bytes]) -> bytes:
    """MTH of RFC 9162 section 2.1.1, literally: the split at the largest power of two below n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(_naive_mth(leaves[:k]), _naive_mth(leaves[k:]))


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


# One tree of the largest size drawn; smaller trees are its prefixes, so each
# example reads roots and proofs of past sizes as an auditor would.
_BIG = 300
_BIG_TREE = merkle.MerkleTree()
for _leaf in _leaves(_BIG):
    _BIG_TREE.append_leaf_hash(_leaf)


def _flip(value: bytes, bit: int) -> bytes:
    flipped = bytearray(value)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


@given(st.integers(min_value=0, max_value=_BIG))
def test_root_matches_naive_mth(size: int) -> None:
    leaves = _leaves(size)
    expected = _naive_mth(leaves)
    assert merkle.root(leaves) == expected
    assert _BIG_TREE.root(size) == expected


@settings(max_examples=300)
@given(st.data())
def test_inclusion_proofs_verify_and_any_bit_flip_fails(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=_BIG), label="size")
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    leaf, root = _BIG_TREE.hash_at(0, index), _BIG_TREE.root(size)
    proof = _BIG_TREE.inclusion_proof(index, size)
    merkle.verify_inclusion(leaf, index, size, proof, root)

    bit = data.draw(st.integers(min_value=0, max_value=256 * (len(proof) + 2) - 1), label="bit")
    part, bit = divmod(bit, 256)
    if part < len(proof):
        proof = [*proof[:part], _flip(proof[part], bit), *proof[part + 1 :]]
    elif part == len(proof):
        root = _flip(root, bit)
    else:
        leaf = _flip(leaf, bit)
    with pytest.raises(LogProofError) as caught:
        merkle.verify_inclusion(leaf, index, size, proof, root)
    assert caught.value.code == "log-inclusion-invalid"


@settings(max_examples=300)
@given(st.data())
def test_consistency_proofs_verify_and_any_bit_flip_fails(data: st.DataObject) -> None:
    new_size = data.draw(st.integers(min_value=1, max_value=_BIG), label="new_size")
    old_size = data.draw(st.integers(min_value=1, max_value=new_size), label="old_size")
    old_root, new_root = _BIG_TREE.root(old_size), _BIG_TREE.root(new_size)
    proof = _BIG_TREE.consistency_proof(old_size, new_size)
    merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)
    merkle.verify_subtree_consistency(0, old_size, new_size, old_root, new_root, proof)

    bit = data.draw(st.integers(min_value=0, max_value=256 * (len(proof) + 2) - 1), label="bit")
    part, bit = divmod(bit, 256)
    if part < len(proof):
        proof = [*proof[:part], _flip(proof[part], bit), *proof[part + 1 :]]
    elif part == len(proof):
        old_root = _flip(old_root, bit)
    else:
        new_root = _flip(new_root, bit)
    with pytest.raises(LogProofError) as caught:
        merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)
    assert caught.value.code == "log-consistency-invalid"


@settings(max_examples=200)
@given(st.data())
def test_subtree_inclusion_proofs_verify(data: st.DataObject) -> None:
    """A leaf of a subtree [start, end) is proven against the subtree's own root.

    A subtree starts at a multiple of the bit ceiling of its width, so it is
    a tree in its own right whose stored hashes are the log's, shifted.
    """
    width = data.draw(st.integers(min_value=1, max_value=64), label="width")
    span = 1 << (width - 1).bit_length()
    start = span * data.draw(st.integers(min_value=0, max_value=(_BIG - width) // span))
    end = start + width
    index = data.draw(st.integers(min_value=start, max_value=end - 1), label="index")

    def shifted(level: int, i: int) -> bytes:
        return _BIG_TREE.hash_at(level, i + (start >> level))

    subtree_root = merkle.root_at(width, shifted)
    assert subtree_root == _naive_mth(_leaves(end)[start:])
    proof = merkle.inclusion_proof(index - start, width, shifted)
    leaf = _BIG_TREE.hash_at(0, index)
    merkle.verify_subtree_inclusion(leaf, index, start, end, proof, subtree_root)
    with pytest.raises(LogProofError) as caught:
        merkle.verify_subtree_inclusion(leaf, index, start, end, proof, _flip(subtree_root, 0))
    assert caught.value.code == "log-inclusion-invalid"


@settings(max_examples=200)
@given(st.data())
def test_proofs_of_other_shapes_fail(data: st.DataObject) -> None:
    """A valid proof moved to another leaf, or lengthened or shortened, fails.

    Not moved to another size: the proof of leaf 0 in a tree of 3 also leads to
    that root as a tree of 4 (whose right pair would hash to leaf 2's hash).
    That is why a root is only ever trusted together with its size, as a
    signed checkpoint binds them.
    """
    size = data.draw(st.integers(min_value=2, max_value=_BIG), label="size")
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    leaf, root = _BIG_TREE.hash_at(0, index), _BIG_TREE.root(size)
    proof = _BIG_TREE.inclusion_proof(index, size)
    other = data.draw(st.integers(min_value=0, max_value=size - 1), label="other")
    for args in [
        (other, size, proof),
        (index, size, [*proof, proof[0]]),
        (index, size, proof[:-1]),
        (index, size, [root, *proof]),
    ]:
        if args[0] == index and args[1] == size and args[2] == proof:
            continue
        with pytest.raises(LogProofError):
            merkle.verify_inclusion(leaf, args[0], args[1], args[2], root)


def test_proof_generation_refuses_ranges_outside_the_log() -> None:
    tree = _tree([b"a", b"b", b"c"])
    for call in [
        lambda: tree.inclusion_proof(3),
        lambda: tree.inclusion_proof(-1),
        lambda: tree.inclusion_proof(0, 4),
        lambda: tree.consistency_proof(0, 3),
        lambda: tree.consistency_proof(3, 2),
        lambda: tree.root(4),
        lambda: tree.hash_at(1, 1),
    ]:
        with pytest.raises(LogProofError) as caught:
            call()
        assert caught.value.code == "log-range-invalid"


def test_generation_reads_only_full_subtrees_and_few_of_them() -> None:
    """Proofs need O(log n) stored hashes, each of a full subtree (what a tile store holds)."""
    size = 1_000_003
    reads: list[tuple[int, int]] = []

    def hash_at(level: int, index: int) -> bytes:
        assert (index + 1) << level <= size, "asked for a subtree the tree does not complete"
        reads.append((level, index))
        return hashlib.sha256(f"{level}/{index}".encode()).digest()

    merkle.inclusion_proof(size - 1, size, hash_at)
    merkle.inclusion_proof(123_456, size, hash_at)
    merkle.consistency_proof(654_321, size, hash_at)
    merkle.root_at(size, hash_at)
    assert len(reads) < 4 * 2 * 21
