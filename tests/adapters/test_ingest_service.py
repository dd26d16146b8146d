"""The ingest service step by step on real adapters (folders, ffprobe, vault, SQLite/PostgreSQL),
with a clock the test controls: undocking mid-pipeline, re-docking, a file changed after hashing."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from recorder_sync.adapters import keys
from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.repository import Catalog
from recorder_sync.adapters.dockfs import DockFolder
from recorder_sync.adapters.probe import FfprobeProber
from recorder_sync.adapters.vault import Vault
from recorder_sync.domain.custody import verify_chain
from recorder_sync.domain.model import RecordingState, ReleasePolicy, SightingState
from recorder_sync.domain.naming import BUILTIN_PROFILES
from recorder_sync.services.ingest import Dock, IngestService

NAME = "DSJ-A1_031245_20261127083015_0001.MP4"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> tuple[IngestService, Catalog, Clock, Path]:
    engine = make_engine(db_url)
    upgrade(engine)
    catalog = Catalog(engine, station="st", actor="test")
    clock = Clock()
    dock = tmp_path / "dock"
    dock.mkdir()
    svc = IngestService(
        catalog=catalog,
        store=Vault(tmp_path / "vault"),
        signer=keys.load_or_create(tmp_path / "keys" / "station.key"),
        prober=FfprobeProber(),
        docks={
            "d": Dock(
                DockFolder("d", dock),
                tuple(BUILTIN_PROFILES.values()),
                ZoneInfo("Asia/Shanghai"),
                timedelta(seconds=5),
            )
        },
        station="st",
        release_policy=ReleasePolicy.DELETE,
        clock=clock,
        software="test",
        jitter=lambda: 0.0,
    )
    return svc, catalog, clock, dock


def test_stability_window_uses_the_injected_clock(world: tuple[IngestService, Catalog, Clock, Path]) -> None:
    svc, catalog, clock, dock = world
    (dock / NAME).write_bytes(b"x" * 1000)
    svc.scan("d")
    svc.run_once()
    assert [s.state for s in catalog.pending_sightings()] == [SightingState.DISCOVERED]
    clock.advance(6)
    svc.run_once()
    [rec] = catalog.list_recordings()
    assert rec.device == "DSJ-A1" and rec.start == datetime(2026, 11, 27, 0, 30, 15, tzinfo=UTC)


def test_undocked_before_storage_then_docked_again(
    world: tuple[IngestService, Catalog, Clock, Path], tmp_path: Path
) -> None:
    svc, catalog, clock, dock = world
    (dock / NAME).write_bytes(b"evidence" * 1000)
    keep = tmp_path / "camera-copy"
    shutil.copy2(dock / NAME, keep)
    svc.scan("d")
    clock.advance(6)
    s = catalog.pending_sightings()[0]
    svc.step_sighting(s)  # stable and hashed
    [rec] = catalog.list_recordings()
    assert rec.state == RecordingState.HASHED
    (dock / NAME).unlink()  # the camera is pulled out before the upload
    svc.run_once()
    rec = catalog.recording(rec.id)
    assert rec.state == RecordingState.HASHED and rec.next_attempt_at is not None
    assert [f.kind for f in catalog.flags(state="unresolved")] == ["source-unavailable"]
    assert catalog.sightings_of(rec.id)[0].state == SightingState.GONE
    shutil.copy2(keep, dock / NAME)  # docked again
    for _ in range(8):
        clock.advance(6)
        svc.scan("d")
        svc.run_once()
    rec = catalog.recording(rec.id)
    assert rec.state == RecordingState.RELEASED
    # the condition cleared, so its flag is resolved (the bytes are no real video: that flag stays)
    assert [f.kind for f in catalog.flags(state="unresolved")] == ["unreadable-media"]
    assert [f.kind for f in catalog.flags(state="resolved")] == ["source-unavailable"]
    assert [s.state for s in catalog.sightings_of(rec.id)] == [SightingState.GONE, SightingState.RELEASED]
    assert verify_chain(catalog.events()) == len(catalog.events())


def test_file_changed_after_hashing_is_not_stored_from_and_not_deleted(
    world: tuple[IngestService, Catalog, Clock, Path],
) -> None:
    svc, catalog, clock, dock = world
    (dock / NAME).write_bytes(b"a" * 5000)
    svc.scan("d")
    clock.advance(6)
    svc.step_sighting(catalog.pending_sightings()[0])
    [rec] = catalog.list_recordings()
    (dock / NAME).write_bytes(b"b" * 5000)  # rewritten on the camera right after hashing
    for _ in range(3):
        svc.run_once()
    assert catalog.recording(rec.id).state.rank < RecordingState.STORED.rank
    assert (dock / NAME).read_bytes() == b"b" * 5000  # never deleted
    for _ in range(8):
        clock.advance(6)
        svc.scan("d")
        svc.run_once()
    # the new content is its own recording, stored and released; the first one waits for its bytes
    first = catalog.recording(rec.id)
    [second] = [r for r in catalog.list_recordings() if r.id != rec.id]
    assert second.state == RecordingState.RELEASED and second.size == 5000
    assert first.state == RecordingState.HASHED  # never stored: its bytes are no longer on the dock
    open_kinds = sorted(f.kind for f in catalog.flags(state="unresolved") if f.kind != "unreadable-media")
    assert open_kinds == ["source-changed", "source-unavailable"]
