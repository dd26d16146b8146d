"""The ingest service's decisions step by step, through fakes: a dock, an object store and a
prober in memory, a clock the test controls, and the SQLite catalog in a temporary folder (there
is no fake catalog yet). Undocking mid-pipeline, re-docking, a file changed after hashing, a
damaged stored copy restored from a re-docked one, a store that fails or is unmounted, a kill
between two steps. What the real vault and dock folder do in the same stories is in
``tests/adapters/test_ingest_vault.py``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from clirunner import RESTORE_STORY
from commits import write_commits
from fakes import Clock, FakeMetrics, MemoryDock, MemoryStore, ScriptedProber

from recorder_sync.adapters import keys
from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain import outage
from recorder_sync.domain.custody import verify_chain
from recorder_sync.domain.errors import IntegrityFailure
from recorder_sync.domain.layout import manifest_key, media_key, signature_key
from recorder_sync.domain.model import Recording, RecordingState, ReleasePolicy, SightingState, StoredObject
from recorder_sync.domain.naming import BUILTIN_PROFILES
from recorder_sync.services.ingest import Dock, IngestService

NAME = "DSJ-A1_031245_20261127083015_0001.MP4"


@dataclass
class World:
    svc: IngestService
    catalog: SqlCatalog
    clock: Clock
    dock: MemoryDock
    store: MemoryStore
    tmp: Path

    def service(self) -> IngestService:
        """The service of another process on the same catalog, dock and store (a restart)."""
        return service(self.tmp, self.catalog, self.clock, self.dock, self.store)


def service(
    tmp: Path, catalog: SqlCatalog, clock: Clock, dock: MemoryDock, store: MemoryStore
) -> IngestService:
    return IngestService(
        catalog=catalog,
        store=store,
        signer=keys.load_or_create(tmp / "keys" / "station.key"),
        prober=ScriptedProber(),
        docks={
            "d": Dock(dock, tuple(BUILTIN_PROFILES.values()), ZoneInfo("Asia/Shanghai"), timedelta(seconds=5))
        },
        station="st",
        release_policy=ReleasePolicy.DELETE,
        clock=clock,
        software="test",
        jitter=lambda: 0.0,
    )


@pytest.fixture
def world(tmp_path: Path) -> World:
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    upgrade(engine)
    catalog = SqlCatalog(engine, station="st", actor="test")
    clock, dock, store = Clock(), MemoryDock("d"), MemoryStore()
    return World(service(tmp_path, catalog, clock, dock, store), catalog, clock, dock, store, tmp_path)


def test_stability_window_uses_the_injected_clock(world: World) -> None:
    svc, catalog, clock, dock = world.svc, world.catalog, world.clock, world.dock
    dock.write(NAME, b"x" * 1000)
    svc.scan("d")
    svc.run_once()
    assert [s.state for s in catalog.pending_sightings()] == [SightingState.DISCOVERED]
    clock.advance(6)
    svc.run_once()
    [rec] = catalog.list_recordings()
    assert rec.device == "DSJ-A1" and rec.start == datetime(2026, 11, 27, 0, 30, 15, tzinfo=UTC)


def test_undocked_before_storage_then_docked_again(world: World) -> None:
    svc, catalog, clock, dock = world.svc, world.catalog, world.clock, world.dock
    dock.write(NAME, b"evidence" * 1000)
    svc.scan("d")
    clock.advance(6)
    s = catalog.pending_sightings()[0]
    svc.step_sighting(s)  # stable and hashed
    [rec] = catalog.list_recordings()
    assert rec.state == RecordingState.HASHED
    dock.delete(NAME)  # the camera is pulled out before the upload
    svc.run_once()
    rec = catalog.recording(rec.id)
    assert rec.state == RecordingState.HASHED and rec.next_attempt_at is not None
    assert [f.kind for f in catalog.flags(state="unresolved")] == ["source-unavailable"]
    assert catalog.sightings_of(rec.id)[0].state == SightingState.GONE
    dock.write(NAME, b"evidence" * 1000)  # docked again
    _drive(svc, clock)
    rec = catalog.recording(rec.id)
    assert rec.state == RecordingState.RELEASED
    # the condition cleared, so its flag is resolved (the bytes are no real video: that flag stays)
    assert [f.kind for f in catalog.flags(state="unresolved")] == ["unreadable-media"]
    assert [f.kind for f in catalog.flags(state="resolved")] == ["source-unavailable"]
    assert [s.state for s in catalog.sightings_of(rec.id)] == [SightingState.GONE, SightingState.RELEASED]
    assert verify_chain(catalog.events()) == len(catalog.events())


def test_file_changed_after_hashing_is_not_stored_from_and_not_deleted(world: World) -> None:
    svc, catalog, clock, dock = world.svc, world.catalog, world.clock, world.dock
    dock.write(NAME, b"a" * 5000)
    svc.scan("d")
    clock.advance(6)
    svc.step_sighting(catalog.pending_sightings()[0])
    [rec] = catalog.list_recordings()
    dock.write(NAME, b"b" * 5000)  # rewritten on the camera right after hashing
    for _ in range(3):
        svc.run_once()
    assert catalog.recording(rec.id).state.rank < RecordingState.STORED.rank
    assert dock.read(NAME) == b"b" * 5000  # never deleted
    _drive(svc, clock)
    # the new content is its own recording, stored and released; the first one waits for its bytes
    first = catalog.recording(rec.id)
    [second] = [r for r in catalog.list_recordings() if r.id != rec.id]
    assert second.state == RecordingState.RELEASED and second.size == 5000
    assert first.state == RecordingState.HASHED  # never stored: its bytes are no longer on the dock
    assert media_key(first.sha256) not in world.store.objects
    open_kinds = sorted(f.kind for f in catalog.flags(state="unresolved") if f.kind != "unreadable-media")
    assert open_kinds == ["source-changed", "source-unavailable"]


# --- a re-docked copy is released only while the store holds a good copy ---------------------


def _drive(svc: IngestService, clock: Clock, rounds: int = 8) -> None:
    for _ in range(rounds):
        clock.advance(6)
        svc.scan("d")
        svc.run_once()


def _ingested(world: World, data: bytes, svc: IngestService | None = None) -> Recording:
    """``data`` ingested and released from the dock."""
    world.dock.write(NAME, data)
    _drive(svc or world.svc, world.clock)
    [rec] = world.catalog.list_recordings()
    assert rec.state == RecordingState.RELEASED and not world.dock.exists(NAME)
    return rec


def _actions(catalog: SqlCatalog, rec_id: str) -> list[str]:
    return [e.fields["action"] for e in catalog.events(rec_id)]


KEYS = {"media": media_key, "manifest": manifest_key, "signature": signature_key}


@pytest.mark.parametrize(
    ("damaged", "how"),
    [("media", "deleted"), ("media", "corrupted"), ("manifest", "corrupted"), ("signature", "deleted")],
)
def test_redocked_copy_restores_a_damaged_stored_copy_before_it_is_released(
    world: World, damaged: str, how: str
) -> None:
    svc, catalog, clock, dock, store = world.svc, world.catalog, world.clock, world.dock, world.store
    data = b"evidence" * 5000
    rec = _ingested(world, data)
    key = KEYS[damaged](rec.sha256)
    good = store.objects[key]
    if how == "deleted":
        store.lose(key)
    else:
        store.damage(key)

    dock.write(NAME, data)  # the camera is docked again with the same file
    svc.scan("d")
    clock.advance(6)
    svc.run_once()  # hashed as a duplicate, then checked before release: the check fails
    assert dock.read(NAME) == data  # the last good copy is kept
    after = catalog.recording(rec.id)
    assert after.state == RecordingState.SIGNED  # to be stored and verified again
    assert after.verified_at == rec.verified_at  # uploaded in time then; not a late upload now
    [flag] = [f for f in catalog.flags(state="unresolved") if f.kind == "integrity-failure"]
    assert flag.recording_id == rec.id and flag.subject == f"recording:{rec.id}"
    assert f"dock:d/{NAME}" in flag.detail and "kept until" in flag.detail

    _drive(svc, clock)
    assert store.objects[key] == good  # restored
    assert hashlib.sha256(store.objects[media_key(rec.sha256)]).hexdigest() == rec.sha256
    assert not dock.exists(NAME)  # released once the new copy verified
    assert catalog.recording(rec.id).state == RecordingState.RELEASED
    actions = _actions(catalog, rec.id)
    assert actions[actions.index("duplicate-seen") :] == RESTORE_STORY
    assert [s.state for s in catalog.sightings_of(rec.id)] == [SightingState.RELEASED] * 2
    assert verify_chain(catalog.events()) == len(catalog.events())


def test_redocked_copy_of_a_good_stored_copy_is_checked_and_released(world: World) -> None:
    svc, catalog, clock, dock, store = world.svc, world.catalog, world.clock, world.dock, world.store
    rec = _ingested(world, b"fine" * 5000)
    writes = store.writes
    dock.write(NAME, b"fine" * 5000)
    _drive(svc, clock)
    assert not dock.exists(NAME)
    assert store.writes == writes  # nothing rewritten
    actions = _actions(catalog, rec.id)
    assert "integrity-failure" not in actions and "restored" not in actions
    assert actions.count("released") == 2
    assert not [f for f in catalog.flags() if f.kind == "integrity-failure"]


def test_dock_copy_stays_while_the_restore_fails_and_a_restart_resumes(world: World) -> None:
    catalog, clock, dock, store = world.catalog, world.clock, world.dock, world.store
    data = b"last good copy" * 3000
    rec = _ingested(world, data)
    key = media_key(rec.sha256)
    store.lose(key)
    dock.write(NAME, data)
    store.fail_restores = "no space left on the vault's disk"
    _drive(world.service(), clock, rounds=6)
    assert dock.read(NAME) == data and key not in store.objects
    after = catalog.recording(rec.id)
    assert after.state == RecordingState.SIGNED and "no space left" in (after.last_error or "")
    # a new process (as after kill -9) on the same catalog and store takes it from there
    store.fail_restores = None
    restarted = world.service()
    clock.advance(3600)  # past the retry back-off
    _drive(restarted, clock)
    assert not dock.exists(NAME)
    assert hashlib.sha256(store.objects[key]).hexdigest() == rec.sha256
    actions = _actions(catalog, rec.id)
    assert actions.count("integrity-failure") == 1 and actions.count("restored") == 1
    assert catalog.recording(rec.id).state == RecordingState.RELEASED


def test_first_copy_verified_long_before_its_release_is_checked_again(world: World) -> None:
    """Killed between verification and release, restarted hours later: the object may have
    been damaged meanwhile, and the dock copy is the last good one."""
    svc, catalog, clock, dock, store = world.svc, world.catalog, world.clock, world.dock, world.store
    dock.write(NAME, b"first copy" * 4000)
    svc.scan("d")
    clock.advance(6)
    svc.step_sighting(catalog.pending_sightings()[0])  # stable and hashed
    [rec] = catalog.list_recordings()
    while svc.step_recording(catalog.recording(rec.id)):  # probed … verified; then the kill
        pass
    assert catalog.recording(rec.id).state == RecordingState.VERIFIED
    store.damage(media_key(rec.sha256))
    clock.advance(7 * 3600)
    svc.run_once()  # check, restore, verify and release in one pass, in that order
    assert hashlib.sha256(store.objects[media_key(rec.sha256)]).hexdigest() == rec.sha256
    assert not dock.exists(NAME)
    actions = _actions(catalog, rec.id)
    assert actions[actions.index("verified") + 1 :] == RESTORE_STORY[1:]


def test_unavailable_store_is_no_integrity_failure_and_the_dock_copy_waits(world: World) -> None:
    """Could not check is not failed verification: nothing is flagged or restored, nothing released."""
    svc, catalog, clock, dock, store = world.svc, world.catalog, world.clock, world.dock, world.store
    rec = _ingested(world, b"unmounted" * 3000)
    writes = store.writes
    store.available = False  # the vault's disk is not mounted
    dock.write(NAME, b"unmounted" * 3000)
    _drive(svc, clock, rounds=4)
    assert dock.exists(NAME)
    [redocked] = [s for s in catalog.sightings_of(rec.id) if s.state == SightingState.HASHED]
    assert "unavailable" in (redocked.last_error or "")
    assert catalog.recording(rec.id).state == RecordingState.RELEASED
    assert "integrity-failure" not in _actions(catalog, rec.id)
    store.available = True  # mounted again
    _drive(svc, clock, rounds=2)
    assert not dock.exists(NAME)
    assert store.writes == writes  # nothing was restored: nothing was wrong
    assert not [f for f in catalog.flags() if f.kind == "integrity-failure"]


def test_keep_policy_checks_and_restores_too(world: World) -> None:
    """Under 'keep' nothing is deleted, but a damaged stored copy is still repaired from a new
    dock copy (here the same bytes under a second name) before that copy is marked kept."""
    catalog, clock, dock, store = world.catalog, world.clock, world.dock, world.store
    keeping = world.service()
    keeping.release_policy = ReleasePolicy.KEEP
    dock.write(NAME, b"kept" * 4000)
    _drive(keeping, clock)
    [rec] = catalog.list_recordings()
    assert rec.state == RecordingState.VERIFIED
    store.damage(media_key(rec.sha256))
    dock.write("copy-" + NAME, b"kept" * 4000)
    _drive(keeping, clock)
    assert hashlib.sha256(store.objects[media_key(rec.sha256)]).hexdigest() == rec.sha256
    assert {s.state for s in catalog.sightings_of(rec.id)} == {SightingState.KEPT}
    assert dock.exists(NAME) and dock.exists("copy-" + NAME)
    actions = _actions(catalog, rec.id)
    assert actions[actions.index("integrity-failure") :] == [*RESTORE_STORY[1:-1], "kept"]


def test_killed_between_deleting_the_dock_copy_and_recording_it_the_release_completes(
    world: World,
) -> None:
    """A kill -9 after the dock file was unlinked but before its release was committed: the
    restarted process finds the file gone. Its stored copy was verified, so the sighting is
    released and the recording with it, instead of a file 'gone' and a recording left verified
    (and out of every backlog) for ever."""
    svc, catalog, clock, dock = world.svc, world.catalog, world.clock, world.dock
    dock.write(NAME, b"released, then killed" * 1000)
    svc.scan("d")
    clock.advance(6)
    svc.step_sighting(catalog.pending_sightings()[0])  # stable and hashed
    [rec] = catalog.list_recordings()
    while svc.step_recording(catalog.recording(rec.id)):
        pass
    assert catalog.recording(rec.id).state == RecordingState.VERIFIED
    dock.delete(NAME)  # _release's unlink, then the kill
    svc.scan("d")
    svc.run_once()
    assert catalog.recording(rec.id).state == RecordingState.RELEASED
    [s] = catalog.sightings_of(rec.id)
    assert s.state == SightingState.RELEASED
    assert not catalog.flags(state="unresolved") or all(
        f.kind == "unreadable-media" for f in catalog.flags(state="unresolved")
    )
    assert verify_chain(catalog.events()) == len(catalog.events())


def _hashed(world: World, data: bytes) -> Recording:
    """``data`` docked, found stable and hashed: its recording's steps are next."""
    world.dock.write(NAME, data)
    world.svc.scan("d")
    world.clock.advance(6)
    world.svc.step_sighting(world.catalog.pending_sightings()[0])
    [rec] = world.catalog.list_recordings()
    return rec


