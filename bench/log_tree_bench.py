"""The custody log's stored Merkle tree at scale: what one append, one root and one proof cost
when the log holds millions of events, next to the baseline of reading every leaf (what a
tree without stored nodes must do). Not a test: nothing asserts on time.

    python bench/log_tree_bench.py [--events 1000000] [--db sqlite:///path] [--samples 200]

The log is filled with synthetic events (bulk inserts of rows and of the nodes each one
completes, as migration 0006 does), then measured through ``LogRepo`` and ``SqlCatalog``.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.log_repo import LogRepo
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.db.schema import CustodyEventRow, LogNodeRow
from recorder_sync.domain import merkle
from recorder_sync.domain.custody import EventKind

T0 = datetime(2026, 11, 30, tzinfo=UTC)
BATCH = 20_000


def fill(catalog: SqlCatalog, n: int) -> None:
    edge: dict[int, bytes] = {}
    events: list[dict[str, object]] = []
    nodes: list[dict[str, object]] = []
    for index in range(n):
        leaf = hashlib.sha256(index.to_bytes(8, "big")).digest()
        events.append(
            {
                "seq": index + 1,
                "at": T0,
                "action": "accessed",
                "recording_id": None,
                "body": b"{}",
                "leaf_hash": leaf.hex(),
            }
        )
        for level, i, h in merkle.completed_nodes(index, leaf, lambda lv, _i: edge[lv]):
            edge[level] = h
            nodes.append({"level": level, "idx": i, "hash": h})
        if len(events) >= BATCH or index == n - 1:
            with catalog.transaction() as s:
                s.execute(insert(CustodyEventRow), events)
                s.execute(insert(LogNodeRow), nodes)
            events, nodes = [], []


def timed(fn: Callable[[], object], samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def show(what: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    print(f"  {what:<44} median {statistics.median(ms):8.2f} ms   p95 {ms[int(len(ms) * 0.95) - 1]:8.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", help="database URL (default: a new SQLite file in a temporary folder)")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp()) / 'log-bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    catalog = SqlCatalog(engine, station="bench", actor="bench")
    log = LogRepo(catalog)
    n = args.events
    start = time.perf_counter()
    fill(catalog, n)
    print(f"log of {n:,} events on {engine.dialect.name} (filled in {time.perf_counter() - start:.1f} s)")
    rng = random.Random(9)
    show(
        "append one event (event + its nodes)",
        timed(lambda: catalog.note(EventKind.ACCESSED, T0), args.samples),
    )
    size = log.log_size()
    show("root of the whole log", timed(lambda: log.log_root(size), args.samples))
    show(
        "inclusion proof of a random event",
        timed(lambda: log.inclusion_proof(rng.randrange(size), size), args.samples),
    )
    show(
        "consistency proof from a random older size",
        timed(lambda: log.consistency_proof(rng.randrange(1, size), size), args.samples),
    )
    print("baseline: the same root from every leaf (no stored nodes)")

    def every_leaf() -> bytes:
        with catalog.transaction() as s:
            leaves = s.execute(select(CustodyEventRow.leaf_hash).order_by(CustodyEventRow.seq)).scalars()
            return merkle.root([bytes.fromhex(h) for h in leaves])

    show("read every leaf hash and fold it", timed(every_leaf, 3))
    assert every_leaf() == log.log_root(size)


if __name__ == "__main__":
    main()
