"""What ``recorder-replay`` reads from the catalog: recordings by case, action, target,
officer, device and time, with their clock correction, links and open flags."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from recorder_sync.adapters.db.cases_repo import ActionRepo
from recorder_sync.adapters.db.ledger_repo import LedgerRepo
from recorder_sync.adapters.db.repository import _recording as recording_from_row
from recorder_sync.adapters.db.rows import OPEN_STATES, actions_by_ids, chunks, clock_evidence
from recorder_sync.adapters.db.schema import ActionRow, CustodyEventRow, FlagRow, LinkRow, RecordingRow
from recorder_sync.domain.access_report import ACCESS_KINDS
from recorder_sync.domain.cases import Action
from recorder_sync.domain.custody import CustodyEvent, EventKind
from recorder_sync.domain.replay import FindQuery, FoundRecording, LinkShown


class ReplayRepo(ActionRepo, LedgerRepo):
    """Implements ``domain.ports.ReplayLibrary`` (actions and the ledger for timelines)."""

    def find(self, query: FindQuery) -> list[FoundRecording]:
        with self.catalog.transaction() as s:
            q = select(RecordingRow).order_by(
                RecordingRow.start.is_(None), RecordingRow.start, RecordingRow.id
            )
            if query.case_id or query.action_id or query.target:
                actions = select(ActionRow.action_id)
                if query.case_id:
                    actions = actions.where(ActionRow.case_id == query.case_id)
                if query.action_id:
                    actions = actions.where(ActionRow.action_id == query.action_id)
                if query.target:
                    actions = actions.where(
                        or_(ActionRow.target_id == query.target, ActionRow.target_name == query.target)
                    )
                linked = select(LinkRow.recording_id).where(
                    LinkRow.removed_at.is_(None), LinkRow.action_id.in_(actions)
                )
                q = q.where(RecordingRow.id.in_(linked))
            if query.officer:
                q = q.where(RecordingRow.officer == query.officer)
            if query.device:
                q = q.where(RecordingRow.device == query.device)
            rows = list(s.scalars(q))
            evidence = clock_evidence(s, (r.device for r in rows))
            ids = [r.id for r in rows]
            links: dict[str, list[LinkShown]] = defaultdict(list)
            flags: dict[str, list[str]] = defaultdict(list)
            for batch in chunks(ids):
                for rid, aid, confidence in s.execute(
                    select(LinkRow.recording_id, LinkRow.action_id, LinkRow.confidence)
                    .where(LinkRow.recording_id.in_(batch), LinkRow.removed_at.is_(None))
                    .order_by(LinkRow.action_id)
                ):
                    links[rid].append(LinkShown(aid, confidence))
                for flagged, kind in s.execute(
                    select(FlagRow.recording_id, FlagRow.kind)
                    .where(FlagRow.recording_id.in_(batch), FlagRow.state.in_(OPEN_STATES))
                    .order_by(FlagRow.id)
                ):
                    flags[str(flagged)].append(kind)
            found = []
            for row in rows:
                facts = evidence.facts(
                    row.id, row.device, row.officer, row.start, row.end, row.verified_at, row.ingested_at
                )
                if query.in_window(facts.window):
                    kinds = tuple(dict.fromkeys(flags[row.id]))  # one per kind, first raised first
                    found.append(FoundRecording(recording_from_row(row), facts, tuple(links[row.id]), kinds))
            return found

    def signed_at(self, recording_id: str) -> datetime | None:
        """When the station signed the recording's manifest (its ``signed`` custody event)."""
        with self.catalog.transaction() as s:
            return s.scalar(
                select(CustodyEventRow.at)
                .where(
                    CustodyEventRow.recording_id == recording_id,
                    CustodyEventRow.action == EventKind.SIGNED.value,
                )
                .order_by(CustodyEventRow.seq.desc())
                .limit(1)
            )

    def access_events(self, since: datetime | None, until: datetime | None) -> list[dict[str, Any]]:
        """The fields of every access and export event (and their outcome events), and of every
        refused attempt, in the period."""
        with self.catalog.transaction() as s:
            q = (
                select(CustodyEventRow)
                .where(CustodyEventRow.action.in_([*ACCESS_KINDS, EventKind.ACCESS_REFUSED.value]))
                .order_by(CustodyEventRow.seq)
            )
            if since is not None:
                q = q.where(CustodyEventRow.at >= since)
            if until is not None:
                q = q.where(CustodyEventRow.at <= until)
            return [CustodyEvent(r.seq, r.body, r.leaf_hash).fields for r in s.scalars(q)]

    def linked_actions(self, recording_ids: Sequence[str]) -> tuple[dict[str, list[str]], dict[str, Action]]:
        """For each recording, the actions it is linked to now, and those actions."""
        linked: dict[str, list[str]] = defaultdict(list)
        with self.catalog.transaction() as s:
            for batch in chunks(sorted(set(recording_ids))):
                for rid, aid in s.execute(
                    select(LinkRow.recording_id, LinkRow.action_id)
                    .where(LinkRow.recording_id.in_(batch), LinkRow.removed_at.is_(None))
                    .order_by(LinkRow.action_id)
                ):
                    linked[rid].append(aid)
            actions = actions_by_ids(s, {a for aids in linked.values() for a in aids})
        return dict(linked), {a.action_id: a for a in actions}