def test_a_scan_records_what_it_found_on_the_dock_in_one_commit(world: World) -> None:
    svc, catalog, dock = world.svc, world.catalog, world.dock
    names = [NAME.replace("0001.MP4", f"000{i}.MP4") for i in range(3)]
    for name in names:
        dock.write(name, name.encode() * 100)
    commits = write_commits(catalog.engine)

    assert len(svc.scan("d").sightings) == 3

    assert commits == [1]
    assert sorted(s.relpath for s in catalog.pending_sightings()) == sorted(names)
    assert [e.fields["action"] for e in catalog.events()] == ["discovered"] * 3
    assert len(svc.scan("d").sightings) == 3 and commits == [1]  # seen again unchanged: nothing written


def test_probe_and_signature_commit_as_one_and_so_do_the_upload_and_its_check(world: World) -> None:
    svc, catalog = world.svc, world.catalog
    rec = _hashed(world, b"two commits from hashed to verified" * 1000)
    commits = write_commits(catalog.engine)

    assert svc.step_recording(catalog.recording(rec.id))
    assert catalog.recording(rec.id).state == RecordingState.SIGNED and commits == [1]
    assert svc.step_recording(catalog.recording(rec.id))
    assert catalog.recording(rec.id).state == RecordingState.VERIFIED and commits == [2]

    steps = [a for a in _actions(catalog, rec.id) if a != "flagged"]  # the bytes are no real video
    assert steps == ["hashed", "probed", "signed", "stored", "verified"]
    assert verify_chain(catalog.events()) == len(catalog.events())


