"""The catalog on real SQLite and real PostgreSQL: transitions, idempotence, an unbroken custody chain."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from commits import write_commits
from sqlalchemy import update

from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.db.schema import Base, RecordingRow
from recorder_sync.apps.commands.records_cmd import flag_json
from recorder_sync.domain.custody import verify_chain
from recorder_sync.domain.errors import DatabaseUnavailable
from recorder_sync.domain.ingest_flags import rejected_file_flag, unreadable_media_flag
from recorder_sync.domain.model import (
    FileIdentity,
    Flag,
    FlagKind,
    FlagState,
    Kind,
    ProbeResult,
    Recording,
    RecordingState,
    Severity,
    SightingState,
    Sourced,
    StoredObject,
)

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
ID1 = FileIdentity(size=10, mtime_ns=1, inode=11, device=1)
SHA = "c" * 64


def catalog(url: str) -> SqlCatalog:
    engine = make_engine(url)
    upgrade(engine)
    return SqlCatalog(engine, station="st-1", actor="test")


def test_migrations_match_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # a second upgrade is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_full_lifecycle_with_custody_chain(db_url: str) -> None:
    c = catalog(db_url)
    s = c.observe("dock1", "a.mp4", ID1, T0)
    assert s.state == SightingState.DISCOVERED
    assert c.observe("dock1", "a.mp4", ID1, T0 + timedelta(seconds=1)).id == s.id  # same file: same sighting
    c.mark_stable(s.id, T0)
    c.mark_stable(s.id, T0)  # idempotent
    rec, dup = c.attach_hash(s.id, sha256=SHA, ident=ID1, kind_hint=Kind.VIDEO, sidecar=None, now=T0)
    assert not dup and rec.state == RecordingState.HASHED
    probe = ProbeResult(kind=Kind.VIDEO, readable=True, duration_ms=5000, codecs=("h264",))
    meta = {
        "device": Sourced("D1", "filename:default"),
        "start": Sourced(T0, "filename:default"),
        "end": Sourced(T0 + timedelta(seconds=5), "filename:default+duration"),
    }
    c.record_probe(rec.id, probe, meta, T0, flag=None)
    c.record_signature(rec.id, b"{}", b"s" * 64, "ed25519:1", b"PEM", T0)
    stored = StoredObject(key="k", uri="file:///v/k", size=10)
    c.record_stored(rec.id, stored, T0)
    c.record_verified(rec.id, stored, T0)
    c.record_verified(rec.id, stored, T0)  # idempotent: no second event
    c.release(s.id, SightingState.RELEASED, T0, "verified")
    got = c.recording(rec.id)
    assert got.state == RecordingState.RELEASED and got.device == "D1" and got.start == T0
    assert got.end == T0 + timedelta(seconds=5) and got.start.tzinfo is not None
    assert c.recording(SHA[:12]).id == rec.id
    events = c.events()
    actions = [e.fields["action"] for e in events]
    assert actions == ["discovered", "stable", "hashed", "probed", "signed", "stored", "verified", "released"]
    assert verify_chain(events) == 8
    assert c.public_key("ed25519:1") == b"PEM"


def _probed(c: SqlCatalog) -> Recording:
    """One recording taken as far as probed: the next step signs it."""
    s = c.observe("dock1", "a.mp4", ID1, T0)
    c.mark_stable(s.id, T0)
    rec, _ = c.attach_hash(s.id, sha256=SHA, ident=ID1, kind_hint=Kind.VIDEO, sidecar=None, now=T0)
    c.record_probe(rec.id, ProbeResult(kind=Kind.VIDEO, readable=True), {}, T0, flag=None)
    return rec


def test_transitions_made_together_commit_once_each_all_or_nothing(db_url: str) -> None:
    c = catalog(db_url)
    rec = _probed(c)
    commits = write_commits(c.engine)
    stored = StoredObject(key="k", uri="file:///v/k", size=10)

    with c.together():
        c.record_signature(rec.id, b"{}", b"s" * 64, "ed25519:1", b"PEM", T0)
        with pytest.raises(RuntimeError), c.transaction() as s:  # a step that fails half-way
            s.execute(update(RecordingRow).where(RecordingRow.id == rec.id).values(state="released"))
            raise RuntimeError("failed after its first write")
        c.record_stored(rec.id, stored, T0)
        assert c.recording(rec.id).state == RecordingState.STORED  # seen inside, not yet committed
        assert commits == [0]

    assert commits == [1]
    assert c.recording(rec.id).state == RecordingState.STORED  # the failed step left nothing
    assert [e.fields["action"] for e in c.events(rec.id)][-2:] == ["signed", "stored"]
    # the steps done before one that raises are committed, as they would have been one by one
    with pytest.raises(RuntimeError), c.together():
        c.record_verified(rec.id, stored, T0)
        raise RuntimeError("a later step failed")
    assert c.recording(rec.id).state == RecordingState.VERIFIED and commits == [2]
    assert verify_chain(c.events()) == len(c.events())


def test_a_database_error_inside_together_commits_nothing(db_url: str) -> None:
    c = catalog(db_url)
    rec = _probed(c)
    with pytest.raises(DatabaseUnavailable), c.together():
        c.record_signature(rec.id, b"{}", b"s" * 64, "ed25519:1", b"PEM", T0)
        raise DatabaseUnavailable("the connection is gone")
    assert c.recording(rec.id).state == RecordingState.PROBED
    # nor is the signing key taken for registered: the next signature registers it
    c.record_signature(rec.id, b"{}", b"s" * 64, "ed25519:1", b"PEM", T0)
    assert c.public_key("ed25519:1") == b"PEM"


def test_signed_event_binds_the_manifest_bytes_by_their_sha256(db_url: str) -> None:
    c = catalog(db_url)
    rec = _probed(c)
    manifest = b'{"recording_id":"x"}'
    c.record_signature(rec.id, manifest, b"s" * 64, "ed25519:1", b"PEM", T0)
    signed = [e.fields for e in c.events(rec.id) if e.fields["action"] == "signed"]
    assert [e["details"] for e in signed] == [
        {"key_id": "ed25519:1", "manifest_sha256": hashlib.sha256(manifest).hexdigest()}
    ]


def test_duplicate_content_is_one_recording(db_url: str) -> None:
    c = catalog(db_url)
    a = c.observe("d", "a.mp4", ID1, T0)
    b = c.observe("d", "b.mp4", FileIdentity(10, 2, 12, 1), T0)
    r1, d1 = c.attach_hash(a.id, sha256=SHA, ident=ID1, kind_hint=Kind.VIDEO, sidecar=None, now=T0)
    r2, d2 = c.attach_hash(
        b.id, sha256=SHA, ident=FileIdentity(10, 2, 12, 1), kind_hint=Kind.VIDEO, sidecar=None, now=T0
    )
    assert (d1, d2) == (False, True) and r1.id == r2.id
    assert [e.fields["action"] for e in c.events(r1.id)] == ["hashed", "duplicate-seen"]
    assert len(c.sightings_of(r1.id)) == 2


def test_changed_file_restarts_stability(db_url: str) -> None:
    c = catalog(db_url)
    s = c.observe("d", "a.mp4", ID1, T0)
    grown = FileIdentity(size=20, mtime_ns=2, inode=11, device=1)
    s2 = c.observe("d", "a.mp4", grown, T0 + timedelta(seconds=3))
    assert s2.id == s.id and s2.identity == grown and s2.last_change == T0 + timedelta(seconds=3)


def test_flags_raise_once_and_resolve(db_url: str) -> None:
    c = catalog(db_url)
    f = Flag(FlagKind.UNREADABLE_MEDIA, Severity.HIGH, "recording:r1", "bad", recording_id=None)
    c.raise_flag(f, T0)
    c.raise_flag(f, T0)
    assert len(c.flags(state="unresolved")) == 1
    assert (
        c.resolve_flags(FlagKind.UNREADABLE_MEDIA, "recording:r1", T0, "supervisor 7", "checked by hand") == 1
    )
    assert c.flags(state="unresolved") == []
    assert c.flags()[0].state == FlagState.RESOLVED
    # read back as the one enum, stored and printed as the same word
    assert c.flags()[0].kind is FlagKind.UNREADABLE_MEDIA
    assert '"kind": "unreadable-media"' in json.dumps(flag_json(c.flags()[0]))
    assert verify_chain(c.events()) == 2


def test_rejected_entry_recorded_once_with_flag(db_url: str) -> None:
    c = catalog(db_url)
    REASON = "symbolic link not followed"
    assert c.reject("d", "link.mp4", REASON, T0, flag=rejected_file_flag("d", "link.mp4", REASON)) is True
    assert c.reject("d", "link.mp4", REASON, T0, flag=rejected_file_flag("d", "link.mp4", REASON)) is False
    assert [f.kind for f in c.flags()] == [FlagKind.REJECTED_FILE]
    assert c.status()["sightings"] == {"rejected": 1}


def _append_many(url: str, worker: int, n: int) -> None:
    c = SqlCatalog(make_engine(url), station=f"st-{worker}", actor=f"w{worker}")
    for i in range(n):
        c.observe("d", f"w{worker}-{i}.mp4", FileIdentity(1, i, worker * 1000 + i, 1), T0)


def test_concurrent_writers_keep_one_unbroken_chain(db_url: str) -> None:
    catalog(db_url)  # migrate once
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(db_url, w, 25)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    events = catalog(db_url).events()
    assert len(events) == 75
    assert verify_chain(events) == 75


def test_record_probe_stores_the_flag_it_is_given_and_decides_none_itself(db_url: str) -> None:
    """The unreadable-media decision is the domain's (ingest_flags): the catalog stores the
    flag it is handed, in the probe's transaction, and raises none of its own."""
    c = catalog(db_url)
    unreadable = ProbeResult(kind=Kind.VIDEO, readable=False, error="moov atom not found")
    recs = []
    for i, name in enumerate(["a.mp4", "b.mp4"]):
        ident = FileIdentity(size=10, mtime_ns=1, inode=100 + i, device=1)
        s = c.observe("dock1", name, ident, T0)
        c.mark_stable(s.id, T0)
        rec, _ = c.attach_hash(
            s.id, sha256=f"{i}" * 64, ident=ident, kind_hint=Kind.VIDEO, sidecar=None, now=T0
        )
        recs.append(rec)
    c.record_probe(recs[0].id, unreadable, {}, T0, flag=None)
    assert c.flags() == [] and c.recording(recs[0].id).state == RecordingState.PROBED
    wanted = unreadable_media_flag(recs[1].id, recs[1].original_name, unreadable)
    assert wanted is not None
    c.record_probe(recs[1].id, unreadable, {}, T0, flag=wanted)
    [stored] = c.flags()
    assert (stored.kind, stored.subject, stored.detail) == (wanted.kind, wanted.subject, wanted.detail)
    assert verify_chain(c.events()) > 0


