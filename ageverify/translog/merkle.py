"""The Merkle tree of RFC 9162 section 2.1: hashing, proofs, and their verification.

Leaves are hashed as SHA-256(0x00 || entry) and interior nodes as
SHA-256(0x01 || left || right), so no leaf can pass for a node (second
preimage resistance, RFC 9162 section 2.1.1).

Proofs are generated from stored node hashes, never from the leaves: a
``HashAt`` function answers the hash of the perfect subtree at a level and
index, which is exactly what a tlog-tiles hash tile holds (C2SP tlog-tiles), so
the same code proves from the in-memory ``MerkleTree`` here and from tiles
read over the network by an auditor. Only O(log n) stored hashes are read per
proof or root, whatever the size of the log.

Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step. It
returns nothing and raises ``LogProofError`` with one code per proof kind, so
there is no bool for a caller to forget.

The subtree proofs of draft-ietf-plants-merkle-tree-certs (a subtree
``[start, end)`` of a log, as in transparency-dev/merkle) are checked by
``verify_subtree_inclusion`` and ``verify_subtree_consistency``; an RFC 9162
consistency proof is the subtree consistency proof of ``[0, old_size)``.
Only their checks are here: the log itself proves with RFC 9162 proofs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from ageverify.errors import LogProofError

HASH_SIZE = 32
"""Bytes in a SHA-256 hash, the size of every leaf, node and root hash."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) of RFC 9162 section 2.1.1: the root of a log with no entries."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

HashAt = Callable[[int, int], bytes]
"""``hash_at(level, index)``: the hash of the perfect subtree of ``2**level`` leaves
starting at leaf ``index * 2**level``. Level 0 holds the leaf hashes. Proof
generation only asks for subtrees that lie entirely within the tree size it is
given, so a store of full subtrees (hash tiles) can answer every call."""


def leaf_hash(entry: bytes) -> bytes:
    """The leaf hash of ``entry``: SHA-256(0x00 || entry)."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of the interior node whose children hash to ``left`` and ``right``."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of RFC 9162 section 2.1.1 over ``leaf_hashes`` (already leaf-hashed).

    Computed level by level, carrying an odd last node up unchanged; that gives
    the same tree as the recursive definition's split at the largest power of
    two below n, without recursion and with n - 1 node hashes.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        parents = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            parents.append(level[-1])
        level = parents
    return level[0]


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): the k of RFC 9162."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_hash(start: int, end: int, hash_at: HashAt) -> bytes:
    """MTH(D[start:end]) for a node of the tree, from at most log2(end - start) + 1 stored hashes.

    ``[start, end)`` must be a node of some RFC 9162 tree: ``start`` a multiple of
    the smallest power of two not below ``end - start``. Then the range is a run
    of perfect subtrees of decreasing size (one per set bit of ``end - start``)
    and its MTH folds them from the right; a perfect range is one stored hash.
    """
    subtrees: list[bytes] = []
    position = start
    while position < end:
        level = (end - position).bit_length() - 1
        subtrees.append(hash_at(level, position >> level))
        position += 1 << level
    digest = subtrees.pop()
    while subtrees:
        digest = node_hash(subtrees.pop(), digest)
    return digest


def root_at(size: int, hash_at: HashAt) -> bytes:
    """The root of the log's first ``size`` entries, from stored hashes."""
    if size < 0:
        raise LogProofError("log-range-invalid", f"tree size {size} is negative")
    return EMPTY_ROOT if size == 0 else _range_hash(0, size, hash_at)


