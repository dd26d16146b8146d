"""Recording ↔ action links (automatic, suggested, manual, confirmed; removed links stay),
and what automatic linking reads: the recordings in a window, those probed since a cursor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recorder_sync.adapters.db.rows import (
    OTHER_KIND,
    REC_COLUMNS,
    CatalogBound,
    chunks,
    core,
    facts,
    link_from_row,
    lock_case_book,
    recordings_by_ids,
)
from recorder_sync.adapters.db.schema import (
    ActionRow,
    CustodyEventRow,
    LinkRow,
    RecordingRow,
    SweepMarkRow,
)
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.errors import NotFound
from recorder_sync.domain.linking import Confidence, LinkProposal, RecordingFacts, StoredLink
from recorder_sync.domain.subjects import (
    action_subject,
)


class LinkRepo(CatalogBound):
    """Implements ``LinkStore`` and ``LinkFeed``."""

    def apply_proposals(self, proposals: Sequence[LinkProposal], now: datetime) -> list[StoredLink]:
        """Store new proposals; a pair already linked (or unlinked by a person) is left
        alone, except that a suggestion the evidence now supports outright becomes auto."""
        made: list[StoredLink] = []
        if not proposals:
            return made
        with self.catalog.transaction() as s:
            lock_case_book(s)
            existing: dict[tuple[str, str], list[LinkRow]] = defaultdict(list)
            for batch in chunks(sorted({p.recording_id for p in proposals})):
                for row in s.scalars(select(LinkRow).where(LinkRow.recording_id.in_(batch))):
                    existing[(row.recording_id, row.action_id)].append(row)
            for p in proposals:
                rows = existing.get((p.recording_id, p.action_id), [])
                active = [r for r in rows if r.removed_at is None]
                if rows and not active:
                    continue  # removed by a person: not proposed again
                if active:
                    row = active[0]
                    if row.confidence == "suggested" and p.confidence is Confidence.AUTO:
                        row.confidence = "auto"
                        row.reason = p.reason
                        self._link_event(s, EventKind.LINKED, row, now, "auto-link", p.reason, upgraded=True)
                    continue
                row = LinkRow(
                    recording_id=p.recording_id,
                    action_id=p.action_id,
                    basis=p.basis.value,
                    confidence=p.confidence.value,
                    officer=p.officer,
                    created_by="auto-link",
                    reason=p.reason,
                    created_at=now,
                )
                s.add(row)
                s.flush()
                self._link_event(s, EventKind.LINKED, row, now, "auto-link", p.reason)
                made.append(link_from_row(row))
        return made

    def _link_event(
        self,
        s: Session,
        ev: EventKind,
        row: LinkRow,
        now: datetime,
        by: str,
        reason: str,
        upgraded: bool = False,
    ) -> None:
        details: dict[str, Any] = {
            "action_id": row.action_id,
            "basis": row.basis,
            "confidence": row.confidence,
        }
        if row.officer:
            details["officer"] = row.officer
        if upgraded:
            details["upgraded"] = True
        self.catalog.append_event(
            s,
            ev,
            now,
            recording_id=row.recording_id,
            subject=action_subject(row.action_id),
            details=details,
            reason=reason,
            actor=by,
        )

    def link(self, recording_id: str, action_id: str, by: str, reason: str, now: datetime) -> StoredLink:
        """A manual link, or the confirmation of a suggested one."""
        with self.catalog.transaction() as s:
            lock_case_book(s)
            if s.get(RecordingRow, recording_id) is None:
                raise NotFound(f"recording {recording_id!r}")
            if s.get(ActionRow, action_id) is None:
                raise NotFound(f"action {action_id!r}")
            row = s.scalar(
                select(LinkRow).where(
                    LinkRow.recording_id == recording_id,
                    LinkRow.action_id == action_id,
                    LinkRow.removed_at.is_(None),
                )
            )
            if row is not None and row.confidence != "suggested":
                return link_from_row(row)
            if row is not None:
                row.confidence = "confirmed"
                row.created_by = by
                row.reason = reason
            else:
                row = LinkRow(
                    recording_id=recording_id,
                    action_id=action_id,
                    basis="manual",
                    confidence="manual",
                    officer=None,
                    created_by=by,
                    reason=reason,
                    created_at=now,
                )
                s.add(row)
            s.flush()
            self._link_event(s, EventKind.LINKED, row, now, by, reason)
            return link_from_row(row)

    def unlink(self, recording_id: str, action_id: str, by: str, reason: str, now: datetime) -> int:
        with self.catalog.transaction() as s:
            lock_case_book(s)
            rows = s.scalars(
                select(LinkRow).where(
                    LinkRow.recording_id == recording_id,
                    LinkRow.action_id == action_id,
                    LinkRow.removed_at.is_(None),
                )
            ).all()
            if not rows:
                raise NotFound(f"link {recording_id} ↔ {action_id}")
            for row in rows:
                row.removed_at, row.removed_by, row.removed_reason = now, by, reason
                self._link_event(s, EventKind.UNLINKED, row, now, by, reason)
            return len(rows)

    def links(
        self,
        *,
        recording_ids: Sequence[str] | None = None,
        action_ids: Sequence[str] | None = None,
        include_removed: bool = False,
        device: str | None = None,
    ) -> list[StoredLink]:
        with self.catalog.transaction() as s:
            base = select(LinkRow).order_by(LinkRow.action_id, LinkRow.recording_id, LinkRow.id)
            if not include_removed:
                base = base.where(LinkRow.removed_at.is_(None))
            if device is not None:
                base = base.where(
                    LinkRow.recording_id.in_(select(RecordingRow.id).where(RecordingRow.device == device))
                )
            if recording_ids is None and action_ids is None:
                return [link_from_row(r) for r in s.scalars(base)]
            out: list[StoredLink] = []
            for batch in chunks(recording_ids or []):
                out.extend(link_from_row(r) for r in s.scalars(base.where(LinkRow.recording_id.in_(batch))))
            for batch in chunks(action_ids or []):
                out.extend(link_from_row(r) for r in s.scalars(base.where(LinkRow.action_id.in_(batch))))
            return out

    def recordings_overlapping(self, lo: datetime, hi: datetime) -> list[RecordingFacts]:
        # Clock offsets are small next to the margins callers add; the proposal itself
        # uses the corrected times.
        with self.catalog.transaction() as s:
            rows = core(
                s,
                select(*REC_COLUMNS).where(
                    RecordingRow.end >= lo, RecordingRow.start <= hi, RecordingRow.kind != OTHER_KIND
                ),
            )
            return facts(s, rows)

    def recordings_probed_since(self, cursor: int, limit: int) -> tuple[list[RecordingFacts], int]:
        """Recordings whose metadata was recorded after custody position ``cursor``."""
        with self.catalog.transaction() as s:
            events = s.execute(
                select(CustodyEventRow.seq, CustodyEventRow.recording_id)
                .where(CustodyEventRow.seq > cursor, CustodyEventRow.action == EventKind.PROBED.value)
                .order_by(CustodyEventRow.seq)
                .limit(limit)
            ).all()
            if not events:
                last = s.scalar(select(func.max(CustodyEventRow.seq))) or cursor
                return [], int(last)
            ids = [rid for _, rid in events if rid]
            media = recordings_by_ids(s, ids, media_only=True)
            return media, int(events[-1][0])

    def cursor(self, name: str) -> int:
        with self.catalog.transaction() as s:
            row = s.get(SweepMarkRow, name)
            return int(row.seq or 0) if row is not None else 0

    def set_cursor(self, name: str, seq: int) -> None:
        with self.catalog.transaction() as s:
            row = s.get(SweepMarkRow, name)
            if row is None:
                s.add(SweepMarkRow(name=name, seq=seq))
            else:
                row.seq = seq
