"""Any exception while processing one file is recorded on that file and retried with backoff,
never the end of the pass (issue 7, item 4): the ingest service on real adapters."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

import pytest
from fakes import Clock
from test_ingest_vault import NAME
from test_ingest_vault import world as ingest_world  # noqa: F401  (registers that fixture here)

from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.dockfs import DockFolder
from recorder_sync.domain.model import FileIdentity, ProbeResult, RecordingState, SightingState
from recorder_sync.services.ingest import IngestService

OTHER = "DSJ-A1_031245_20261127090000_0002.MP4"


class ExplodingProber:
    """ffprobe for every file but one, which raises what a parser bug would."""

    def __init__(self, inner: object, victim: str, error: Exception) -> None:
        self.inner, self.victim, self.error = inner, victim, error
        self.calls: list[str] = []

    def probe_open(self, f: BinaryIO, name: str) -> ProbeResult:
        self.calls.append(name)
        if name == self.victim:
            raise self.error
        result: ProbeResult = self.inner.probe_open(f, name)  # type: ignore[attr-defined]
        return result


World = tuple[IngestService, SqlCatalog, Clock, Path]


@pytest.fixture
def world(request: pytest.FixtureRequest, db_url: str) -> World:
    """The ingest service of test_ingest_vault on real adapters, with a clock the test controls."""
    value: World = request.getfixturevalue("ingest_world")
    return value


def _docked(world: World) -> None:
    svc, _, clock, dock = world
    (dock / NAME).write_bytes(b"victim" * 1000)
    (dock / OTHER).write_bytes(b"other" * 1000)
    svc.scan("d")
    clock.advance(6)


@pytest.mark.parametrize(
    "error",
    [
        RecursionError("maximum recursion depth exceeded"),
        OverflowError("date value out of range"),
        ValueError("value with a NUL \x00 and an escape \x1b[2J"),
    ],
    ids=["recursion", "overflow", "nul-in-message"],
)
def test_unexpected_exception_is_recorded_on_the_recording_and_retried_with_backoff(
    world: World, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    svc, catalog, clock, _ = world
    prober = ExplodingProber(svc.prober, NAME, error)
    svc.prober = prober
    _docked(world)
    report = svc.run_once()  # does not raise
    recs = {r.original_name: r for r in catalog.list_recordings()}
    assert recs[OTHER].state == RecordingState.RELEASED  # the other file went all the way
    victim = recs[NAME]
    assert victim.state == RecordingState.HASHED and victim.attempts == 1
    assert victim.last_error is not None
    assert victim.last_error.startswith(f"internal error: {type(error).__name__}: ")
    assert "\x00" not in victim.last_error and "\x1b" not in victim.last_error
    assert victim.next_attempt_at is not None and victim.next_attempt_at > clock.now
    assert [e for e in report.errors if NAME in e or victim.id in e]
    # nothing until the backoff is over, then once more
    svc.run_once()
    assert prober.calls.count(NAME) == 1
    clock.advance(60)
    svc.run_once()
    assert prober.calls.count(NAME) == 2
    assert catalog.recording(victim.id).attempts == 2
    # the trace is logged once per file and kind of failure, not at every retry
    traced = [r for r in caplog.records if r.exc_info and victim.id in r.getMessage()]
    assert len(traced) == 1
    # and the file is still on the dock, for when the bug is fixed
    assert [s.state for s in catalog.sightings_of(victim.id)] == [SightingState.HASHED]


class ExplodingDock(DockFolder):
    def open(self, relpath: str) -> tuple[BinaryIO, FileIdentity]:
        if relpath == NAME:
            raise RuntimeError("a bug in the dock reader")
        return super().open(relpath)


def test_unexpected_exception_on_a_dock_file_is_recorded_on_its_sighting_with_backoff(world: World) -> None:
    svc, catalog, clock, dock = world
    d = svc.docks["d"]
    svc.docks["d"] = type(d)(ExplodingDock("d", dock), d.profiles, d.tz, d.stable_window)
    _docked(world)
    svc.run_once()
    sightings = {s.relpath: s for s in catalog.pending_sightings()}
    victim = sightings[NAME]
    assert victim.state == SightingState.STABLE and victim.attempts == 1
    assert victim.last_error == "internal error: RuntimeError: a bug in the dock reader"
    assert OTHER not in sightings  # released: one file's failure does not hold up the others
    svc.run_once()  # within the backoff: not tried again
    assert catalog.sighting(victim.id).attempts == 1
    clock.advance(timedelta(minutes=10).total_seconds())
    svc.run_once()
    assert catalog.sighting(victim.id).attempts == 2
