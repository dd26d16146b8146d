"""The replay service's order of things, on fakes: the access is logged before the store is
read; when it cannot be logged nothing is read or shown; what fails afterwards is logged."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from fakes import MemoryStore

from recorder_sync.adapters.keys import create_key
from recorder_sync.adapters.player import StoreCopies
from recorder_sync.domain import layout
from recorder_sync.domain.cases import ImportOutcome
from recorder_sync.domain.custody import CustodyEvent, EventKind
from recorder_sync.domain.errors import (
    AccessRefused,
    DatabaseUnavailable,
    DerivedNotStored,
    IntegrityFailure,
    StorageRejected,
    StorageUnavailable,
    UsageError,
)
from recorder_sync.domain.manifest import ManifestInput, build_manifest
from recorder_sync.domain.model import Flag, Kind, Recording, RecordingState
from recorder_sync.domain.replay import ClipRange, FindQuery, FoundRecording
from recorder_sync.domain.roster import Role, RosterEntry
from recorder_sync.domain.trust import StationKey, TrustAnchors
from recorder_sync.services.derived import DerivedEvidence
from recorder_sync.services.replay import ReplayService

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
ACTOR = "chen@station-1"
DATA = b"footage " * 1000


@dataclass
class Log:
    """``AccessLog``: notes kept in a list; ``down`` makes every write fail like a lost database."""

    recordings: dict[str, Recording]
    notes: list[tuple[EventKind, dict[str, Any], str | None]] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    down: bool = False

    def recording(self, ref: str) -> Recording:
        return self.recordings[ref]

    def note(
        self,
        action: EventKind,
        now: datetime,
        *,
        recording_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> CustodyEvent:
        if self.down:
            raise DatabaseUnavailable("connection refused")
        self.notes.append((action, dict(details or {}), reason))
        return CustodyEvent(seq=len(self.notes), body=b"{}", leaf_hash="0" * 64)

    def raise_flag(self, flag: Flag, now: datetime) -> None:
        self.flags.append(flag)


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.opened = 0
        self.versions: list[str | None] = []

    def open(self, key: str, version_id: str | None = None) -> BinaryIO:
        self.opened += 1
        self.versions.append(version_id)
        return super().open(key, version_id)


@dataclass
class FakePlayer:
    log: Log
    name: str = "fake"
    calls: list[tuple[bytes, int]] = field(default_factory=list)
    status: int = 0

    def unusable(self) -> str | None:
        return None

    def play(self, path: Path, span: ClipRange) -> int:
        self.calls.append((path.read_bytes(), len(self.log.notes)))
        return self.status


class Roster:
    def __init__(self, *entries: RosterEntry) -> None:
        self.entries = list(entries)

    def upsert_roster(self, entries: Any, now: datetime, source: str, actor: str) -> ImportOutcome:
        raise NotImplementedError

    def roster(self) -> list[RosterEntry]:
        return self.entries


class Library:
    def find(self, query: FindQuery) -> list[FoundRecording]:
        return []

    def signed_at(self, recording_id: str) -> datetime | None:
        return NOW


@pytest.fixture
def world(tmp_path: Path) -> tuple[ReplayService, Log, CountingStore, FakePlayer, TrustAnchors, Recording]:
    signer = create_key(tmp_path / "keys" / "station.key")
    sha = hashlib.sha256(DATA).hexdigest()
    manifest = build_manifest(
        ManifestInput("rec-1", sha, len(DATA), "a.mp4", "st", "d", NOW, "test", signer.key_id, {}, {})
    )
    rec = Recording(
        id="rec-1",
        sha256=sha,
        size=len(DATA),
        kind=Kind.VIDEO,
        state=RecordingState.VERIFIED,
        station="st",
        dock="d",
        original_name="a.mp4",
        ingested_at=NOW,
        officer="031245",
        manifest=manifest,
        signature=signer.sign(manifest),
        key_id=signer.key_id,
        storage_uri="memory://x",
        version_id="v7",
    )
    store = CountingStore()
    store.objects[layout.media_key(sha)] = DATA
    log = Log({"rec-1": rec})
    trust = TrustAnchors(
        (), (StationKey(signer.key_id, "st", signer.public_key_pem(), datetime(2000, 1, 1, tzinfo=UTC)),)
    )
    service = ReplayService(
        actor=ACTOR,
        roster=Roster(RosterEntry("chen", Role.SUPERVISOR)),
        library=Library(),
        log=log,
        copies=StoreCopies(store, tmp_path),
        clock=lambda: NOW,
        derived=DerivedEvidence(store=lambda: store, log=log, clock=lambda: NOW, station="st"),
    )
    return service, log, store, FakePlayer(log), trust, rec


def test_the_access_is_logged_before_the_store_is_read(world: Any) -> None:
    service, log, store, player, trust, _ = world
    played = service.play("rec-1", "case review", ClipRange(), trust, player)
    assert played.player_status == 0 and store.versions == ["v7"]  # the version stored and verified
    assert player.calls == [(DATA, 1)]  # the player saw the verified bytes, one event already logged
    [(kind, details, reason)] = log.notes
    assert kind is EventKind.ACCESSED and reason == "case review" and details["how"] == "play"


def test_when_the_access_cannot_be_logged_nothing_is_read_or_shown(world: Any) -> None:
    service, log, store, player, trust, _ = world
    log.down = True
    with pytest.raises(DatabaseUnavailable):
        service.play("rec-1", "case review", ClipRange(), trust, player)
    assert store.opened == 0 and player.calls == []


def test_a_damaged_copy_is_flagged_recorded_and_never_played(world: Any, tmp_path: Path) -> None:
    service, log, store, player, trust, rec = world
    store.damage(layout.media_key(rec.sha256))
    with pytest.raises(IntegrityFailure):
        service.play("rec-1", "case review", ClipRange(), trust, player)
    assert player.calls == []
    assert [n[1].get("outcome") for n in log.notes] == [None, "integrity-failure"]
    [flag] = log.flags
    assert flag.kind.value == "integrity-failure" and flag.recording_id == "rec-1"
    assert list(tmp_path.glob("recorder-replay-*")) == [], "the private copy is removed"


def test_a_store_that_fails_after_the_access_was_logged_gets_a_second_event(world: Any) -> None:
    service, log, store, player, trust, _ = world
    store.available = False
    with pytest.raises(StorageUnavailable):
        service.play("rec-1", "case review", ClipRange(), trust, player)
    assert player.calls == [] and log.flags == []
    assert [n[1].get("outcome") for n in log.notes] == [None, "failed"]


def test_an_export_of_a_damaged_copy_writes_nothing(world: Any, tmp_path: Path) -> None:
    from recorder_sync.adapters.clips import ExportFolder, FfmpegClipper

    service, log, store, _, trust, rec = world
    out = tmp_path / "out"
    out.mkdir()
    signer = create_key(tmp_path / "keys2" / "k.key")
    args = (ClipRange(), trust, FfmpegClipper(), ExportFolder(out), signer, "st")
    store.damage(layout.media_key(rec.sha256))
    with pytest.raises(IntegrityFailure):
        service.export("rec-1", "court", *args)
    assert list(out.iterdir()) == []
    assert [(n[0], n[1].get("outcome")) for n in log.notes] == [
        (EventKind.EXPORTED, None),
        (EventKind.EXPORTED, "integrity-failure"),
    ]
    # the whole recording, undamaged: its exact bytes, and a provenance naming them
    store.objects[layout.media_key(rec.sha256)] = DATA
    exported = service.export("rec-1", "court", *args)
    assert exported.path.read_bytes() == DATA and exported.sha256 == rec.sha256
    assert b'"operations":[{"op":"copy"}]' in exported.provenance
    # stored as evidence under derived/, beside the original (which is not written)
    assert store.objects[layout.derived_key(rec.sha256)] == DATA
    assert store.objects[exported.stored.provenance_key] == exported.provenance
    assert store.objects[layout.media_key(rec.sha256)] == DATA
    assert [n[0] for n in log.notes][-1] is EventKind.DERIVED


class RefusingDerived(CountingStore):
    """A store that serves the evidence but refuses every write (replay without put rights)."""

    def put_stream(self, key: str, *args: Any, **kwargs: Any) -> Any:
        raise StorageRejected(f"uploading {key}: AccessDenied")


def test_a_derived_file_that_cannot_be_stored_is_not_handed_out(world: Any, tmp_path: Path) -> None:
    from recorder_sync.adapters.clips import ExportFolder, FfmpegClipper

    service, log, store, _, trust, _ = world
    refusing = RefusingDerived()
    refusing.objects = store.objects
    service.derived = DerivedEvidence(store=lambda: refusing, log=log, clock=lambda: NOW, station="st")
    out = tmp_path / "out"
    out.mkdir()
    signer = create_key(tmp_path / "keys2" / "k.key")
    with pytest.raises(DerivedNotStored, match="AccessDenied"):
        service.export("rec-1", "court", ClipRange(), trust, FfmpegClipper(), ExportFolder(out), signer, "st")
    assert list(out.iterdir()) == []
    assert [(n[0], n[1].get("outcome")) for n in log.notes] == [
        (EventKind.EXPORTED, None),
        (EventKind.EXPORTED, "failed"),
    ]
    assert "not stored as evidence" in log.notes[-1][1]["problem"]


def test_without_a_store_for_derived_material_an_export_is_refused_before_it_is_logged(
    world: Any, tmp_path: Path
) -> None:
    from recorder_sync.adapters.clips import ExportFolder, FfmpegClipper

    service, log, _, _, trust, _ = world
    service.derived = None
    signer = create_key(tmp_path / "keys2" / "k.key")
    with pytest.raises(UsageError, match="stored as evidence"):
        service.export(
            "rec-1", "court", ClipRange(), trust, FfmpegClipper(), ExportFolder(tmp_path), signer, "st"
        )
    assert log.notes == []


def test_a_viewing_interrupted_by_a_stop_request_is_recorded(world: Any, tmp_path: Path) -> None:
    service, log, _, player, trust, _ = world

    def stopped(path: Path, span: ClipRange) -> int:
        raise KeyboardInterrupt("SIGTERM")

    player.play = stopped
    with pytest.raises(KeyboardInterrupt):
        service.play("rec-1", "case review", ClipRange(), trust, player)
    assert [n[1].get("outcome") for n in log.notes] == [None, "interrupted"]
    assert list(tmp_path.glob("recorder-replay-*")) == []


def test_a_refusal_stands_when_it_cannot_be_logged(world: Any) -> None:
    service, log, store, player, trust, _ = world
    service.roster = Roster(RosterEntry("chen", Role.AUDITOR))
    with pytest.raises(AccessRefused, match="`play` needs the role officer or supervisor"):
        service.play("rec-1", "case review", ClipRange(), trust, player)
    [(kind, details, _)] = log.notes
    assert kind is EventKind.ACCESS_REFUSED and details["role"] == "auditor"
    log.down = True  # the database cannot be written: still refused, not "could not check"
    with pytest.raises(AccessRefused):
        service.play("rec-1", "case review", ClipRange(), trust, player)
    assert store.opened == 0 and player.calls == []


def test_a_copy_missing_from_the_store_is_flagged_recorded_and_never_played(world: Any) -> None:
    service, log, store, player, trust, rec = world
    del store.objects[layout.media_key(rec.sha256)]
    with pytest.raises(IntegrityFailure, match="found no stored copy"):
        service.play("rec-1", "case review", ClipRange(), trust, player)
    assert player.calls == []
    assert [n[1].get("outcome") for n in log.notes] == [None, "integrity-failure"]
    [flag] = log.flags
    assert flag.kind.value == "integrity-failure" and "no stored copy" in flag.detail
