"""Enforcement actions: imports (each version kept, each change a custody event) and queries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select

from recorder_sync.adapters.db.repository import NewEvent
from recorder_sync.adapters.db.rows import (
    EVENT_RUN,
    CatalogBound,
    action_from_row,
    chunks,
    lock_case_book,
)
from recorder_sync.adapters.db.schema import (
    ActionHistoryRow,
    ActionOfficerRow,
    ActionRow,
    LinkRow,
    RecordingRow,
)
from recorder_sync.domain.cases import Action, ActionQuery, ImportOutcome
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.subjects import (
    action_subject,
)
from recorder_sync.domain.times import utc_iso


class ActionRepo(CatalogBound):
    """Implements ``ActionStore``."""

    def upsert_actions(
        self, actions: Sequence[Action], now: datetime, source: str, actor: str
    ) -> ImportOutcome:
        """All or nothing: one transaction. Unchanged actions write nothing."""
        added: list[str] = []
        changed: list[str] = []
        unchanged = 0
        events: list[NewEvent] = []
        with self.catalog.transaction() as s:
            lock_case_book(s)
            existing: dict[str, ActionRow] = {}
            for batch in chunks([a.action_id for a in actions]):
                existing.update(
                    (r.action_id, r)
                    for r in s.scalars(select(ActionRow).where(ActionRow.action_id.in_(batch)))
                )
            for action in actions:
                record = action.as_record()
                row = existing.get(action.action_id)
                if row is not None and action_from_row(row) == action:
                    unchanged += 1
                    continue
                if row is None:
                    row = ActionRow(action_id=action.action_id, version=1, imported_at=now)
                    s.add(row)
                    added.append(action.action_id)
                    before = None
                else:
                    before = action_from_row(row).as_record()
                    row.version += 1
                    changed.append(action.action_id)
                    s.execute(delete(ActionOfficerRow).where(ActionOfficerRow.action_id == action.action_id))
                row.case_id = action.case_id
                row.action_type = action.action_type
                row.unit = action.unit
                row.officers_json = json.dumps(list(action.officers))
                row.start, row.end = action.start, action.end
                row.target_id, row.target_name, row.place = action.target_id, action.target_name, action.place
                row.updated_at = now
                s.flush()
                s.add_all(ActionOfficerRow(action_id=action.action_id, officer=o) for o in action.officers)
                s.add(
                    ActionHistoryRow(
                        action_id=action.action_id,
                        version=row.version,
                        record_json=json.dumps(record, ensure_ascii=False, sort_keys=True),
                        source=source,
                        actor=actor,
                        at=now,
                    )
                )
                details: dict[str, Any] = {"version": row.version, "record": record, "source": source}
                if before is not None:
                    details["changed"] = sorted(k for k in record if record[k] != before.get(k))
                events.append(
                    NewEvent(
                        EventKind.ACTION_IMPORTED,
                        subject=action_subject(action.action_id),
                        details=details,
                        actor=actor,
                    )
                )
                if len(events) == EVENT_RUN:
                    self.catalog.append_events(s, now, events)
                    events.clear()
            self.catalog.append_events(s, now, events)
        return ImportOutcome(tuple(added), tuple(changed), unchanged)

    def actions(self, query: ActionQuery) -> list[Action]:
        with self.catalog.transaction() as s:
            q = select(ActionRow).order_by(ActionRow.start, ActionRow.action_id)
            if query.case_id:
                q = q.where(ActionRow.case_id == query.case_id)
            if query.action_id:
                q = q.where(ActionRow.action_id == query.action_id)
            if query.officer:
                q = q.where(
                    ActionRow.action_id.in_(
                        select(ActionOfficerRow.action_id).where(ActionOfficerRow.officer == query.officer)
                    )
                )
            if query.target:
                q = q.where(or_(ActionRow.target_id == query.target, ActionRow.target_name == query.target))
            if query.device:
                q = q.where(
                    ActionRow.action_id.in_(
                        select(LinkRow.action_id)
                        .join(RecordingRow, RecordingRow.id == LinkRow.recording_id)
                        .where(RecordingRow.device == query.device, LinkRow.removed_at.is_(None))
                    )
                )
            return [action_from_row(r) for r in s.scalars(q)]

    def action_history(self, action_id: str) -> list[dict[str, Any]]:
        with self.catalog.transaction() as s:
            rows = s.scalars(
                select(ActionHistoryRow)
                .where(ActionHistoryRow.action_id == action_id)
                .order_by(ActionHistoryRow.version)
            ).all()
            return [
                {
                    "version": r.version,
                    "at": utc_iso(r.at),
                    "source": r.source,
                    "actor": r.actor,
                    "record": json.loads(r.record_json),
                }
                for r in rows
            ]

    def actions_overlapping(self, lo: datetime, hi: datetime) -> list[Action]:
        with self.catalog.transaction() as s:
            q = select(ActionRow).where(ActionRow.end >= lo, ActionRow.start <= hi)
            return [action_from_row(r) for r in s.scalars(q)]
