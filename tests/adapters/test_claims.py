"""Work claims (a lease on the row) on real SQLite and PostgreSQL: two owners never hold one
row, a lapsed claim is taken over, the holder that lost it cannot renew it or write an outcome,
and the ingest service works only what it claimed."""

from __future__ import annotations

import os
import subprocess
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fakes import Clock
from test_ingest_vault import service

from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain.claims import Lease
from recorder_sync.domain.errors import ClaimLost
from recorder_sync.domain.model import FileIdentity, Kind, SightingState
from recorder_sync.domain.ports import Progress

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
LEASE = timedelta(seconds=300)


def catalogs(url: str, n: int = 2) -> list[SqlCatalog]:
    """``n`` processes' catalogs: one engine (connection pool) and one claim owner each."""
    engine = make_engine(url)
    upgrade(engine)
    return [SqlCatalog(make_engine(url), station=f"st-{i}", actor="test") for i in range(n)]


def ident(i: int) -> FileIdentity:
    return FileIdentity(size=10 + i, mtime_ns=1, inode=100 + i, device=1)


def stable_sightings(c: SqlCatalog, n: int) -> list[int]:
    ids = []
    for i in range(n):
        s = c.observe("dock", f"f{i}.bin", ident(i), T0)
        c.mark_stable(s.id, T0)
        ids.append(s.id)
    return ids


