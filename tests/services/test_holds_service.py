"""The legal-hold service through fakes: the hold is set through the store's port, and the
custody event (who, why) is written only once the store has done it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from recorder_sync.domain import layout
from recorder_sync.domain.custody import CustodyEvent, EventKind
from recorder_sync.domain.errors import NotFound, StorageRejected
from recorder_sync.domain.model import Kind, Recording, RecordingState, StoredObject
from recorder_sync.services.holds import set_legal_hold

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
SHA = "ab" * 32


class FakeHolds:
    def __init__(self, fail: Exception | None = None) -> None:
        self.held: dict[str, bool] = {}
        self.fail = fail

    def set_legal_hold(self, key: str, on: bool) -> StoredObject:
        if self.fail is not None:
            raise self.fail
        self.held[key] = on
        return StoredObject(key=key, uri=f"s3://b/{key}?versionId=v1", size=1, version_id="v1", legal_hold=on)


class FakeNotes:
    def __init__(self, rec: Recording) -> None:
        self.rec = rec
        self.notes: list[tuple[EventKind, datetime, dict[str, Any]]] = []

    def recording(self, ref: str) -> Recording:
        if not self.rec.id.startswith(ref):
            raise NotFound(ref)
        return self.rec

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
        self.notes.append((action, now, {"recording_id": recording_id, "details": details, "reason": reason}))
        return None  # type: ignore[return-value]  (the service does not use it)


def recording() -> Recording:
    return Recording(
        id="rec-" + SHA[:16],
        sha256=SHA,
        size=1,
        kind=Kind.VIDEO,
        state=RecordingState.VERIFIED,
        station="st",
        dock="dock",
        original_name="a.mp4",
        ingested_at=NOW,
    )


def test_hold_on_then_off_is_set_in_the_store_and_noted_with_why() -> None:
    notes, holds = FakeNotes(recording()), FakeHolds()
    rec_id, obj = set_legal_hold(notes, holds, "rec-abab", True, "under appeal", NOW)
    assert rec_id == notes.rec.id and holds.held == {layout.media_key(SHA): True}
    set_legal_hold(notes, holds, rec_id, False, "appeal closed", NOW)
    assert holds.held == {layout.media_key(SHA): False}
    assert [(a, n["reason"], n["recording_id"], n["details"]) for a, _, n in notes.notes] == [
        (EventKind.LEGAL_HOLD, "under appeal", rec_id, {"uri": obj.uri, "version_id": "v1"}),
        (EventKind.LEGAL_HOLD_RELEASED, "appeal closed", rec_id, {"uri": obj.uri, "version_id": "v1"}),
    ]


def test_a_refused_hold_writes_no_custody_event() -> None:
    notes = FakeNotes(recording())
    with pytest.raises(StorageRejected):
        set_legal_hold(notes, FakeHolds(StorageRejected("denied")), "rec-abab", True, "x", NOW)
    assert notes.notes == []
