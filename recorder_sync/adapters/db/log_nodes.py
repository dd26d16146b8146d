"""The custody log's stored Merkle nodes (``log_nodes``): written with each event, read in one
query per proof.

``append_event`` calls :func:`store_nodes` in the event's own transaction, under the append
lock, so the tree and the chain never disagree about what was appended.  Proofs and roots
first learn which nodes they need (a dry run of the same fold), then fetch them all at once:
a proof in a log of millions of events costs a few milliseconds, not one query per node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from recorder_sync.adapters.db.schema import LogNodeRow
from recorder_sync.domain import merkle
from recorder_sync.domain.errors import CustodyChainBroken

T = TypeVar("T")
_CHUNK = 400
_PLACEHOLDER = bytes(merkle.HASH_SIZE)


def fetch_nodes(s: Session, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    by_level: dict[int, list[int]] = {}
    for level, idx in set(wanted):
        by_level.setdefault(level, []).append(idx)
    found: dict[tuple[int, int], bytes] = {}
    # ``level = ? AND idx IN (…)`` per level: both databases walk the primary key for it,
    # where a row-value IN over (level, idx) makes SQLite scan the whole table
    for level, ids in sorted(by_level.items()):
        for start in range(0, len(ids), _CHUNK):
            rows = s.execute(
                select(LogNodeRow.idx, LogNodeRow.hash).where(
                    LogNodeRow.level == level, LogNodeRow.idx.in_(ids[start : start + _CHUNK])
                )
            )
            found.update({(level, idx): h for idx, h in rows})
    return found


def with_nodes(s: Session, what: str, compute: Callable[[merkle.NodeGetter], T]) -> T:
    """``compute`` run over the stored nodes, all fetched in one go."""
    wanted: set[tuple[int, int]] = set()

    def note(level: int, idx: int) -> bytes:
        wanted.add((level, idx))
        return _PLACEHOLDER

    compute(note)
    found = fetch_nodes(s, wanted)
    missing = wanted - found.keys()
    if missing:
        level, idx = min(missing)
        raise CustodyChainBroken(
            what, f"the stored log tree has no node at level {level}, index {idx} (rows were deleted)"
        )
    return compute(lambda level, idx: found[(level, idx)])


def store_nodes(s: Session, seq: int, leaf_hex: str) -> None:
    """The nodes that event ``seq`` (leaf ``seq - 1``) completes, inserted in ``s``."""
    store_leaves(s, seq, [leaf_hex])


def store_leaves(s: Session, first_seq: int, leaf_hexes: Sequence[str]) -> None:
    """The nodes that events ``first_seq`` onwards (one leaf each, in order) complete,
    inserted in ``s`` at once: the left siblings they need are fetched in one go, those
    the run itself completes are taken from it."""
    if not leaf_hexes:
        return
    first = first_seq - 1
    taken = s.scalar(
        select(LogNodeRow.idx)
        .where(LogNodeRow.level == 0, LogNodeRow.idx >= first, LogNodeRow.idx < first + len(leaf_hexes))
        .order_by(LogNodeRow.idx)
        .limit(1)
    )
    if taken is not None:
        # the events table is shorter than the tree: its tail was deleted behind our back
        raise CustodyChainBroken(
            taken + 1,
            "the stored log tree already holds a leaf at this position: custody events were deleted "
            "(see recorder-sync log acknowledge)",
        )
    leaves = [bytes.fromhex(h) for h in leaf_hexes]

    def fold(node: merkle.NodeGetter) -> list[tuple[int, int, bytes]]:
        made: dict[tuple[int, int], bytes] = {}

        def known(level: int, idx: int) -> bytes:
            found = made.get((level, idx))
            return node(level, idx) if found is None else found

        out: list[tuple[int, int, bytes]] = []
        for k, leaf in enumerate(leaves):
            for level, idx, h in merkle.completed_nodes(first + k, leaf, known):
                made[(level, idx)] = h
                out.append((level, idx, h))
        return out

    what = f"event {first_seq}" if len(leaves) == 1 else f"events {first_seq}-{first_seq + len(leaves) - 1}"
    nodes = with_nodes(s, what, fold)
    s.execute(insert(LogNodeRow), [{"level": lv, "idx": i, "hash": h} for lv, i, h in nodes])
