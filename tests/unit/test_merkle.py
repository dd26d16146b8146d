"""The Merkle tree against answers derived without it.

Two independent sources: the RFC 6962 reference tree (the Certificate Transparency test
vectors, which every CT and tlog implementation checks against), and a transcription of the
RFC's recursive definitions (MTH, PATH, SUBPROOF) kept in this file, compared for every
index of every tree of 1..64 leaves.  Every mutation of a valid proof must then fail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder_sync.domain import merkle
from recorder_sync.domain.errors import ProofInvalid, VerificationFailed

# --- RFC 6962 reference tree -------------------------------------------------------------

REF_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
REF_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
REF_INCLUSION = [  # (index, size, path)
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
REF_CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
REF_HASHES = [merkle.leaf_hash(d) for d in REF_LEAVES]


def test_reference_roots_for_every_size() -> None:
    for size, want in enumerate(REF_ROOTS):
        assert merkle.root(REF_HASHES[:size]).hex() == want, size
    assert hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT


@pytest.mark.parametrize(("index", "size", "path"), REF_INCLUSION)
def test_reference_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    proof = merkle.inclusion_proof(index, REF_HASHES[:size])
    assert [h.hex() for h in proof] == path
    merkle.verify_inclusion(REF_HASHES[index], index, size, proof, bytes.fromhex(REF_ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "path"), REF_CONSISTENCY)
def test_reference_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    proof = merkle.consistency_proof(old, REF_HASHES[:new])
    assert [h.hex() for h in proof] == path
    merkle.verify_consistency(old, new, proof, bytes.fromhex(REF_ROOTS[old]), bytes.fromhex(REF_ROOTS[new]))


# --- the RFC's recursive definitions, transcribed ----------------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]  # d holds leaf hashes already
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    return [*path(m, d[:k]), mth(d[k:])] if m < k else [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


LEAVES = [merkle.leaf_hash(i.to_bytes(2, "big")) for i in range(64)]


def test_roots_and_proofs_match_the_rfc_definitions_for_every_index_of_trees_up_to_64() -> None:
    for n in range(1, 65):
        tree = LEAVES[:n]
        assert merkle.root(tree) == mth(tree)
        for i in range(n):
            proof = merkle.inclusion_proof(i, tree)
            assert proof == path(i, tree), (i, n)
            merkle.verify_inclusion(tree[i], i, n, proof, mth(tree))
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, tree)
            assert proof == subproof(m, tree, True), (m, n)
            merkle.verify_consistency(m, n, proof, mth(tree[:m]), mth(tree))


# --- every mutation fails ------------------------------------------------------------------


def _flip(h: bytes, at: int = 0) -> bytes:
    return h[:at] + bytes([h[at] ^ 1]) + h[at + 1 :]


def _mutations(proof: list[bytes]) -> list[tuple[str, list[bytes]]]:
    out: list[tuple[str, list[bytes]]] = []
    for i in range(len(proof)):
        out.append((f"flip {i}", [*proof[:i], _flip(proof[i], i % 32), *proof[i + 1 :]]))
        out.append((f"drop {i}", proof[:i] + proof[i + 1 :]))
        out.append((f"short {i}", [*proof[:i], proof[i][:31], *proof[i + 1 :]]))
        if i + 1 < len(proof) and proof[i] != proof[i + 1]:
            out.append((f"swap {i}", [*proof[:i], proof[i + 1], proof[i], *proof[i + 2 :]]))
    for i in range(len(proof) + 1):
        out.append((f"add at {i}", [*proof[:i], LEAVES[0], *proof[i:]]))
    return out


def _refused(fn: object, *args: object) -> None:
    with pytest.raises(ProofInvalid):
        fn(*args)  # type: ignore[operator]


def test_every_mutation_of_an_inclusion_proof_fails() -> None:
    for n in range(1, 33):
        tree = LEAVES[:n]
        r = merkle.root(tree)
        for i in range(n):
            proof = merkle.inclusion_proof(i, tree)
            for _, bad in _mutations(proof):
                _refused(merkle.verify_inclusion, tree[i], i, n, bad, r)
            for j in (i - 1, i + 1, n, -1):
                if j != i:
                    _refused(merkle.verify_inclusion, tree[i], j, n, proof, r)
            # the size comes with its own root in a checkpoint: another checkpoint, another tree
            # (with this root, a size whose right edge hashes alike may pass: the root binds the size)
            for size in (n - 1, n + 1, 0):
                _refused(merkle.verify_inclusion, tree[i], i, size, proof, merkle.root(LEAVES[:size]))
            _refused(merkle.verify_inclusion, _flip(tree[i]), i, n, proof, r)
            _refused(merkle.verify_inclusion, tree[i], i, n, proof, _flip(r))


def test_every_mutation_of_a_consistency_proof_fails() -> None:
    for n in range(1, 33):
        tree = LEAVES[:n]
        new = merkle.root(tree)
        for m in range(1, n + 1):
            old = merkle.root(tree[:m])
            proof = merkle.consistency_proof(m, tree)
            for _, bad in _mutations(proof):
                _refused(merkle.verify_consistency, m, n, bad, old, new)
            _refused(merkle.verify_consistency, m, n, proof, _flip(old), new)
            _refused(merkle.verify_consistency, m, n, proof, old, _flip(new))
            for m2, n2 in ((m - 1, n), (m + 1, n), (m, n + 1), (m, n - 1)):
                roots = (merkle.root(LEAVES[: max(m2, 0)]), merkle.root(LEAVES[: max(n2, 0)]))
                _refused(merkle.verify_consistency, m2, n2, proof, *roots)


def test_edge_rules() -> None:
    tree = LEAVES[:5]
    r = merkle.root(tree)
    # an index at or past the size, a negative index, an empty tree
    _refused(merkle.verify_inclusion, tree[0], 5, 5, merkle.inclusion_proof(4, tree), r)
    _refused(merkle.verify_inclusion, tree[0], 0, 0, [], merkle.EMPTY_ROOT)
    # a leaf or root of the wrong length
    _refused(merkle.verify_inclusion, tree[0][:31], 0, 5, merkle.inclusion_proof(0, tree), r)
    _refused(merkle.verify_inclusion, tree[0], 0, 5, merkle.inclusion_proof(0, tree), r + b"\0")
    # consistency: from an empty tree, backwards, equal sizes
    _refused(merkle.verify_consistency, 0, 5, [], merkle.EMPTY_ROOT, r)
    _refused(merkle.verify_consistency, 0, 0, [], merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)
    _refused(merkle.verify_consistency, 5, 4, [], r, merkle.root(tree[:4]))
    merkle.verify_consistency(5, 5, [], r, r)
    _refused(merkle.verify_consistency, 5, 5, [r], r, r)
    _refused(merkle.verify_consistency, 5, 5, [], r, _flip(r))
    # the generators refuse what has no proof
    for bad_index in (-1, 5):
        with pytest.raises(ValueError):
            merkle.inclusion_proof(bad_index, tree)
    for bad_old in (0, 6):
        with pytest.raises(ValueError):
            merkle.consistency_proof(bad_old, tree)
    assert issubclass(ProofInvalid, VerificationFailed)  # exit 3: the evidence is not what it should be


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3000), st.data())
def test_random_large_trees(n: int, data: st.DataObject) -> None:
    tree = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    r = merkle.root(tree)
    i = data.draw(st.integers(0, n - 1))
    merkle.verify_inclusion(tree[i], i, n, merkle.inclusion_proof(i, tree), r)
    m = data.draw(st.integers(1, n))
    merkle.verify_consistency(m, n, merkle.consistency_proof(m, tree), merkle.root(tree[:m]), r)


# --- the stored tree ----------------------------------------------------------------------


class CountingNodes(dict[tuple[int, int], bytes]):
    """Stored nodes that count how many are read."""

    reads = 0

    def get_node(self, level: int, i: int) -> bytes:
        self.reads += 1
        return self[(level, i)]


def test_stored_nodes_give_the_same_roots_and_proofs_reading_few_nodes() -> None:
    n = 1000
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    nodes = CountingNodes()
    for i, leaf in enumerate(leaves):
        for level, j, h in merkle.completed_nodes(i, leaf, nodes.get_node):
            nodes[(level, j)] = h
    assert len(nodes) == 2 * n - bin(n).count("1")  # every perfect subtree, once
    range_root = merkle.stored_range_root(nodes.get_node)
    for size in (1, 2, 3, 7, 8, 9, 511, 512, 513, 999, 1000):
        assert range_root(0, size) == merkle.root(leaves[:size]), size
        for i in {0, size // 3, size - 1}:
            nodes.reads = 0
            proof = merkle.inclusion_proof_from(i, size, range_root)
            assert proof == merkle.inclusion_proof(i, leaves[:size])
            assert nodes.reads <= 2 * size.bit_length() ** 2  # O(log² n) nodes, never the leaves
        for old in {1, size // 2 or 1, size}:
            assert merkle.consistency_proof_from(old, size, range_root) == merkle.consistency_proof(
                old, leaves[:size]
            )


def test_range_nodes_tile_aligned_ranges_with_decreasing_subtrees() -> None:
    assert merkle.range_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert merkle.range_nodes(8, 13) == [(2, 2), (0, 12)]
    assert merkle.range_nodes(5, 5) == []
    for start in range(0, 64, 8):
        for end in range(start, start + 9):
            tiles = merkle.range_nodes(start, end)
            covered = [k for level, i in tiles for k in range(i << level, (i + 1) << level)]
            assert covered == list(range(start, end))
