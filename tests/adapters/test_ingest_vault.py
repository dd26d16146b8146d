"""The ingest service on real adapters (dock folder, ffprobe, vault, SQLite/PostgreSQL), with a
clock the test controls, for what the real adapters add to the stories of
``tests/services/test_ingest_service.py`` (which runs them all through fakes): a file unlinked and
copied back with its old times, a file rewritten in place, vault objects restored read-only, a
good object never rewritten, a vault whose disk is not mounted."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import pytest
from clirunner import RESTORE_STORY
from fakes import Clock
from s3server import S3Server, new_bucket_name

from recorder_sync.adapters import keys
from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.dockfs import DockFolder
from recorder_sync.adapters.probe import FfprobeProber
from recorder_sync.adapters.s3store import S3Settings, S3Store
from recorder_sync.adapters.vault import MARKER, Vault
from recorder_sync.domain.custody import verify_chain
from recorder_sync.domain.errors import SourceChanged
from recorder_sync.domain.layout import manifest_key, media_key, signature_key
from recorder_sync.domain.model import FileIdentity, Recording, RecordingState, ReleasePolicy, SightingState
from recorder_sync.domain.naming import BUILTIN_PROFILES
from recorder_sync.domain.ports import ObjectStore
from recorder_sync.services.ingest import Dock, IngestService

NAME = "DSJ-A1_031245_20261127083015_0001.MP4"


def service(
    tmp_path: Path, catalog: SqlCatalog, clock: Clock, store: ObjectStore | None = None
) -> IngestService:
    """The service of one process on the test's folders (a second call: a restarted process)."""
    return IngestService(
        catalog=catalog,
        store=store or Vault(tmp_path / "vault"),
        signer=keys.load_or_create(tmp_path / "keys" / "station.key"),
        prober=FfprobeProber(),
        docks={
            "d": Dock(
                DockFolder("d", tmp_path / "dock"),
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


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> tuple[IngestService, SqlCatalog, Clock, Path]:
    engine = make_engine(db_url)
    upgrade(engine)
    catalog = SqlCatalog(engine, station="st", actor="test")
    clock = Clock()
    dock = tmp_path / "dock"
    dock.mkdir()
    return service(tmp_path, catalog, clock), catalog, clock, dock


def test_undocked_before_storage_then_docked_again(
    world: tuple[IngestService, SqlCatalog, Clock, Path], tmp_path: Path
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
    world: tuple[IngestService, SqlCatalog, Clock, Path],
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


def test_on_s3_a_file_rewritten_while_it_is_uploaded_is_refused_by_the_server_and_kept(
    world: tuple[IngestService, SqlCatalog, Clock, Path],
    tmp_path: Path,
    s3_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file of one PUT is sent without a hash pass of our own: its declared SHA-256 is what
    RGW checks, so bytes that change under the upload (after the identity check at open)
    still store nothing."""
    _, catalog, clock, dock = world
    bucket = new_bucket_name()
    user = s3_server.owner
    store = S3Store(
        S3Settings(
            endpoint=s3_server.endpoint,
            bucket=bucket,
            access_key=user.access_key,
            secret_key=user.secret_key,
            create_bucket=True,
            retention_days={"ordinary": 1, "evidence": 2},
        ),
        lambda: datetime.now(UTC),  # retention dates the server accepts: not the test's past
    )
    svc = service(tmp_path, catalog, clock, store)
    (dock / NAME).write_bytes(b"a" * 5000)
    svc.scan("d")
    clock.advance(6)
    svc.step_sighting(catalog.pending_sightings()[0])
    [rec] = catalog.list_recordings()
    while rec.state != RecordingState.SIGNED:  # probed and signed: the upload comes next
        assert svc.step_recording(rec)
        rec = catalog.recording(rec.id)
    reader = svc.docks["d"].reader
    opened = reader.open

    def written_once_open(relpath: str) -> tuple[BinaryIO, FileIdentity]:
        f, ident = opened(relpath)
        with (dock / NAME).open("r+b") as camera:  # the camera writes into it as the upload reads
            camera.write(b"b" * 5000)
        return f, ident

    monkeypatch.setattr(reader, "open", written_once_open)

    with pytest.raises(SourceChanged, match="refused by the server"):
        svc.step_recording(rec)

    assert catalog.recording(rec.id).state.rank < RecordingState.STORED.rank
    assert (dock / NAME).read_bytes() == b"b" * 5000  # never deleted
    [flag] = [f for f in catalog.flags(state="unresolved") if f.kind == "source-changed"]
    assert "refused by the server" in flag.detail
    assert list(s3_server.client().list_objects(bucket, prefix=media_key(rec.sha256))) == []


# --- a re-docked copy is released only while the store holds a good copy (issue 7, item 2) ---


def _drive(svc: IngestService, clock: Clock, rounds: int = 8) -> None:
    for _ in range(rounds):
        clock.advance(6)
        svc.scan("d")
        svc.run_once()


def _ingested(
    world: tuple[IngestService, SqlCatalog, Clock, Path], tmp_path: Path, data: bytes
) -> tuple[Recording, Path]:
    """``data`` ingested and released from the dock; the camera still holds a copy."""
    svc, catalog, clock, dock = world
    (dock / NAME).write_bytes(data)
    camera = tmp_path / "camera-copy"
    shutil.copy2(dock / NAME, camera)
    _drive(svc, clock)
    [rec] = catalog.list_recordings()
    assert rec.state == RecordingState.RELEASED and not (dock / NAME).exists()
    return rec, camera


def _damage(path: Path, how: str) -> None:
    if how == "deleted":
        path.unlink()
        return
    path.chmod(0o644)  # vault objects are read-only files
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit: same size, other bytes
    path.write_bytes(bytes(data))
    path.chmod(0o444)


def _actions(catalog: SqlCatalog, rec_id: str) -> list[str]:
    return [e.fields["action"] for e in catalog.events(rec_id)]


@pytest.mark.parametrize(
    ("damaged", "how"),
    [("media", "deleted"), ("media", "corrupted"), ("manifest", "corrupted"), ("signature", "deleted")],
)
def test_redocked_copy_restores_a_damaged_stored_copy_before_it_is_released(
    world: tuple[IngestService, SqlCatalog, Clock, Path], tmp_path: Path, damaged: str, how: str
) -> None:
    svc, catalog, clock, dock = world
    data = b"evidence" * 5000
    rec, camera = _ingested(world, tmp_path, data)
    vault = tmp_path / "vault"
    key = {"media": media_key, "manifest": manifest_key, "signature": signature_key}[damaged](rec.sha256)
    good = (vault / key).read_bytes()
    _damage(vault / key, how)

    shutil.copy2(camera, dock / NAME)  # the camera is docked again with the same file
    svc.scan("d")
    clock.advance(6)
    svc.run_once()  # hashed as a duplicate, then checked before release: the check fails
    assert (dock / NAME).read_bytes() == data  # the last good copy is kept
    after = catalog.recording(rec.id)
    assert after.state == RecordingState.SIGNED  # to be stored and verified again
    assert after.verified_at == rec.verified_at  # uploaded in time then; not a late upload now
    [flag] = [f for f in catalog.flags(state="unresolved") if f.kind == "integrity-failure"]
    assert flag.recording_id == rec.id and flag.subject == f"recording:{rec.id}"
    assert f"dock:d/{NAME}" in flag.detail and "kept until" in flag.detail

    _drive(svc, clock)
    assert (vault / key).read_bytes() == good  # restored
    assert (vault / key).stat().st_mode & 0o222 == 0
    assert hashlib.sha256((vault / media_key(rec.sha256)).read_bytes()).hexdigest() == rec.sha256
    assert not (dock / NAME).exists()  # released once the new copy verified
    assert catalog.recording(rec.id).state == RecordingState.RELEASED
    actions = _actions(catalog, rec.id)
    assert actions[actions.index("duplicate-seen") :] == RESTORE_STORY
    assert [s.state for s in catalog.sightings_of(rec.id)] == [SightingState.RELEASED] * 2
    assert verify_chain(catalog.events()) == len(catalog.events())


def test_redocked_copy_of_a_good_stored_copy_is_checked_and_released(
    world: tuple[IngestService, SqlCatalog, Clock, Path], tmp_path: Path
) -> None:
    svc, catalog, clock, dock = world
    rec, camera = _ingested(world, tmp_path, b"fine" * 5000)
    stored = tmp_path / "vault" / media_key(rec.sha256)
    inode = stored.stat().st_ino
    shutil.copy2(camera, dock / NAME)
    _drive(svc, clock)
    assert not (dock / NAME).exists()
    assert stored.stat().st_ino == inode  # nothing rewritten
    actions = _actions(catalog, rec.id)
    assert "integrity-failure" not in actions and "restored" not in actions
    assert actions.count("released") == 2
    assert not [f for f in catalog.flags() if f.kind == "integrity-failure"]


def test_unmounted_vault_is_no_integrity_failure_and_the_dock_copy_waits(
    world: tuple[IngestService, SqlCatalog, Clock, Path], tmp_path: Path
) -> None:
    """Could not check is not failed verification: nothing is flagged or restored, nothing released."""
    svc, catalog, clock, dock = world
    rec, camera = _ingested(world, tmp_path, b"unmounted" * 3000)
    marker = tmp_path / "vault" / MARKER
    saved = marker.read_bytes()
    marker.unlink()  # the vault's disk is not mounted
    shutil.copy2(camera, dock / NAME)
    _drive(svc, clock, rounds=4)
    assert (dock / NAME).exists()
    [redocked] = [s for s in catalog.sightings_of(rec.id) if s.state == SightingState.HASHED]
    assert "unavailable" in (redocked.last_error or "")
    assert catalog.recording(rec.id).state == RecordingState.RELEASED
    assert "integrity-failure" not in _actions(catalog, rec.id)
    marker.write_bytes(saved)  # mounted again
    _drive(svc, clock, rounds=2)
    assert not (dock / NAME).exists()
    assert not [f for f in catalog.flags() if f.kind == "integrity-failure"]


# --- staging: the dock is read once, the store step links the copy made then (issue 12) ---


class CountingDock(DockFolder):
    """The dock folder, counting the bytes read from each file through the files it opens
    (ffprobe reads the open file by itself, through /proc: not counted)."""

    def __init__(self, name: str, root: Path) -> None:
        super().__init__(name, root)
        self.read: Counter[str] = Counter()

    def open(self, relpath: str) -> tuple[BinaryIO, FileIdentity]:
        f, ident = super().open(relpath)
        return _Counting(f, self.read, relpath), ident  # type: ignore[return-value]


class _Counting(io.RawIOBase):
    def __init__(self, f: BinaryIO, read: Counter[str], relpath: str) -> None:
        self._f, self._read, self._relpath, self.name = f, read, relpath, f.name

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self._f.readinto(b)  # type: ignore[attr-defined]
        self._read[self._relpath] += n or 0
        return int(n or 0)

    def fileno(self) -> int:
        return self._f.fileno()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._f.seek(offset, whence)

    def close(self) -> None:
        self._f.close()
        super().close()


def counting_service(tmp_path: Path, catalog: SqlCatalog, clock: Clock) -> tuple[IngestService, CountingDock]:
    """A process on the test's folders whose dock counts the bytes it gives."""
    svc = service(tmp_path, catalog, clock)
    reader = CountingDock("d", tmp_path / "dock")
    svc.docks["d"] = replace(svc.docks["d"], reader=reader)
    return svc, reader


def staged_files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "vault" / "tmp").iterdir())


def test_the_dock_file_is_read_once_and_its_staged_copy_is_what_is_stored(
    world: tuple[IngestService, SqlCatalog, Clock, Path], tmp_path: Path
) -> None:
    _, catalog, clock, dock = world
    svc, reader = counting_service(tmp_path, catalog, clock)
    data = os.urandom(3 * 1024 * 1024 + 5)
    (dock / NAME).write_bytes(data)
    _drive(svc, clock)
    [rec] = catalog.list_recordings()
    assert rec.state == RecordingState.RELEASED and not (dock / NAME).exists()
    assert reader.read[NAME] == len(data)  # hashing copied it; storing did not read it again
    stored = tmp_path / "vault" / media_key(rec.sha256)
    assert stored.read_bytes() == data and stored.stat().st_mode & 0o222 == 0
    assert staged_files(tmp_path) == []  # the staged copy is now the object, under its key only
    actions = _actions(catalog, rec.id)
    assert [a for a in actions if a in ("hashed", "stored", "verified", "released")] == [
        "hashed",
        "stored",
        "verified",
        "released",
    ]


def test_a_restart_between_staging_and_storing_stores_the_staged_copy(
    world: tuple[IngestService, SqlCatalog, Clock, Path], tmp_path: Path
) -> None:
    """As after a kill -9 once the file was hashed and staged, before it was stored: the next
    process keeps the staged copy (only unfinished temporary files go) and stores from it."""
    svc, catalog, clock, dock = world
    data = os.urandom(2 * 1024 * 1024)
    (dock / NAME).write_bytes(data)
    svc.scan("d")
    clock.advance(6)
    svc.step_sighting(catalog.pending_sightings()[0])  # stable, hashed and staged; then the kill
    [rec] = catalog.list_recordings()
    assert rec.state == RecordingState.HASHED
    assert staged_files(tmp_path) == [f"staged-{rec.sha256}"]
    (tmp_path / "vault" / "tmp" / "put-killed").write_bytes(b"half a copy")  # another, cut short

    again, reader = counting_service(tmp_path, catalog, clock)  # the next process
    assert staged_files(tmp_path) == [f"staged-{rec.sha256}"]
    _drive(again, clock)
    assert catalog.recording(rec.id).state == RecordingState.RELEASED
    assert reader.read[NAME] == 0  # stored from the staged copy, not the dock
    assert (tmp_path / "vault" / media_key(rec.sha256)).read_bytes() == data
    assert staged_files(tmp_path) == []
    assert _actions(catalog, rec.id).count("stored") == 1


def test_the_same_content_staged_twice_is_stored_once_and_leaves_no_copy(
    world: tuple[IngestService, SqlCatalog, Clock, Path], tmp_path: Path
) -> None:
    _, catalog, clock, dock = world
    svc, reader = counting_service(tmp_path, catalog, clock)
    data = os.urandom(1024 * 1024 + 1)
    twin = NAME.replace("0001.MP4", "0002.MP4")
    (dock / NAME).write_bytes(data)
    (dock / twin).write_bytes(data)  # the same clip twice (copied on the camera)
    _drive(svc, clock)
    [rec] = catalog.list_recordings()
    assert rec.state == RecordingState.RELEASED
    assert [s.state for s in catalog.sightings_of(rec.id)] == [SightingState.RELEASED] * 2
    assert reader.read[NAME] == reader.read[twin] == len(data)  # each file read once, to hash it
    assert _actions(catalog, rec.id).count("stored") == 1
    assert staged_files(tmp_path) == []
    # docked again once stored: hashed (and staged) as a duplicate, its copy dropped at once
    (dock / NAME).write_bytes(data)
    svc.scan("d")
    clock.advance(6)
    svc.step_sighting(next(s for s in catalog.pending_sightings() if s.relpath == NAME))
    assert staged_files(tmp_path) == []
    _drive(svc, clock)
    assert not (dock / NAME).exists() and staged_files(tmp_path) == []


def test_staged_copies_no_recording_needs_are_swept_at_start_and_the_others_kept(
    world: tuple[IngestService, SqlCatalog, Clock, Path], tmp_path: Path
) -> None:
    svc, catalog, clock, dock = world
    (dock / NAME).write_bytes(b"stored already" * 1000)
    _drive(svc, clock)
    [done] = catalog.list_recordings()
    later = NAME.replace("0001.MP4", "0003.MP4")
    (dock / later).write_bytes(b"hashed, not stored yet" * 1000)
    svc.scan("d")
    clock.advance(6)
    svc.step_sighting(next(s for s in catalog.pending_sightings() if s.relpath == later))
    [pending] = [r for r in catalog.list_recordings() if r.id != done.id]
    assert staged_files(tmp_path) == [f"staged-{pending.sha256}"]
    tmp = tmp_path / "vault" / "tmp"
    # left by kills: after a recording was stored (before its copy was removed), and after a
    # file was staged for a recording the catalog never got
    shutil.copy(tmp_path / "vault" / media_key(done.sha256), tmp / f"staged-{done.sha256}")
    (tmp / f"staged-{'0' * 64}").write_bytes(b"no recording")

    again, reader = counting_service(tmp_path, catalog, clock)  # the next process
    again.run_once()  # its first pass sweeps
    assert staged_files(tmp_path) == []  # the pending recording's copy was kept, and stored
    assert catalog.recording(pending.id).state.at_least(RecordingState.STORED)
    assert reader.read[later] == 0


def test_a_vault_that_cannot_stage_hashes_from_the_dock_and_stores_from_it_later(
    world: tuple[IngestService, SqlCatalog, Clock, Path], tmp_path: Path
) -> None:
    """Staging is a shortcut only: an unmounted (or full) vault does not stop the hashing."""
    _, catalog, clock, dock = world
    svc, reader = counting_service(tmp_path, catalog, clock)
    data = os.urandom(1024 * 1024)
    (dock / NAME).write_bytes(data)
    marker = tmp_path / "vault" / MARKER
    saved = marker.read_bytes()
    marker.unlink()
    svc.scan("d")
    clock.advance(6)
    svc.step_sighting(catalog.pending_sightings()[0])
    [rec] = catalog.list_recordings()
    assert rec.sha256 == hashlib.sha256(data).hexdigest() and staged_files(tmp_path) == []
    marker.write_bytes(saved)
    _drive(svc, clock)
    assert catalog.recording(rec.id).state == RecordingState.RELEASED
    assert reader.read[NAME] == 2 * len(data)  # hashed, then copied from the dock
    assert (tmp_path / "vault" / media_key(rec.sha256)).read_bytes() == data
