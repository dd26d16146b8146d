"""The custody log's stored Merkle tree on real SQLite and PostgreSQL: written with each event,
so its root and proofs come from O(log n) stored nodes and always equal the tree of every leaf."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select

from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.log_repo import LogRepo
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.db.schema import CustodyEventRow, LogNodeRow
from recorder_sync.domain import merkle
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.errors import CustodyChainBroken

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def catalog(url: str) -> SqlCatalog:
    engine = make_engine(url)
    upgrade(engine)
    return SqlCatalog(engine, station="st-1", actor="test")


def leaves(c: SqlCatalog) -> list[bytes]:
    return [bytes.fromhex(e.leaf_hash) for e in c.events()]


def test_the_stored_root_and_proofs_equal_the_tree_of_every_leaf(db_url: str) -> None:
    c = catalog(db_url)
    log = LogRepo(c)
    assert log.log_size() == 0 and log.log_root(0) == merkle.EMPTY_ROOT
    for i in range(37):
        c.note(EventKind.ACCESSED, T0, details={"i": i})
        all_leaves = leaves(c)
        assert log.log_size() == len(all_leaves) == i + 1
        assert log.log_root(i + 1) == merkle.root(all_leaves)
    all_leaves = leaves(c)
    for size in (1, 2, 5, 16, 17, 37):
        assert log.log_root(size) == merkle.root(all_leaves[:size])
        for index in range(size):
            assert log.inclusion_proof(index, size) == merkle.inclusion_proof(index, all_leaves[:size])
        for old in range(1, size + 1):
            assert log.consistency_proof(old, size) == merkle.consistency_proof(old, all_leaves[:size])


def _append_many(url: str, worker: int, n: int) -> None:
    c = SqlCatalog(make_engine(url), station=f"st-{worker}", actor=f"w{worker}")
    for i in range(n):
        c.note(EventKind.ACCESSED, T0, details={"worker": worker, "i": i})


def test_concurrent_writers_keep_the_tree_right(db_url: str) -> None:
    catalog(db_url)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(db_url, w, 30)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    c = catalog(db_url)
    all_leaves = leaves(c)
    assert len(all_leaves) == 60
    assert LogRepo(c).log_root(60) == merkle.root(all_leaves)


def test_the_migration_fills_in_the_tree_of_an_existing_log(db_url: str) -> None:
    from alembic import command

    from recorder_sync.adapters.db.engine import alembic_config

    c = catalog(db_url)
    for i in range(21):
        c.note(EventKind.ACCESSED, T0, details={"i": i})
    cfg = alembic_config(db_url)
    with c.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")  # a database from before the tree: events, no nodes
    upgrade(c.engine)
    with c.transaction() as s:
        assert s.scalar(select(func.count()).select_from(LogNodeRow)) == 21 + 10 + 5 + 2 + 1
    assert LogRepo(c).log_root(21) == merkle.root(leaves(c))


def test_an_append_after_the_events_tail_was_deleted_is_refused(db_url: str) -> None:
    """Deleting events but not their nodes would make the next event's leaf collide: said
    plainly (exit 3), never an IntegrityError from the database."""
    c = catalog(db_url)
    for i in range(5):
        c.note(EventKind.ACCESSED, T0, details={"i": i})
    with c.transaction() as s:
        s.execute(delete(CustodyEventRow).where(CustodyEventRow.seq > 3))
    with pytest.raises(CustodyChainBroken, match="events were deleted"):
        c.note(EventKind.ACCESSED, T0)
