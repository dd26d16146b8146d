"""What an evidence bundle reads from the catalog: the recordings, their links and actions,
their flags and every custody event about them, as stored (read-only)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import select

from recorder_sync.adapters.db.cases_repo import ActionRepo
from recorder_sync.adapters.db.links_repo import LinkRepo
from recorder_sync.adapters.db.rows import chunks
from recorder_sync.adapters.db.schema import CustodyEventRow, FlagRow
from recorder_sync.domain.bundle import is_about
from recorder_sync.domain.custody import CustodyEvent
from recorder_sync.domain.model import Recording
from recorder_sync.domain.times import utc_iso

_BATCH = 2000


class BundleRepo(LinkRepo, ActionRepo):
    """Implements ``domain.ports.BundleSource``."""

    def recording(self, ref: str) -> Recording:
        return self.catalog.recording(ref)

    def flags(self, recording_ids: Collection[str], subjects: Collection[str]) -> list[dict[str, Any]]:
        """Every flag, open or resolved, about these recordings or subjects (actions, case)."""
        found: dict[int, FlagRow] = {}
        with self.catalog.transaction() as s:
            for batch in chunks(sorted(recording_ids)):
                for row in s.scalars(select(FlagRow).where(FlagRow.recording_id.in_(batch))):
                    found[row.id] = row
            for batch in chunks(sorted(subjects)):
                for row in s.scalars(select(FlagRow).where(FlagRow.subject.in_(batch))):
                    found[row.id] = row
            return [_flag(found[i]) for i in sorted(found)]

    def events_about(self, recording_ids: Collection[str], subjects: Collection[str]) -> list[CustodyEvent]:
        """Every custody event about these recordings (by id, or naming them in its details)
        or these subjects, in log order, exactly as stored."""
        found: dict[int, CustodyEvent] = {}
        with self.catalog.transaction() as s:
            for batch in chunks(sorted(recording_ids)):
                for seq, body, leaf in s.execute(
                    select(CustodyEventRow.seq, CustodyEventRow.body, CustodyEventRow.leaf_hash).where(
                        CustodyEventRow.recording_id.in_(batch)
                    )
                ):
                    found[seq] = CustodyEvent(seq, body, leaf)
        # events without a recording id (actions imported, exports of many recordings) say
        # what they are about only in their bytes
        for ev in self._events_without_recording():
            if is_about(ev.fields, recording_ids, subjects):
                found[ev.seq] = ev
        return [found[seq] for seq in sorted(found)]

    def _events_without_recording(self) -> Iterator[CustodyEvent]:
        after = 0
        while True:
            with self.catalog.transaction() as s:
                rows = s.execute(
                    select(CustodyEventRow.seq, CustodyEventRow.body, CustodyEventRow.leaf_hash)
                    .where(CustodyEventRow.recording_id.is_(None), CustodyEventRow.seq > after)
                    .order_by(CustodyEventRow.seq)
                    .limit(_BATCH)
                ).all()
            if not rows:
                return
            for seq, body, leaf in rows:
                yield CustodyEvent(seq, body, leaf)
            after = rows[-1][0]


def _flag(row: FlagRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "severity": row.severity,
        "subject": row.subject,
        "recording_id": row.recording_id,
        "detail": row.detail,
        "state": row.state,
        "raised_at": utc_iso(row.raised_at),
        "resolved_at": utc_iso(row.resolved_at) if row.resolved_at else None,
        "resolved_by": row.resolved_by,
        "reason": row.reason,
    }
