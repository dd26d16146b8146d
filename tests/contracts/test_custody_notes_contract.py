"""The ``CustodyNotes`` contract, on the in-memory fake and on the SQL catalog (SQLite and
PostgreSQL): which references name a recording (its id, its SHA-256, or a unique prefix of
either of at least 8 characters), and a note as a chained custody event saying who, what, why."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from casebooks import CASE_BACKENDS, case_book
from fakes import MemoryCustodyNotes

from recorder_sync.domain.custody import CustodyEvent, EventKind, verify_chain
from recorder_sync.domain.errors import NotFound
from recorder_sync.domain.model import FileIdentity, Kind, recording_id_for
from recorder_sync.domain.ports import CustodyNotes

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
# two recordings whose hashes (and so ids) share their first ten characters
SHA1 = "abcdef0123" + "0" * 54
SHA2 = "abcdef0123" + "1" * 54


@dataclass
class Backend:
    notes: CustodyNotes
    add: Callable[[str], str]
    """Puts a recording of these bytes (named by their SHA-256) in; returns its id."""
    events: Callable[[], list[CustodyEvent]]


@pytest.fixture(params=CASE_BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        fake = MemoryCustodyNotes()

        def add_held(sha: str) -> str:
            return fake.add(sha).id

        yield Backend(fake, add_held, lambda: list(fake.events))
        return
    with case_book(request.param, request, tmp_path) as book:
        catalog = book.catalog

        def add_found(sha: str) -> str:
            n = len(catalog.events()) + 1
            ident = FileIdentity(size=n, mtime_ns=n, inode=n, device=1)
            sighting = catalog.observe("dock", f"file_{n}.mp4", ident, NOW)
            rec, _ = catalog.attach_hash(
                sighting.id, sha256=sha, ident=ident, kind_hint=Kind.VIDEO, sidecar=None, now=NOW
            )
            return rec.id

        yield Backend(catalog, add_found, catalog.events)


def test_a_recording_is_named_by_its_id_its_hash_or_a_unique_prefix_of_either(backend: Backend) -> None:
    one, two = backend.add(SHA1), backend.add(SHA2)
    assert one == recording_id_for(SHA1)
    for ref in (one, SHA1, one[:15], "abcdef01230", "ABCDEF01230", SHA1[:20]):
        assert backend.notes.recording(ref).id == one, ref
    assert backend.notes.recording("rec-abcdef01231").id == two
    for ref in ("rec-abcdef01", "abcdef0123", "abcdef0", "rec-0000000000", "", "b" * 64):
        with pytest.raises(NotFound, match="recording"):
            backend.notes.recording(ref)


def test_a_note_is_a_custody_event_chained_to_the_log(backend: Backend) -> None:
    rid = backend.add(SHA1)
    held = backend.notes.note(
        EventKind.LEGAL_HOLD, NOW, recording_id=rid, details={"uri": "s3://b/k"}, reason="under appeal"
    )
    access = backend.notes.note(EventKind.ACCESSED, NOW, actor="sgt 9")
    fields = held.fields
    assert (fields["action"], fields["recording_id"], fields["details"], fields["reason"]) == (
        "legal-hold",
        rid,
        {"uri": "s3://b/k"},
        "under appeal",
    )
    assert fields["actor"] == "test"  # the catalog's own actor when the note names none
    assert (access.fields["actor"], "recording_id" in access.fields, "reason" in access.fields) == (
        "sgt 9",
        False,
        False,
    )
    events = backend.events()
    assert events[-2:] == [held, access] and access.seq == held.seq + 1
    assert verify_chain(events) == len(events)
