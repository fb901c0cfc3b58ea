"""The transparency log: Merkle tree, signed notes and checkpoints, tiles."""
