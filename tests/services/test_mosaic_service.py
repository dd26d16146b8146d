"""The mosaic's order of things, on fakes: every recording's access is logged before any copy
is read; one access that cannot be logged and nothing is read; what fails afterwards is
recorded for every recording of the mosaic."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from test_replay_service import ACTOR, NOW, CountingStore, FakePlayer, Log, Roster

from recorder_sync.adapters.keys import create_key
from recorder_sync.adapters.player import StoreCopies
from recorder_sync.domain import layout
from recorder_sync.domain.cases import Action, ActionQuery
from recorder_sync.domain.custody import CustodyEvent, EventKind
from recorder_sync.domain.errors import ClipFailed, DatabaseUnavailable
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.manifest import ManifestInput, build_manifest
from recorder_sync.domain.model import Kind, Recording, RecordingState
from recorder_sync.domain.mosaic import MosaicLayout
from recorder_sync.domain.provenance import Derivation
from recorder_sync.domain.replay import FindQuery, FoundRecording
from recorder_sync.domain.roster import Role, RosterEntry
from recorder_sync.domain.trust import StationKey, TrustAnchors
from recorder_sync.services.replay import MosaicOut, ReplayService

T0 = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
A1 = Action("C1", "A1", "seizure", "Unit 1", ("031245", "042000"), T0, T0 + timedelta(minutes=5))


@dataclass
class Library:
    found: list[FoundRecording]

    def find(self, query: FindQuery) -> list[FoundRecording]:
        return [f for f in self.found if query.officer in (None, f.recording.officer)]

    def signed_at(self, recording_id: str) -> datetime | None:
        return NOW

    def actions(self, query: ActionQuery) -> list[Action]:
        return [A1] if query.action_id == "A1" else []


@dataclass
class FakeMosaic:
    """``Mosaicker``: writes the sources' bytes one after the other; ``fails`` like ffmpeg."""

    fails: bool = False
    seen: list[dict[str, bytes]] = field(default_factory=list)

    def render(self, layout: MosaicLayout, sources: Mapping[str, Path], target: Path) -> Derivation:
        self.seen.append({rid: path.read_bytes() for rid, path in sources.items()})
        if self.fails:
            raise ClipFailed("the mosaic of action A1", "no such filter")
        target.write_bytes(b"".join(sources[r.id].read_bytes() for r in layout.recordings))
        return Derivation(({"op": "mosaic"},), "fake")


class FlakyLog(Log):
    """Fails the ``fail_at``-th write only (1-based), as a database that drops once."""

    fail_at: int = 0

    def note(self, action: EventKind, now: datetime, **event: Any) -> CustodyEvent:
        if len(self.notes) + 1 == self.fail_at:
            self.fail_at = 0
            raise DatabaseUnavailable("connection reset")
        return super().note(action, now, **event)


@pytest.fixture
def world(tmp_path: Path) -> tuple[ReplayService, FlakyLog, CountingStore, TrustAnchors]:
    signer = create_key(tmp_path / "keys" / "station.key")
    store = CountingStore()
    found, recordings = [], {}
    for n, (officer, start) in enumerate((("031245", T0), ("042000", T0 + timedelta(seconds=5))), 1):
        data = f"footage of {officer} ".encode() * 500
        sha = hashlib.sha256(data).hexdigest()
        rid = f"rec-{n}"
        manifest = build_manifest(
            ManifestInput(rid, sha, len(data), f"{n}.mp4", "st", "d", NOW, "test", signer.key_id, {}, {})
        )
        rec = Recording(
            id=rid,
            sha256=sha,
            size=len(data),
            kind=Kind.VIDEO,
            state=RecordingState.VERIFIED,
            station="st",
            dock="d",
            original_name=f"{n}.mp4",
            ingested_at=NOW,
            officer=officer,
            device=f"DSJ-{n}",
            start=start,
            duration_ms=10_000,
            manifest=manifest,
            signature=signer.sign(manifest),
            key_id=signer.key_id,
            storage_uri="memory://x",
        )
        store.objects[layout.media_key(sha)] = data
        recordings[rid] = rec
        found.append(FoundRecording(rec, RecordingFacts(rid, rec.device, officer, start, None)))
    trust = TrustAnchors(
        (), (StationKey(signer.key_id, "st", signer.public_key_pem(), datetime(2000, 1, 1, tzinfo=UTC)),)
    )
    log = FlakyLog(recordings)
    service = ReplayService(
        actor=ACTOR,
        roster=Roster(RosterEntry("chen", Role.SUPERVISOR)),
        library=Library(found),
        log=log,
        copies=StoreCopies(store, tmp_path),
        clock=lambda: NOW,
    )
    return service, log, store, trust


SH = ZoneInfo("Asia/Shanghai")


def test_every_access_is_logged_before_any_copy_is_read(world: Any) -> None:
    service, log, store, trust = world
    player, mosaic = FakePlayer(log), FakeMosaic()
    shown = service.play_action("A1", "review", trust, mosaic, SH, MosaicOut(player=player))
    assert shown.player_status == 0 and shown.access_seqs == (1, 2) and store.opened == 2
    [(played, logged_then)] = player.calls
    assert logged_then == 2 and played.startswith(b"footage of 031245") and b"footage of 042000" in played
    assert [(kind, d["recordings"][0]["id"], d["mosaic"]["recordings"]) for kind, d, _ in log.notes] == [
        (EventKind.ACCESSED, "rec-1", ["rec-1", "rec-2"]),
        (EventKind.ACCESSED, "rec-2", ["rec-1", "rec-2"]),
    ]


def test_an_access_that_cannot_be_logged_reads_nothing(world: Any) -> None:
    service, log, store, trust = world
    log.fail_at = 2  # the second recording's access
    player, mosaic = FakePlayer(log), FakeMosaic()
    with pytest.raises(DatabaseUnavailable):
        service.play_action("A1", "review", trust, mosaic, SH, MosaicOut(player=player))
    assert store.opened == 0 and mosaic.seen == [] and player.calls == []
    # the first access, already logged, is closed by its outcome
    assert [(d["recordings"][0]["id"] if "recordings" in d else d["outcome"]) for _, d, _ in log.notes] == [
        "rec-1",
        "failed",
    ]


def test_when_ffmpeg_or_the_player_fails_every_access_gets_its_outcome(world: Any) -> None:
    service, log, _, trust = world
    with pytest.raises(ClipFailed):
        service.play_action(
            "A1", "review", trust, FakeMosaic(fails=True), SH, MosaicOut(player=FakePlayer(log))
        )
    assert [(d.get("access_seq"), d.get("outcome")) for _, d, _ in log.notes] == [
        (None, None),
        (None, None),
        (1, "failed"),
        (2, "failed"),
    ]
    log.notes.clear()
    player = FakePlayer(log, status=3)
    assert (
        service.play_action("A1", "r", trust, FakeMosaic(), SH, MosaicOut(player=player)).player_status == 3
    )
    assert [d.get("outcome") for _, d, _ in log.notes] == [None, None, "player-failed", "player-failed"]


def test_an_officer_sees_only_their_own_tile(world: Any) -> None:
    service, log, _, trust = world
    service.roster = Roster(RosterEntry("chen", Role.OFFICER, "042000"))
    shown = service.play_action("A1", "my report", trust, FakeMosaic(), SH, MosaicOut(player=FakePlayer(log)))
    assert [t.recording.id for t in shown.layout.tiles] == ["rec-2"]
    assert [d["recordings"][0]["id"] for _, d, _ in log.notes] == ["rec-2"]
