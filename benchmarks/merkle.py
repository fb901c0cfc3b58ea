"""Benchmark: the RFC 9162 Merkle tree of the transparency log at 1,000,000 entries.

Run with ``python -m benchmarks.merkle``. The tree is an in-memory
``MerkleTree`` of a million 100-byte entries (a key event is about that size);
then each figure is the median over rounds, on one core, next to a floor
measured in the same run: SHA-256 in a bare loop, as many hashes as the
operation cannot avoid. The ratio is the cost of doing it in Python (the loop,
reading stored hashes, the checks); the product asks for the figures, so no
target is set:

- append at 1,000,000 entries: a leaf hash and, amortised, one node hash;
- produce an inclusion proof (a random leaf, against the whole tree): about
  ``log2 n`` stored hashes read plus a rehash of the tree's right border; the
  floor is one hash per proof hash;
- check an inclusion proof: one node hash per proof hash;
- produce and check a consistency proof (a random old size to the whole
  tree): floors as for inclusion, except that the check rebuilds both roots
  and its floor is the node hashes it does, counted;
- the root of the whole tree from stored hashes.

The time to build the whole tree and the memory its stored hashes take are
printed below the table.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import random
import statistics
import time
from collections.abc import Callable, Iterator

from ageverify.translog import merkle
from benchmarks.timing import median_seconds, report

ENTRY_SIZE = 100


def main() -> None:
    """Build the tree, measure and print the figures; ``--quick`` for a short run."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    parser.add_argument("--entries", type=int, default=1_000_000, help="size of the log")
    args = parser.parse_args()
    rounds = 3 if args.quick else 9
    number = 200 if args.quick else 2000
    entries: int = args.entries
    rng = random.Random(9162)  # noqa: S311 - positions to measure at, not secrets

    tree = merkle.MerkleTree()
    entry = bytes(ENTRY_SIZE)
    started = time.perf_counter()
    for i in range(entries):
        tree.append(i.to_bytes(8, "big") + entry[8:])
    build_seconds = time.perf_counter() - started
    size = tree.size
    root = tree.root()

    # The floors: SHA-256 of a node (65 bytes) and of a leaf (101 bytes), in a
    # bare loop so that the figure is the hash and not the calling around it.
    node_seconds = median_seconds(lambda: _hashes(1 + 64, 1000), number=10, rounds=rounds) / 1000
    leaf_seconds = median_seconds(lambda: _hashes(1 + ENTRY_SIZE, 1000), number=10, rounds=rounds)
    leaf_seconds /= 1000

    # Append: measured on a copy-free tree that keeps growing past the size;
    # a few thousand entries on a million do not move the figure.
    append_seconds = median_seconds(lambda: tree.append(entry), number=number, rounds=rounds)

    # Proofs against the first ``size`` entries, the million built above.
    indices = [rng.randrange(size) for _ in range(number)]
    inclusion = {i: tree.inclusion_proof(i, size) for i in indices}
    leaves = {i: tree.hash_at(0, i) for i in indices}
    inclusion_length = statistics.mean(len(p) for p in inclusion.values())
    produce_inclusion = _median_over(
        lambda i: tree.inclusion_proof(i, size), indices, number=number, rounds=rounds
    )
    check_inclusion = _median_over(
        lambda i: merkle.verify_inclusion(leaves[i], i, size, inclusion[i], root),
        indices,
        number=number,
        rounds=rounds,
    )

    old_sizes = [rng.randrange(1, size) for _ in range(number)]
    consistency = {m: tree.consistency_proof(m, size) for m in old_sizes}
    old_roots = {m: tree.root(m) for m in old_sizes}
    consistency_length = statistics.mean(len(p) for p in consistency.values())
    consistency_hashes = statistics.mean(
        _node_hashes_done(
            functools.partial(
                merkle.verify_consistency, m, size, old_roots[m], root, consistency[m]
            )
        )
        for m in old_sizes[:100]
    )
    produce_consistency = _median_over(
        lambda m: tree.consistency_proof(m, size), old_sizes, number=number, rounds=rounds
    )
    check_consistency = _median_over(
        lambda m: merkle.verify_consistency(m, size, old_roots[m], root, consistency[m]),
        old_sizes,
        number=number,
        rounds=rounds,
    )
    root_seconds = median_seconds(lambda: tree.root(size), number=number, rounds=rounds)

    at = f"{size:,}"
    print(
        report(
            [
                (
                    f"append at {at} (leaf + 1 node hash)",
                    append_seconds,
                    leaf_seconds + node_seconds,
                    None,
                ),
                (
                    f"produce inclusion proof at {at} ({inclusion_length:.1f} hashes)",
                    produce_inclusion,
                    inclusion_length * node_seconds,
                    None,
                ),
                (
                    f"check inclusion proof at {at}",
                    check_inclusion,
                    inclusion_length * node_seconds,
                    None,
                ),
                (
                    f"produce consistency proof to {at} ({consistency_length:.1f} hashes)",
                    produce_consistency,
                    consistency_length * node_seconds,
                    None,
                ),
                (
                    f"check consistency proof to {at}",
                    check_consistency,
                    # Both roots are rebuilt along the path: up to two hashes a step,
                    # counted.
                    consistency_hashes * node_seconds,
                    None,
                ),
                (
                    f"root at {at} from stored hashes",
                    root_seconds,
                    # One stored hash per set bit of the size, folded together.
                    max(1, size.bit_count() - 1) * node_seconds,
                    None,
                ),
            ]
        )
    )
    stored = tree.stored_bytes
    print()
    print(f"build {at} entries: {build_seconds:.2f} s ({build_seconds / size * 1e6:.2f} us each)")
    print(f"stored node hashes: {stored / 2**20:.1f} MiB ({stored / size:.1f} bytes per entry)")


def _node_hashes_done(call: Callable[[], object]) -> int:
    """How many node hashes ``call`` computes."""
    count = 0
    node_hash = merkle.node_hash

    def counting(left: bytes, right: bytes) -> bytes:
        nonlocal count
        count += 1
        return node_hash(left, right)

    merkle.node_hash = counting  # type: ignore[assignment]
    try:
        call()
    finally:
        merkle.node_hash = node_hash  # type: ignore[assignment]
    return count


def _hashes(length: int, count: int) -> bytes:
    """Chain ``count`` SHA-256 hashes of ``length``-byte messages."""
    digest, pad = bytes(32), bytes(length - 32)
    for _ in range(count):
        digest = hashlib.sha256(pad + digest).digest()
    return digest


def _median_over(
    call: Callable[[int], object], arguments: list[int], *, number: int, rounds: int
) -> float:
    """The median per-call time of ``call`` applied to ``arguments`` in turn."""
    cycle = _cycle(arguments)
    return median_seconds(lambda: call(next(cycle)), number=number, rounds=rounds)


def _cycle(values: list[int]) -> Iterator[int]:
    while True:
        yield from values


if __name__ == "__main__":
    main()
