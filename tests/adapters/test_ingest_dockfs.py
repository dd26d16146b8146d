"""The ingest service on hostile dock files: what the reader refuses becomes a flag, and a
file changed behind our back (even with its mtime set back) is never released."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
from fakes import Clock
from test_ingest_vault import NAME, world

from recorder_sync.adapters import dockfs
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain.model import RecordingState, SightingState
from recorder_sync.services.ingest import IngestService

__all__ = ["world"]  # the fixture, shared with test_ingest_vault

World = tuple[IngestService, SqlCatalog, Clock, Path]


def test_a_folder_that_cannot_be_read_is_flagged_with_the_reason(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, catalog, _, dock = world
    (dock / "locked").mkdir()
    (dock / "locked" / NAME).write_bytes(b"x")
    (dock / NAME).write_bytes(b"y")
    real_open = os.open

    def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        # root reads every folder; the kernel's answer to anyone else is simulated here
        if path == b"locked":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(dockfs.os, "open", open_)
    scan = svc.scan("d")
    why = "folder cannot be read (Permission denied); nothing in it was taken"
    assert scan.refused == [f"d/locked: {why}"]
    assert len(scan.sightings) == 1
    [flag] = catalog.flags(state="unresolved")
    assert (flag.kind, flag.subject, flag.detail) == ("rejected-file", "dock:d/locked", why)


def test_a_file_rewritten_after_verification_with_its_mtime_set_back_is_kept(world: World) -> None:
    svc, catalog, clock, dock = world
    path = dock / NAME
    path.write_bytes(b"a" * 5000)
    svc.scan("d")
    clock.advance(6)
    [s] = catalog.pending_sightings()
    assert svc.step_sighting(s)  # stable and hashed
    [rec] = catalog.list_recordings()
    while svc.step_recording(rec) and not rec.state.at_least(RecordingState.VERIFIED):
        rec = catalog.recording(rec.id)
    assert catalog.recording(rec.id).state == RecordingState.VERIFIED
    st = path.stat()
    path.write_bytes(b"b" * 5000)  # new content, same size ...
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the old mtime (touch -d)
    svc.step_sighting(catalog.sighting(s.id))
    assert catalog.sighting(s.id).state == SightingState.KEPT
    assert path.read_bytes() == b"b" * 5000  # the new content was never stored: it stays