class Killed(BaseException):
    """The process dies here (kill -9): nothing after it runs, nothing more is committed."""


def test_killed_after_the_upload_before_its_commit_the_restart_stores_nothing_twice(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog, dock, store = world.catalog, world.dock, world.store
    data = b"stored, then killed before the commit" * 1000
    dock.write(NAME, data)

    def killed(*args: object, **kwargs: object) -> None:
        raise Killed

    monkeypatch.setattr(store, "verify", killed)
    with pytest.raises(Killed):
        _drive(world.svc, world.clock)
    monkeypatch.undo()
    [rec] = catalog.list_recordings()
    assert catalog.recording(rec.id).state == RecordingState.SIGNED  # the upload is not recorded
    writes = store.writes

    _drive(world.service(), world.clock)  # restarted

    assert catalog.recording(rec.id).state == RecordingState.RELEASED and not dock.exists(NAME)
    assert store.writes == writes  # found stored, not written again
    steps = [a for a in _actions(catalog, rec.id) if a != "flagged"]  # the bytes are no real video
    assert steps == ["hashed", "probed", "signed", "stored", "verified", "released"]
    assert verify_chain(catalog.events()) == len(catalog.events())


def test_a_failed_check_right_after_the_upload_finds_the_copy_recorded_as_stored(world: World) -> None:
    svc, catalog, store = world.svc, world.catalog, world.store
    rec = _hashed(world, b"damaged in flight" * 1000)
    assert svc.step_recording(catalog.recording(rec.id))  # probed and signed
    verify = store.verify

    def damaged_first(key: str, *args: Any, **kwargs: Any) -> StoredObject:
        store.damage(key)
        return verify(key, *args, **kwargs)

    store.verify = damaged_first  # type: ignore[method-assign]
    with pytest.raises(IntegrityFailure):
        svc.step_recording(catalog.recording(rec.id))
    after = catalog.recording(rec.id)
    assert after.state == RecordingState.STORED and after.attempts == 1
    assert _actions(catalog, rec.id)[-2:] == ["stored", "flagged"]
    assert [f.kind for f in catalog.flags(recording_id=rec.id) if f.kind == "integrity-failure"]


def test_metrics_count_each_stage_once_with_its_bytes_and_storage_errors(world: World) -> None:
    metrics = FakeMetrics()
    world.svc.metrics = metrics
    data = b"counted" * 3000
    _ingested(world, data)
    assert metrics.stages == [
        (stage, len(data)) for stage in ("hashed", "probed", "signed", "stored", "verified", "released")
    ]
    assert all(s >= 0 for s in metrics.seconds)
    assert metrics.errors == []
    world.store.available = False  # the next file cannot be stored: an error of the storage family
    world.dock.write("DSJ-A1_031245_20261127090000_0002.MP4", b"waits" * 100)
    _drive(world.svc, world.clock, rounds=2)
    assert ("storage", "StorageUnavailable") in metrics.errors
    assert [s for s, _ in metrics.stages].count("stored") == 1


def test_a_store_outage_backs_off_no_longer_than_the_daemon_waits_for_its_database(world: World) -> None:
    """A long outage of the store: the upload is tried again at most MAX_RETRY_SECONDS after
    each failure (× the jitter), not the 300 s cap of a file's own failures: uploads resume
    soon after the store is back."""
    svc, catalog, clock, dock, store = world.svc, world.catalog, world.clock, world.dock, world.store
    store.available = False
    dock.write(NAME, b"outage" * 3000)
    for _ in range(15):  # ten minutes of outage, a pass a minute
        clock.advance(40)
        svc.scan("d")
        svc.run_once()
    [rec] = catalog.list_recordings()
    assert rec.state == RecordingState.SIGNED and rec.attempts >= 10 and dock.exists(NAME)
    assert rec.next_attempt_at is not None
    # jitter 0.0: half the cap
    assert rec.next_attempt_at - clock() == timedelta(seconds=outage.MAX_RETRY_SECONDS / 2)
    store.available = True
    _drive(svc, clock, rounds=3)
    assert catalog.recording(rec.id).state == RecordingState.RELEASED and not dock.exists(NAME)