def test_backlog_counts_a_verified_recording_until_its_dock_copy_is_released(db_url: str) -> None:
    """A kill between "verified" and "released" leaves the dock copy in place (or already
    unlinked, with the release not yet recorded): that is still work, not "done"."""
    c = catalog(db_url)
    s = c.observe("dock1", "a.mp4", ID1, T0)
    c.mark_stable(s.id, T0)
    rec, _ = c.attach_hash(s.id, sha256=SHA, ident=ID1, kind_hint=Kind.VIDEO, sidecar=None, now=T0)
    probe = ProbeResult(kind=Kind.VIDEO, readable=True, duration_ms=5000, codecs=("h264",))
    c.record_probe(rec.id, probe, {}, T0, flag=None)
    c.record_signature(rec.id, b"{}", b"s" * 64, "ed25519:1", b"PEM", T0)
    stored = StoredObject(key="k", uri="file:///v/k", size=10)
    c.record_stored(rec.id, stored, T0)
    assert c.status()["backlog"] == 1  # one recording before "verified"; its sighting not twice
    c.record_verified(rec.id, stored, T0)
    status = c.status()
    assert (status["backlog"], status["awaiting_release"]) == (1, 1), status
    c.release(s.id, SightingState.RELEASED, T0, "verified")
    status = c.status()
    assert (status["backlog"], status["awaiting_release"]) == (0, 0), status