def inclusion_proof(index: int, size: int, hash_at: HashAt) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1, from stored hashes.

    ``index`` is the leaf's position and ``size`` the tree size the proof is
    against; the proof lists sibling hashes from the leaf up to the root.
    """
    if not 0 <= index < size:
        raise LogProofError("log-range-invalid", f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    # Walk down from the root; each step records the sibling of the half that
    # holds the leaf, so the siblings come out root first and are reversed.
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(_range_hash(start + k, end, hash_at))
            end = start + k
        else:
            path.append(_range_hash(start, start + k, hash_at))
            start += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, hash_at: HashAt) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 section 2.1.4.1, from stored hashes.

    Requires 0 < ``old_size`` <= ``new_size``: a proof from the empty tree proves
    nothing, and RFC 9162 defines none. Equal sizes give the empty proof.
    """
    if not 0 < old_size <= new_size:
        raise LogProofError(
            "log-range-invalid", f"no consistency proof from size {old_size} to {new_size}"
        )
    path: list[bytes] = []
    start, end = 0, new_size
    old_is_node = True
    # Walk down from the root as in inclusion_proof, recording the sibling at
    # each step. SUBPROOF ends at the node that is the old tree's rightmost
    # part; its hash is needed only when the old tree is not itself a node
    # (RFC 9162's b flag, cleared on the first step to the right).
    while end != old_size:
        k = _split(end - start)
        if old_size <= start + k:
            path.append(_range_hash(start + k, end, hash_at))
            end = start + k
        else:
            path.append(_range_hash(start, start + k, hash_at))
            start += k
            old_is_node = False
    if not old_is_node:
        path.append(_range_hash(start, end, hash_at))
    path.reverse()
    return path


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    RFC 9162 section 2.1.3.2, step by step. ``proof`` is the inclusion path,
    lowest sibling first. Raises ``LogProofError`` with code
    ``log-inclusion-invalid`` if the proof does not establish exactly that.
    """
    if _root_from_inclusion(leaf_hash, index, size, proof) != root:
        raise LogProofError("log-inclusion-invalid")


def _root_from_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf_hash`` at ``index`` of ``size``, or raise."""
    # A leaf hash of another length is not a leaf hash: refusing it keeps an
    # entry (or anything else) from being passed where its hash belongs.
    if not _is_hash(leaf_hash):
        raise LogProofError("log-inclusion-invalid", "the leaf hash is not 32 bytes")
    # Step 1.
    if not 0 <= index < size:
        raise LogProofError("log-inclusion-invalid", f"leaf {index} is not in a tree of {size}")
    # Steps 2 and 3.
    fn, sn = index, size - 1
    r = leaf_hash
    # Step 4.
    for p in proof:
        if sn == 0:
            raise LogProofError("log-inclusion-invalid", "the proof is too long")
        if len(p) != HASH_SIZE:
            raise LogProofError("log-inclusion-invalid", "a proof hash is not 32 bytes")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                # fn is on the right border: skip the levels where the node
                # has no right sibling and is carried up unchanged.
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # Step 5.
    if sn != 0:
        raise LogProofError("log-inclusion-invalid", "the proof is too short")
    return r


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``new_size`` with ``new_root`` extends the one of ``old_size``.

    RFC 9162 section 2.1.4.2, step by step, for 0 < ``old_size`` <= ``new_size``
    (equal sizes need an empty proof and equal roots). A consistency check
    from the empty tree proves nothing and is refused rather than passed.
    Raises ``LogProofError`` with code ``log-consistency-invalid`` on any
    failure.
    """
    if not 0 < old_size <= new_size:
        raise LogProofError(
            "log-consistency-invalid", f"no consistency from size {old_size} to {new_size}"
        )
    if old_size == new_size:
        # Roots are compared as given: equal sizes and equal roots are the
        # same tree whatever the bytes are, and a non-hash never equals a hash.
        if proof or old_root != new_root:
            raise LogProofError("log-consistency-invalid", "equal sizes need equal roots")
        return
    path = list(proof)
    # Step 1.
    if not path:
        raise LogProofError("log-consistency-invalid", "the proof is empty")
    # Step 2: a perfect old tree is a node of the new one, and its root is the
    # proof's starting point.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # Steps 3 and 4.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise LogProofError("log-consistency-invalid", "the proof is too long")
        if len(c) != HASH_SIZE:
            raise LogProofError("log-consistency-invalid", "a proof hash is not 32 bytes")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if fr != old_root or sr != new_root or sn != 0:
        raise LogProofError("log-consistency-invalid")


def _check_subtree(start: int, end: int) -> bool:
    """Whether ``[start, end)`` is a subtree: start a multiple of the bit ceiling of its width."""
    if not 0 <= start <= end:
        return False
    width = end - start
    return width == 0 or start % (1 << (width - 1).bit_length()) == 0


def verify_subtree_inclusion(
    leaf_hash: bytes, index: int, start: int, end: int, proof: Sequence[bytes], subtree_root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the log within the subtree ``[start, end)``.

    The subtree inclusion proof of draft-ietf-plants-merkle-tree-certs: an
    RFC 9162 inclusion proof of leaf ``index - start`` in a tree of
    ``end - start`` leaves whose root is ``subtree_root``. Raises
    ``LogProofError`` with code ``log-inclusion-invalid`` on any failure.
    """
    if not _check_subtree(start, end) or not start <= index < end:
        raise LogProofError("log-inclusion-invalid", f"leaf {index} is not in [{start}, {end})")
    verify_inclusion(leaf_hash, index - start, end - start, proof, subtree_root)


