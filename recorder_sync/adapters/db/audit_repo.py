"""The database as ``recorder-audit`` reads it (``EvidenceRecords``): read-only, page by page.

The engine comes from ``engine.make_readonly_engine``, so nothing here could write even
by mistake.  Rows become ``SignedRecording`` values; nothing outside this module sees a row.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from recorder_sync.adapters.db.schema import CustodyEventRow, RecordingRow
from recorder_sync.domain.custody import CustodyEvent, EventKind
from recorder_sync.domain.errors import DatabaseUnavailable
from recorder_sync.domain.evidence_audit import SignedRecording

PAGE = 500


class EvidenceRecordsReader:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self.engine) as s:
                yield s
        except OperationalError as e:
            raise DatabaseUnavailable(str(e.orig)) from e

    def signed_recordings(self, since: datetime | None = None) -> Iterator[SignedRecording]:
        signed = select(CustodyEventRow.recording_id).where(CustodyEventRow.action == EventKind.SIGNED.value)
        q: Select[RecordingRow] = select(RecordingRow).where(
            or_(RecordingRow.manifest.is_not(None), RecordingRow.id.in_(signed))
        )
        if since is not None:
            # a recording with no 'signed' event at all is a problem whenever it was made
            q = q.where(
                or_(
                    RecordingRow.id.in_(signed.where(CustodyEventRow.at >= since)),
                    RecordingRow.id.not_in(signed),
                )
            )
        after = ""
        while True:
            with self._session() as s:
                rows = list(s.scalars(q.where(RecordingRow.id > after).order_by(RecordingRow.id).limit(PAGE)))
                if not rows:
                    return
                events = _signed_events(s, [r.id for r in rows])
                page = [_signed_recording(r, events.get(r.id)) for r in rows]
            yield from page
            after = rows[-1].id

    def signed_events_without_recording(self) -> list[CustodyEvent]:
        with self._session() as s:
            q = (
                select(CustodyEventRow)
                .where(
                    CustodyEventRow.action == EventKind.SIGNED.value,
                    CustodyEventRow.recording_id.not_in(select(RecordingRow.id)),
                )
                .order_by(CustodyEventRow.seq)
            )
            return [CustodyEvent(seq=r.seq, body=r.body, leaf_hash=r.leaf_hash) for r in s.scalars(q)]


def _signed_events(s: Session, ids: list[str]) -> dict[str, CustodyEvent]:
    """The last ``signed`` event of each recording (a recording is signed once; were there
    more, the last one is the one that holds)."""
    q = (
        select(CustodyEventRow)
        .where(CustodyEventRow.action == EventKind.SIGNED.value, CustodyEventRow.recording_id.in_(ids))
        .order_by(CustodyEventRow.seq)
    )
    out: dict[str, CustodyEvent] = {}
    for r in s.scalars(q):
        assert r.recording_id is not None
        out[r.recording_id] = CustodyEvent(seq=r.seq, body=r.body, leaf_hash=r.leaf_hash)
    return out


def _signed_recording(row: RecordingRow, event: CustodyEvent | None) -> SignedRecording:
    return SignedRecording(
        id=row.id,
        sha256=row.sha256,
        size=row.size,
        device=row.device,
        officer=row.officer,
        start=row.start,
        end=row.end,
        manifest=row.manifest,
        signature=row.signature,
        stored=row.stored_at is not None,
        version_id=row.version_id,
        signed_event=event,
    )