def test_two_owners_claiming_at_once_get_disjoint_sets(db_url: str) -> None:
    a, b = catalogs(db_url)
    ids = stable_sightings(a, 60)
    got: dict[str, list[int]] = {a.owner: [], b.owner: []}
    start = threading.Barrier(2)

    def claim_all(c: SqlCatalog) -> None:
        start.wait()
        after = 0
        while batch := c.claim_sightings(["dock"], T0, T0 + LEASE, after=after, limit=4):
            got[c.owner] += [s.id for s in batch]
            after = batch[-1].id

    threads = [threading.Thread(target=claim_all, args=(c,)) for c in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert a.owner != b.owner
    assert not set(got[a.owner]) & set(got[b.owner]), got
    assert sorted(got[a.owner] + got[b.owner]) == ids  # every row claimed, each by one owner
    # while those claims are live, each owner can claim again only what it holds
    for c in (a, b):
        again = c.claim_sightings(["dock"], T0 + LEASE / 2, T0 + LEASE, limit=100)
        assert [s.id for s in again] == sorted(got[c.owner])


def test_a_lapsed_claim_is_taken_over_and_its_old_holder_can_neither_renew_nor_write(db_url: str) -> None:
    a, b = catalogs(db_url)
    [sid] = stable_sightings(a, 1)
    assert [s.id for s in a.claim_sightings(["dock"], T0, T0 + LEASE)] == [sid]
    assert b.claim_sightings(["dock"], T0 + LEASE - timedelta(seconds=1), T0 + 2 * LEASE) == []
    assert a.renew_claim("sightings", sid, T0 + 2 * LEASE)  # renewed in time: still a's
    assert b.claim_sightings(["dock"], T0 + LEASE + timedelta(seconds=1), T0 + 3 * LEASE) == []

    # a stalls; its claim lapses; b takes the row over
    later = T0 + 2 * LEASE + timedelta(seconds=1)
    assert [s.id for s in b.claim_sightings(["dock"], later, later + LEASE)] == [sid]
    assert not a.renew_claim("sightings", sid, later + LEASE)
    events = len(a.events())
    with pytest.raises(ClaimLost, match=rf"claimed by {b.owner}"):
        a.attach_hash(sid, sha256="c" * 64, ident=ident(0), kind_hint=Kind.OTHER, sidecar=None, now=later)
    with pytest.raises(ClaimLost):
        a.mark_gone(sid, later)
    assert len(a.events()) == events  # a wrote nothing
    assert a.sighting(sid).state == SightingState.STABLE

    # the new holder hashes it; the old one's late outcome would be a second: refused
    b.attach_hash(sid, sha256="c" * 64, ident=ident(0), kind_hint=Kind.OTHER, sidecar=None, now=later)
    b.release_claims("sightings", [sid])
    with pytest.raises(ClaimLost, match="already hashed"):
        a.attach_hash(sid, sha256="c" * 64, ident=ident(0), kind_hint=Kind.OTHER, sidecar=None, now=later)
    actions = Counter(e.fields["action"] for e in a.events())
    assert (actions["hashed"], actions["duplicate-seen"]) == (1, 0)


def test_recording_claims_are_exclusive_and_taken_over_after_they_lapse(db_url: str) -> None:
    a, b = catalogs(db_url)
    recs = []
    for i, sid in enumerate(stable_sightings(a, 5)):
        rec, _ = a.attach_hash(
            sid, sha256=str(i) * 64, ident=ident(i), kind_hint=Kind.OTHER, sidecar=None, now=T0
        )
        recs.append(rec.id)
    first = a.claim_recordings(T0, T0 + LEASE, limit=3)
    rest = b.claim_recordings(T0, T0 + LEASE)
    assert len(first) == 3 and len(rest) == 2
    assert {r.id for r in first} | {r.id for r in rest} == set(recs)
    assert not {r.id for r in first} & {r.id for r in rest}
    # the cursor goes on after the last one claimed
    assert a.claim_recordings(T0, T0 + LEASE, after=(first[-1].ingested_at, first[-1].id)) == []

    a.release_claims("recordings", [first[0].id])  # done with one: anyone may take it now
    assert [r.id for r in b.claim_recordings(T0, T0 + LEASE)] == [first[0].id] + [r.id for r in rest]
    later = T0 + LEASE + timedelta(seconds=1)
    taken = b.claim_recordings(later, later + LEASE)
    assert {r.id for r in taken} == set(recs)
    assert not a.renew_claim("recordings", first[1].id, later + LEASE)
    with pytest.raises(ClaimLost):
        a.recording_error(first[1].id, "late", later, None)
    assert b.recording(first[1].id).attempts == 0


def test_two_processes_observing_one_new_file_at_once_make_one_sighting(db_url: str) -> None:
    """Two stations that see one dock folder scan it at the same moment."""
    catalogs_ = catalogs(db_url, 4)
    start = threading.Barrier(len(catalogs_))

    def scan(c: SqlCatalog) -> None:
        start.wait()
        for i in range(40):
            c.observe("dock", f"f{i}.bin", ident(i), T0)

    threads = [threading.Thread(target=scan, args=(c,)) for c in catalogs_]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    pending = catalogs_[0].pending_sightings("dock")
    assert sorted(s.relpath for s in pending) == sorted(f"f{i}.bin" for i in range(40))
    discovered = [e for e in catalogs_[0].events() if e.fields["action"] == "discovered"]
    assert len(discovered) == 40


# --- the ingest service --------------------------------------------------------------------


def test_the_service_leaves_items_another_process_holds_until_their_claim_lapses(
    tmp_path: Path, db_url: str
) -> None:
    a, other = catalogs(db_url)
    clock = Clock()
    svc = service(tmp_path, a, clock)
    (tmp_path / "dock").mkdir()
    (tmp_path / "dock" / "x.bin").write_bytes(b"x" * 1000)
    svc.scan("d")
    clock.advance(10)  # stable
    [held] = other.claim_sightings(["d"], clock(), clock() + LEASE)  # another daemon works on it
    svc.run_once()
    assert a.sighting(held.id).state == SightingState.DISCOVERED
    assert [e.fields["action"] for e in a.events()] == ["discovered"]

    clock.advance(LEASE.total_seconds() + 1)  # the other daemon died: its claim lapsed
    svc.run_once()
    assert a.sighting(held.id).state == SightingState.RELEASED
    actions = [e.fields["action"] for e in a.events()]
    assert actions.count("hashed") == 1 and "duplicate-seen" not in actions


def test_a_holder_that_loses_its_claim_mid_hash_stops_and_writes_nothing(tmp_path: Path, db_url: str) -> None:
    """The holder stalls mid-read past its lease; another process takes the file over. At its
    next MiB the holder tries to renew, fails, and leaves the file to the new holder."""
    a, b = catalogs(db_url)
    clock = Clock()
    svc = service(tmp_path, a, clock)
    svc.lease = Lease(60)
    (tmp_path / "dock").mkdir()
    (tmp_path / "dock" / "big.bin").write_bytes(b"\0" * (8 << 20))
    [s] = [svc.catalog.sighting(i) for i in svc.scan("d").sightings]
    clock.advance(10)
    taken: list[int] = []
    read = [0]

    def meter(what: str, subject: str, total: int) -> Progress:
        def progress(n: int) -> None:
            read[0] += n
            if read[0] >= 2 << 20 and not taken:  # a stall of two leases, and b takes over meanwhile
                clock.advance(120)
                taken.extend(x.id for x in b.claim_sightings(["d"], clock(), clock() + LEASE))

        return progress

    svc.meter = meter
    report = svc.run_once()
    assert taken == [s.id]
    assert report.errors == []  # not a failure of the file: another process has it
    after = a.sighting(s.id)
    assert (after.state, after.attempts, after.recording_id) == (SightingState.STABLE, 0, None)
    assert [e.fields["action"] for e in a.events()] == ["discovered", "stable"]
    assert (tmp_path / "dock" / "big.bin").exists()


def test_claims_of_this_stations_dead_processes_are_freed_at_once(db_url: str) -> None:
    """A daemon killed and restarted must not wait out its predecessor's lease; another
    station's claims, and those of processes still alive, are left to lapse."""
    engine = make_engine(db_url)
    upgrade(engine)
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = SqlCatalog(engine, station="st-1", actor="t", owner=f"st-1/{gone.pid}/dead")
    live = SqlCatalog(engine, station="st-1", actor="t", owner=f"st-1/{os.getpid()}/other")
    remote = SqlCatalog(engine, station="st-2", actor="t", owner=f"st-2/{gone.pid}/remote")
    ids = stable_sightings(dead, 3)
    for c, sid in zip((dead, live, remote), ids, strict=True):
        assert [s.id for s in c.claim_sightings(["dock"], T0, T0 + LEASE, after=sid - 1, limit=1)] == [sid]
    rec, _ = dead.attach_hash(
        ids[0], sha256="c" * 64, ident=ident(0), kind_hint=Kind.OTHER, sidecar=None, now=T0
    )
    assert [r.id for r in dead.claim_recordings(T0, T0 + LEASE)] == [rec.id]

    restarted = SqlCatalog(engine, station="st-1", actor="t")
    assert restarted.free_claims_of_dead() == [dead.owner]
    assert [s.id for s in restarted.claim_sightings(["dock"], T0, T0 + LEASE)] == [ids[0]]
    assert [r.id for r in restarted.claim_recordings(T0, T0 + LEASE)] == [rec.id]
    assert restarted.free_claims_of_dead() == []
