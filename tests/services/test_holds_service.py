"""The legal-hold service through fakes: the hold is set through the store's port, and the
custody event (who, why) is written only once the store has done it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fakes import MemoryCustodyNotes

from recorder_sync.domain import layout
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.errors import NotFound, StorageRejected
from recorder_sync.domain.model import Recording, StoredObject
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


def notes_of_one_recording() -> tuple[MemoryCustodyNotes, Recording]:
    notes = MemoryCustodyNotes()
    return notes, notes.add(SHA)


def test_hold_on_then_off_is_set_in_the_store_and_noted_with_why() -> None:
    (notes, rec), holds = notes_of_one_recording(), FakeHolds()
    rec_id, obj = set_legal_hold(notes, holds, "rec-abab", True, "under appeal", NOW)
    assert rec_id == rec.id and holds.held == {layout.media_key(SHA): True}
    set_legal_hold(notes, holds, rec_id, False, "appeal closed", NOW)
    assert holds.held == {layout.media_key(SHA): False}
    noted = [e.fields for e in notes.events]
    assert [(n["action"], n["reason"], n["recording_id"], n["details"]) for n in noted] == [
        (EventKind.LEGAL_HOLD, "under appeal", rec_id, {"uri": obj.uri, "version_id": "v1"}),
        (EventKind.LEGAL_HOLD_RELEASED, "appeal closed", rec_id, {"uri": obj.uri, "version_id": "v1"}),
    ]


def test_a_refused_hold_writes_no_custody_event() -> None:
    notes, _ = notes_of_one_recording()
    with pytest.raises(StorageRejected):
        set_legal_hold(notes, FakeHolds(StorageRejected("denied")), "rec-abab", True, "x", NOW)
    assert notes.events == []


def test_a_hold_on_a_recording_no_one_can_name_sets_nothing() -> None:
    (notes, _), holds = notes_of_one_recording(), FakeHolds()
    with pytest.raises(NotFound, match="recording 'rec-aba'"):
        set_legal_hold(notes, holds, "rec-aba", True, "too short a prefix", NOW)
    assert holds.held == {} and notes.events == []