def test_a_replaced_station_key_signs_nothing_after_its_window(db_url: str) -> None:
    from recorder_sync.domain.errors import KeyReplaced

    c = catalog(db_url)
    second = _probed(c)
    c._register_key("ed25519:1", b"PEM", T0)
    c.replace_station_key("ed25519:2", b"PEM2", T0 + timedelta(hours=1), "rotated", {})
    # a daemon that loaded the old key before the rotation: refused, the recording waits
    with pytest.raises(KeyReplaced, match="Station key ed25519:1 was replaced at 2026-11-27T02:00:00"):
        c.record_signature(second.id, b"{}", b"s" * 64, "ed25519:1", b"PEM", T0 + timedelta(hours=1))
    assert c.recording(second.id).state == RecordingState.PROBED
    c.record_signature(second.id, b"{}", b"s" * 64, "ed25519:2", b"PEM2", T0 + timedelta(hours=1))
    assert c.recording(second.id).key_id == "ed25519:2"


def test_a_replaced_log_key_signs_nothing_after_its_window(db_url: str) -> None:
    from recorder_sync.domain.errors import KeyReplaced

    c = catalog(db_url)
    origin = "recorder-sync/st-test"
    c.register_log_key(origin, "ed25519:a", b"A" * 32, T0)  # the origin's first key
    c.register_log_key(origin, "ed25519:a", b"A" * 32, T0 + timedelta(minutes=1))  # and again
    later = T0 + timedelta(hours=1)
    c.rotate_log_key(
        origin, "ed25519:b", b"B" * 32, later, "r", previous_key_id="ed25519:a", rotation_signature=b"s"
    )
    c.register_log_key(origin, "ed25519:b", b"B" * 32, later)
    c.register_log_key(origin, "ed25519:a", b"A" * 32, later - timedelta(seconds=1))  # within its window
    with pytest.raises(KeyReplaced, match="Log key ed25519:a was replaced at 2026-11-27T02:00:00"):
        c.register_log_key(origin, "ed25519:a", b"A" * 32, later)
    assert [(k.key_id, k.valid_until) for k in c.log_keys(origin)] == [
        ("ed25519:a", later),
        ("ed25519:b", None),
    ]