def verify_subtree_consistency(
    start: int,
    end: int,
    size: int,
    subtree_root: bytes,
    root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that subtree ``[start, end)``, hashing to ``subtree_root``, is in the tree ``root``.

    ``size`` is the size of the tree whose root is ``root``.

    The subtree consistency proof of draft-ietf-plants-merkle-tree-certs, as
    transparency-dev/merkle checks it; with ``start`` 0 it is an RFC 9162
    consistency proof. Raises ``LogProofError`` with code
    ``log-consistency-invalid`` on any failure.
    """
    if not _check_subtree(start, end) or end > size:
        raise LogProofError("log-consistency-invalid", f"[{start}, {end}) is not a subtree")
    if start == end:
        # The empty subtree is in every tree; its only valid root is MTH({}).
        if proof or subtree_root != EMPTY_ROOT:
            raise LogProofError("log-consistency-invalid", "an empty subtree has the empty root")
        return
    if start == 0 and end == size:
        if proof or subtree_root != root:
            raise LogProofError("log-consistency-invalid", "the whole tree needs equal roots")
        return
    if not proof or not all(_is_hash(p) for p in proof):
        raise LogProofError("log-consistency-invalid", "the proof is empty or not of hashes")
    if _root_from_subtree_consistency(start, end, size, list(proof), subtree_root) != root:
        raise LogProofError("log-consistency-invalid")


def _root_from_subtree_consistency(
    start: int, end: int, size: int, proof: list[bytes], subtree_root: bytes
) -> bytes:
    """The tree root a subtree consistency proof leads to, after checking its subtree part.

    Ported from transparency-dev/merkle (proof/verify.go,
    rootFromSubtreeConsistencyProof); the comments there explain each step.
    """
    fail = LogProofError("log-consistency-invalid")
    if end == size:
        # The subtree is on the right border: only left siblings lead up.
        index = start >> ((end - 1) ^ start).bit_length()
        if len(proof) != index.bit_count():
            raise fail
        return _chain_border_right(subtree_root, proof)
    fork_level = ((end - 1) ^ (size - 1)).bit_length()
    border = ((end - 1) >> fork_level).bit_count()
    shift = ((end - start) & -(end - start)).bit_length() - 1
    inner = fork_level - shift
    seed, first = proof[0], 1
    # A perfect subtree is its own rightmost perfect subtree, whose hash the
    # verifier already has; the proof then does not repeat it.
    if end - start == 1 << shift:
        seed, first = subtree_root, 0
    if len(proof) != first + inner + border:
        raise fail
    path = proof[first:]
    mask = (end - 1) >> shift
    if first == 1:
        height = ((end - 1) ^ start).bit_length()
        sub_inner = min(height, fork_level) - shift
        sub_border = max(0, border - ((end - 1) >> height).bit_count())
        old = _chain_inner_right(seed, path[:sub_inner], mask)
        old = _chain_border_right(old, path[inner : inner + sub_border])
        if old != subtree_root:
            raise fail
    new = _chain_inner(seed, path[:inner], mask)
    return _chain_border_right(new, path[inner:])


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for level, sibling in enumerate(proof):
        seed = node_hash(sibling, seed) if (index >> level) & 1 else node_hash(seed, sibling)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    # Only the left siblings: the hash of this node as it was before the nodes
    # to its right existed.
    for level, sibling in enumerate(proof):
        if (index >> level) & 1:
            seed = node_hash(sibling, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for sibling in proof:
        seed = node_hash(sibling, seed)
    return seed


class MerkleTree:
    """An append-only in-memory log tree that keeps every full subtree hash, level by level.

    Level ``L`` holds the hash of each perfect subtree of ``2**L`` leaves, packed
    in one ``bytearray`` (32 bytes a hash, about 64 bytes per entry in all), so
    ``hash_at`` is an array read. Appending hashes the leaf and completes the
    subtrees it closes: one node hash per entry on average. Roots and proofs
    for any past size come from these stored hashes, as they would from tiles.
    """

    def __init__(self) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0

    @property
    def size(self) -> int:
        """The number of entries appended."""
        return self._size

    @property
    def stored_bytes(self) -> int:
        """The bytes of node hashes held, all levels together (about 64 per entry)."""
        return sum(len(level) for level in self._levels)

    def append(self, entry: bytes) -> int:
        """Append ``entry`` (its leaf hash is computed here); return its index."""
        return self.append_leaf_hash(leaf_hash(entry))

    def append_leaf_hash(self, leaf: bytes) -> int:
        """Append an entry by its ``leaf`` hash (from ``leaf_hash``); return its index."""
        if not _is_hash(leaf):
            raise ValueError("a leaf hash is 32 bytes")
        index = self._size
        digest, position, level = leaf, index, 0
        self._levels[0] += digest
        # Each odd position closes a pair: its parent is now a full subtree.
        while position & 1:
            offset = (position - 1) * HASH_SIZE
            digest = node_hash(bytes(self._levels[level][offset : offset + HASH_SIZE]), digest)
            level += 1
            position >>= 1
            if level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[level] += digest
        self._size = index + 1
        return index

    def hash_at(self, level: int, index: int) -> bytes:
        """The stored hash of the perfect subtree at ``level``, ``index`` (see ``HashAt``)."""
        offset = index * HASH_SIZE
        if 0 <= level < len(self._levels) and index >= 0:
            digest = bytes(self._levels[level][offset : offset + HASH_SIZE])
            if len(digest) == HASH_SIZE:
                return digest
        raise LogProofError("log-range-invalid", f"no full subtree at {level}/{index}")

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` entries (default: all of them)."""
        return root_at(self._checked_size(size), self.hash_at)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The inclusion proof of entry ``index`` in the tree of ``size`` (default: all)."""
        return inclusion_proof(index, self._checked_size(size), self.hash_at)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The consistency proof from ``old_size`` to ``new_size`` (default: all)."""
        return consistency_proof(old_size, self._checked_size(new_size), self.hash_at)

    def _checked_size(self, size: int | None) -> int:
        if size is None:
            return self._size
        if not 0 <= size <= self._size:
            raise LogProofError("log-range-invalid", f"size {size} is not in [0, {self._size}]")
        return size
