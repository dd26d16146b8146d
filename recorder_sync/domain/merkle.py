"""The custody log's Merkle tree, hashed exactly as RFC 9162 §2.1 says.

Leaves are ``SHA-256(0x00 || data)``, interior nodes ``SHA-256(0x01 || left || right)``,
and a tree of n > 1 leaves splits at the largest power of two below n, so any other
RFC 9162 or RFC 6962 implementation computes the same roots and accepts the same proofs.

The verifiers follow §2.1.3.2 (inclusion) and §2.1.4.2 (consistency), and check the
proof's length before anything else: a proof with a hash too many or too few is wrong even
where the arithmetic would happen to pass.  Proof generation takes the root of any range
of leaves through one function, so a store that keeps subtree hashes can answer without
holding every leaf in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from recorder_sync.domain.errors import ProofInvalid

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

RangeRoot = Callable[[int, int], bytes]
"""The root of leaves [start, end): how proof generation reads the tree."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n ≥ 2): where RFC 9162 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


class Accumulator:
    """The tree head of leaves given one at a time, in O(log n) memory: an auditor re-hashing
    a log of millions of events reads the root at every size it needs on the way."""

    def __init__(self) -> None:
        self.size = 0
        # a stack of perfect subtrees, largest first, as the leaves arrive left to right
        self._stack: list[tuple[int, bytes]] = []

    def append(self, leaf: bytes) -> None:
        size, node = 1, leaf
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, node = left_size + size, node_hash(left, node)
        self._stack.append((size, node))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The tree head of these leaves, in one pass with O(log n) memory."""
    acc = Accumulator()
    for h in leaf_hashes:
        acc.append(h)
    return acc.root()


def _range_root(leaf_hashes: Sequence[bytes]) -> RangeRoot:
    return lambda start, end: root(leaf_hashes[start:end])


# --- a stored tree: perfect subtrees by (level, index) -------------------------------------
# Node (level, i) is the root of leaves [i·2^level, (i+1)·2^level).  Appending a leaf stores
# the nodes it completes (at most log n), and the root of any range a proof asks for is the
# fold of at most 2·log n stored nodes: so a log of millions of events appends and proves
# without reading its leaves.

NodeGetter = Callable[[int, int], bytes]


def completed_nodes(index: int, leaf: bytes, node: NodeGetter) -> list[tuple[int, int, bytes]]:
    """The nodes that leaf number ``index`` (from 0) completes, itself first, to be stored."""
    out = [(0, index, leaf)]
    level, i, h = 0, index, leaf
    while i & 1:
        h = node_hash(node(level, i - 1), h)
        level, i = level + 1, i >> 1
        out.append((level, i, h))
    return out


def range_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """The largest perfect subtrees that tile leaves [start, end), left to right."""
    out: list[tuple[int, int]] = []
    while start < end:
        size = start & -start if start else 1 << ((end - 1).bit_length())
        while start + size > end:
            size >>= 1
        out.append((size.bit_length() - 1, start // size))
        start += size
    return out


def stored_range_root(node: NodeGetter) -> RangeRoot:
    """``RangeRoot`` over stored nodes, for every range whose start is a multiple of a power of
    two at least its length: the only ranges RFC 9162's proofs (and the tree head) ask for."""

    def range_root(start: int, end: int) -> bytes:
        hashes = [node(level, i) for level, i in range_nodes(start, end)]
        if not hashes:
            return EMPTY_ROOT
        h = hashes[-1]
        for left in reversed(hashes[:-1]):
            h = node_hash(left, h)
        return h

    return range_root


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of all ``leaf_hashes`` (RFC 9162 §2.1.3.1)."""
    return inclusion_proof_from(index, len(leaf_hashes), _range_root(leaf_hashes))


def inclusion_proof_from(index: int, size: int, range_root: RangeRoot) -> list[bytes]:
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            proof.append(range_root(start + k, end))
            end = start + k
        else:
            proof.append(range_root(start, start + k))
            start += k
    proof.reverse()  # collected from the top down; the path runs from the leaf up
    return proof


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The proof that the first ``old_size`` leaves are a prefix of all of them (§2.1.4.1)."""
    return consistency_proof_from(old_size, len(leaf_hashes), _range_root(leaf_hashes))


def consistency_proof_from(old_size: int, size: int, range_root: RangeRoot) -> list[bytes]:
    if not 0 < old_size <= size:
        raise ValueError(f"no consistency proof from {old_size} to {size} leaves")
    proof: list[bytes] = []
    start, end, whole = 0, size, True  # SUBPROOF(m, D[start:end], whole)
    m = old_size
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            proof.append(range_root(start + k, end))
            end = start + k
        else:
            proof.append(range_root(start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        proof.append(range_root(start, end))
    proof.reverse()
    return proof


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise ProofInvalid(what, f"hash {i} is not {HASH_SIZE} bytes")


def _inclusion_length(index: int, size: int) -> int:
    inner = (index ^ (size - 1)).bit_length()  # levels where the path and the right edge part
    return inner + (index >> inner).bit_count()


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ``ProofInvalid`` unless ``proof`` puts ``leaf_hash`` at ``index`` in ``root``."""
    what = f"inclusion of leaf {index} in a tree of {size}"
    if not 0 <= index < size:
        raise ProofInvalid(what, "the index is not inside the tree")
    _check_hashes(what, [leaf_hash, root, *proof])
    if len(proof) != _inclusion_length(index, size):
        raise ProofInvalid(what, f"the proof has {len(proof)} hashes, not {_inclusion_length(index, size)}")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofInvalid(what, "the proof is longer than the path")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or r != root:
        raise ProofInvalid(what, "the path does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Raise ``ProofInvalid`` unless the tree ``old_root`` is a prefix of ``new_root``."""
    what = f"consistency of a tree of {old_size} with one of {new_size}"
    _check_hashes(what, [old_root, new_root, *proof])
    if old_size <= 0 or old_size > new_size:
        raise ProofInvalid(what, "the old size must be between 1 and the new size")
    if old_size == new_size:
        if proof:
            raise ProofInvalid(what, "equal sizes take an empty proof")
        if old_root != new_root:
            raise ProofInvalid(what, "equal sizes with different roots")
        return
    # where the old tree's right edge parts from the new one's, and the perfect subtree it starts at
    shift = (old_size & -old_size).bit_length() - 1
    inner = (((old_size - 1) ^ (new_size - 1)).bit_length()) - shift
    border = ((old_size - 1) >> (inner + shift)).bit_count()
    seeded = old_size == 1 << shift  # the old tree is itself that perfect subtree: no seed hash sent
    expected = (0 if seeded else 1) + inner + border
    if len(proof) != expected:
        raise ProofInvalid(what, f"the proof has {len(proof)} hashes, not {expected}")
    path = [old_root, *proof] if seeded else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofInvalid(what, "the proof is longer than the path")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofInvalid(what, "the proof is shorter than the path")
    if fr != old_root:
        raise ProofInvalid(what, "the proof does not lead to the old root")
    if sr != new_root:
        raise ProofInvalid(what, "the proof does not lead to the new root")