def test_a_revoked_key_signs_nothing_more_and_its_revocation_only_moves_earlier(db_url: str) -> None:
    from recorder_sync.domain.errors import KeyRevoked, NotFound, UsageError

    c = catalog(db_url)
    rec = _probed(c)
    c._register_key("ed25519:1", b"PEM", T0)
    assert c.revoke_station_key("ed25519:1", T0, "stolen", T0) is None
    # a daemon that loaded the key before: its signature is not recorded, the recording waits
    with pytest.raises(KeyRevoked, match="ed25519:1, which was revoked at"):
        c.record_signature(rec.id, b"{}", b"s" * 64, "ed25519:1", b"PEM", T0 + timedelta(minutes=1))
    assert c.recording(rec.id).state == RecordingState.PROBED
    assert c.key_revocation("ed25519:1") == (T0, "stolen")
    with pytest.raises(UsageError, match="can only move earlier"):
        c.revoke_station_key("ed25519:1", T0 + timedelta(seconds=1), "later", T0)
    assert c.revoke_station_key("ed25519:1", T0 - timedelta(days=1), "earlier", T0) == T0
    assert c.revoke_reasons() == {"ed25519:1": "earlier"}
    with pytest.raises(NotFound, match="station key ed25519:2"):
        c.revoke_station_key("ed25519:2", T0, "unknown", T0)
    revoked = [e.fields for e in c.events() if e.fields["action"] == "key-revoked"]
    assert [e["reason"] for e in revoked] == ["stolen", "earlier"]
    assert verify_chain(c.events()) == len(c.events())
