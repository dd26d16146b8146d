"""Actions, the checkout ledger, links, dockings and the deadline engine's flags.

Shares the catalog's engine and custody chain: every change (an action added or
changed by an import, a ledger line, a link or unlink, a flag raised, updated or
resolved) is a custody event written in the same transaction as the change.

Incremental sweeps.  A sweep loads only what can have changed since the last one
(``sweep_marks['sweep']``): the custody events after the last sweep's log position
name the actions, recordings and checkouts touched by imports, links and
verifications; index range scans find what crossed a time threshold between the
last sweep's ``now`` and this one; the open engine flags name what may resolve.
A sweep whose ``now`` is earlier than the last one, or whose policy changed, is full.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from recorder_sync.adapters.db.repository import Catalog, flag_from_row
from recorder_sync.adapters.db.schema import (
    ActionHistoryRow,
    ActionOfficerRow,
    ActionRow,
    CheckoutRow,
    CustodyEventRow,
    DockingRow,
    FlagRow,
    LinkRow,
    RecordingRow,
    ReportActionRow,
    ReportRecordingRow,
    ReportTallyRow,
    SweepMarkRow,
)
from recorder_sync.domain.canonical import parse
from recorder_sync.domain.cases import Action, Checkout, parse_time
from recorder_sync.domain.custody import Action as Ev
from recorder_sync.domain.deadlines import (
    ENGINE_KINDS,
    UPLOAD_KINDS,
    FlagKind,
    FlagSpec,
    action_subject,
    case_subject,
    checkout_subject,
    compact_time,
    parse_subject,
    recording_subject,
    resolution_state,
    severity_rank,
    verified_late,
)
from recorder_sync.domain.errors import NotFound, UsageError
from recorder_sync.domain.linking import Confidence, LinkProposal, RecordingFacts
from recorder_sync.domain.model import Flag, FlagState, Severity
from recorder_sync.domain.policy import DeadlineSettings
from recorder_sync.domain.ports import (
    ActionQuery,
    ImportOutcome,
    StoredLink,
    SweepInputs,
    SweepLimits,
)
from recorder_sync.domain.reports import (
    ActionContribution,
    Contribution,
    GroupTally,
    ReportAggregates,
    Signature,
    action_contribution,
    contribution,
    merge_tallies,
    tally,
)

ENGINE = "deadline engine"
# Automatic linking looks at footage (video, audio, photo); other files (sidecars, logs)
# are kept as evidence and can be linked by hand.
_OTHER = "other"
_OPEN = (FlagState.OPEN.value, FlagState.ACKNOWLEDGED.value)
_COUNTED = ("auto", "manual", "confirmed")
_CHUNK = 500  # bound on IN (...) lists
# A camera clock this far off the station clock (or drifting this much between dockings)
# makes decisions to the second unsafe: flags say so.
UNCERTAIN_CLOCK = timedelta(seconds=60)


def _chunks(items: Iterable[str], size: int = _CHUNK) -> Iterable[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _action(row: Any) -> Action:
    # an ORM row or a Core row of the actions table (bulk reads skip the ORM)
    return Action(
        case_id=row.case_id,
        action_id=row.action_id,
        action_type=row.action_type,
        unit=row.unit,
        officers=tuple(json.loads(row.officers_json)),
        start=row.start,
        end=row.end,
        target_id=row.target_id,
        target_name=row.target_name,
        place=row.place,
    )


def _checkout(row: Any) -> Checkout:
    return Checkout(row.device, row.officer, row.start, row.end)


def _link(row: LinkRow) -> StoredLink:
    return StoredLink(
        recording_id=row.recording_id,
        action_id=row.action_id,
        basis=row.basis,
        confidence=row.confidence,
        officer=row.officer,
        created_by=row.created_by,
        reason=row.reason,
        created_at=row.created_at,
        removed_at=row.removed_at,
        removed_by=row.removed_by,
        removed_reason=row.removed_reason,
    )


_REC_COLUMNS = (
    RecordingRow.id,
    RecordingRow.device,
    RecordingRow.officer,
    RecordingRow.start,
    RecordingRow.end,
    RecordingRow.verified_at,
    RecordingRow.ingested_at,
)


_ACTIONS = ActionRow.__table__


def _core(s: Session, query: Any) -> Sequence[Any]:
    """Rows through SQLAlchemy Core: a bulk read of plain columns needs no ORM identity map,
    and skipping it is most of the cost of loading a million rows."""
    return s.connection().execute(query).all()


_REPORT = "report"  # the sweep mark of the report tallies


def _log_end(s: Session) -> int:
    """The custody log's last position."""
    return int(s.scalar(select(func.max(CustodyEventRow.seq))) or 0)


def _named_by(subjects: Iterable[str]) -> tuple[set[str], set[str], set[str], set[tuple[str, str]]]:
    """The recordings, actions, cases and checkouts (device, compact start) flag subjects name."""
    recordings: set[str] = set()
    actions: set[str] = set()
    cases: set[str] = set()
    checkouts: set[tuple[str, str]] = set()
    for subject in subjects:
        parts = parse_subject(subject)
        if parts[0] == "recording" and len(parts) == 2:
            recordings.add(parts[1])
        elif parts[0] == "action" and len(parts) >= 2:
            actions.add(parts[1])
        elif parts[0] == "case" and len(parts) == 2:
            cases.add(parts[1])
        elif parts[0] == "device" and len(parts) == 4:
            checkouts.add((parts[1], parts[3]))
    return recordings, actions, cases, checkouts


_FLAG_COLUMNS = (FlagRow.kind, FlagRow.state, FlagRow.subject, FlagRow.due)


def _flag_period(since: datetime | None, until: datetime | None) -> list[Any]:
    """The engine's flags a report of the period may count (dated by what they are about)."""
    where: list[Any] = [FlagRow.kind.in_(sorted(ENGINE_KINDS))]
    if since is not None:
        where.append(or_(FlagRow.due.is_(None), FlagRow.due >= since - timedelta(days=40)))
    if until is not None:
        where.append(or_(FlagRow.due.is_(None), FlagRow.due < until + timedelta(days=40)))
    return where


@dataclass(frozen=True)
class _Cut:
    """What the report tallies are cut with: a change means rebuilding them."""

    zone: tzinfo
    deadline: timedelta
    full_types: frozenset[str]

    @property
    def fingerprint(self) -> str:
        return f"{self.zone}|{self.deadline.total_seconds():g}|{','.join(sorted(self.full_types))}"

    def action(self, action: Action) -> ActionContribution:
        return action_contribution(action, action.action_type in self.full_types, self.zone)


def _action_row(a: ActionContribution) -> dict[str, Any]:
    return {
        "action_id": a.action_id,
        "month": a.month,
        "officers_json": json.dumps(list(a.officers), ensure_ascii=False),
        "unit": a.unit,
        "action_type": a.action_type,
        "full": a.full,
    }


def _action_contribution(row: Any) -> ActionContribution:
    officers = tuple(json.loads(row.officers_json))
    return ActionContribution(row.action_id, row.month, officers, row.unit, row.action_type, bool(row.full))


def _batches(rows: list[dict[str, Any]], size: int = 5000) -> Iterable[list[dict[str, Any]]]:
    return (rows[i : i + size] for i in range(0, len(rows), size))


def _contribution_row(c: Contribution) -> dict[str, Any]:
    return {
        "recording_id": c.recording_id,
        "month": c.month,
        "officer": c.officer,
        "units_json": json.dumps(list(c.units), ensure_ascii=False),
        "types_json": json.dumps(list(c.types), ensure_ascii=False),
        "delay_us": c.delay_us,
    }


def _contribution(row: Any) -> Contribution:
    return Contribution(
        row.recording_id,
        row.month,
        row.officer,
        tuple(json.loads(row.units_json)),
        tuple(json.loads(row.types_json)),
        int(row.delay_us),
    )


def _tally_row(t: GroupTally) -> dict[str, Any]:
    return {
        "month": t.month,
        "dimension": t.dimension,
        "key": t.key,
        "recordings": t.recordings,
        "within": t.within,
        "late_verified": t.late_verified,
        "worst_us": t.worst_us,
        "histogram_json": json.dumps(t.histogram),  # flat: quick to parse
        "actions": t.actions,
        "full_actions": t.full_actions,
    }


def _tally(row: Any) -> GroupTally:
    worst = None if row.worst_us is None else int(row.worst_us)
    return GroupTally(
        row.month,
        row.dimension,
        row.key,
        row.recordings,
        row.within,
        row.late_verified,
        worst,
        json.loads(row.histogram_json),
        row.actions,
        row.full_actions,
    )


class _Clocks:
    """Clock evidence per device: (docked_at, offset) sorted by docking time."""

    def __init__(self, rows: Iterable[tuple[str, datetime, int]]) -> None:
        self.by_device: dict[str, list[tuple[datetime, timedelta]]] = defaultdict(list)
        for device, at, offset_ms in rows:
            self.by_device[device].append((at, timedelta(milliseconds=offset_ms)))
        for items in self.by_device.values():
            items.sort()

    def facts(self, row: Any) -> RecordingFacts:
        rid, device, officer, start, end, verified, ingested = row
        if not self.by_device:  # no camera exposed its clock: the common case, kept cheap
            return RecordingFacts(rid, device, officer, start, end, verified, ingested_at=ingested)
        offset: timedelta | None = None
        uncertain = False
        evidence = self.by_device.get(device) if device else None
        if evidence:
            # the docking that brought the recording in: the last one at or before it was seen
            before = [item for item in evidence if item[0] <= ingested + timedelta(minutes=5)]
            if before:
                offset = before[-1][1]
                offsets = [o for _, o in evidence]
                uncertain = abs(offset) > UNCERTAIN_CLOCK or (max(offsets) - min(offsets)) > UNCERTAIN_CLOCK
        return RecordingFacts(
            id=rid,
            device=device,
            officer=officer,
            start=start,
            end=end,
            stored_verified_at=verified,
            clock_uncertain=uncertain,
            clock_offset=offset,
            ingested_at=ingested,
        )


class CaseBook:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.engine = catalog.engine

    # --- helpers ----------------------------------------------------------------

    def _clocks(self, s: Session, devices: Iterable[str | None]) -> _Clocks:
        wanted = sorted({d for d in devices if d})
        rows: list[tuple[str, datetime, int]] = []
        for batch in _chunks(wanted):
            rows.extend(
                (r[0], r[1], int(r[2] or 0))
                for r in s.execute(
                    select(DockingRow.device, DockingRow.docked_at, DockingRow.clock_offset_ms).where(
                        DockingRow.device.in_(batch), DockingRow.clock_offset_ms.is_not(None)
                    )
                )
            )
        return _Clocks(rows)

    def _facts(self, s: Session, rows: Sequence[Any]) -> list[RecordingFacts]:
        clocks = self._clocks(s, (r[1] for r in rows))
        return [clocks.facts(r) for r in rows]

    def _recordings(self, s: Session, ids: Iterable[str], media_only: bool = False) -> list[RecordingFacts]:
        rows: list[Any] = []
        q = select(*_REC_COLUMNS)
        if media_only:
            q = q.where(RecordingRow.kind != _OTHER)
        for batch in _chunks(sorted(set(ids))):
            rows.extend(_core(s, q.where(RecordingRow.id.in_(batch))))
        return self._facts(s, rows)

    def _actions_by_ids(self, s: Session, ids: Iterable[str]) -> list[Action]:
        out: list[Action] = []
        for batch in _chunks(sorted(set(ids))):
            out.extend(_action(r) for r in _core(s, select(_ACTIONS).where(_ACTIONS.c.action_id.in_(batch))))
        return out

    # --- imports ------------------------------------------------------------------

    def upsert_actions(
        self, actions: Sequence[Action], now: datetime, source: str, actor: str
    ) -> ImportOutcome:
        """All or nothing: one transaction. Unchanged actions write nothing."""
        added: list[str] = []
        changed: list[str] = []
        unchanged = 0
        with self.catalog.transaction() as s:
            existing: dict[str, ActionRow] = {}
            for batch in _chunks([a.action_id for a in actions]):
                existing.update(
                    (r.action_id, r)
                    for r in s.scalars(select(ActionRow).where(ActionRow.action_id.in_(batch)))
                )
            for action in actions:
                record = action.as_record()
                row = existing.get(action.action_id)
                if row is not None and _action(row) == action:
                    unchanged += 1
                    continue
                if row is None:
                    row = ActionRow(action_id=action.action_id, version=1, imported_at=now)
                    s.add(row)
                    added.append(action.action_id)
                    before = None
                else:
                    before = _action(row).as_record()
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
                self.catalog.append_event(
                    s,
                    Ev.ACTION_IMPORTED,
                    now,
                    subject=action_subject(action.action_id),
                    details=details,
                    actor=actor,
                )
        return ImportOutcome(tuple(added), tuple(changed), unchanged)

    def upsert_checkouts(
        self, checkouts: Sequence[Checkout], now: datetime, source: str, actor: str
    ) -> ImportOutcome:
        added: list[str] = []
        changed: list[str] = []
        unchanged = 0
        with self.catalog.transaction() as s:
            for checkout in checkouts:
                subject = checkout_subject(checkout.device, checkout.start)
                row = s.scalar(
                    select(CheckoutRow).where(
                        CheckoutRow.device == checkout.device, CheckoutRow.start == checkout.start
                    )
                )
                if row is not None and _checkout(row) == checkout:
                    unchanged += 1
                    continue
                if row is None:
                    row = CheckoutRow(device=checkout.device, start=checkout.start, imported_at=now)
                    s.add(row)
                    added.append(subject)
                else:
                    changed.append(subject)
                row.officer, row.end, row.updated_at = checkout.officer, checkout.end, now
                s.flush()
                self.catalog.append_event(
                    s,
                    Ev.CHECKOUT_IMPORTED,
                    now,
                    subject=subject,
                    details={"record": checkout.as_record(), "source": source},
                    actor=actor,
                )
        return ImportOutcome(tuple(added), tuple(changed), unchanged)

    def record_docking(
        self, device: str, dock: str, docked_at: datetime, camera_time: datetime | None, source: str
    ) -> None:
        """Once per (device, docked_at): reading the same time file again records nothing."""
        offset = None if camera_time is None else round((camera_time - docked_at).total_seconds() * 1000)
        with self.catalog.transaction() as s:
            seen = s.scalar(
                select(DockingRow.id).where(DockingRow.device == device, DockingRow.docked_at == docked_at)
            )
            if seen is not None:
                return
            s.add(
                DockingRow(
                    device=device,
                    dock=dock,
                    docked_at=docked_at,
                    camera_time=camera_time,
                    clock_offset_ms=offset,
                    source=source,
                )
            )
            details: dict[str, Any] = {"device": device, "source": source}
            if camera_time is not None:
                details["camera_time"] = camera_time.isoformat()
                details["clock_offset_ms"] = offset
            self.catalog.append_event(s, Ev.DOCKED, docked_at, subject=f"device:{device}", details=details)

    # --- queries --------------------------------------------------------------------

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
            return [_action(r) for r in s.scalars(q)]

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
                    "at": r.at.isoformat(),
                    "source": r.source,
                    "actor": r.actor,
                    "record": json.loads(r.record_json),
                }
                for r in rows
            ]

    def checkouts(self, device: str | None = None, officer: str | None = None) -> list[Checkout]:
        with self.catalog.transaction() as s:
            q = select(CheckoutRow).order_by(CheckoutRow.start, CheckoutRow.device)
            if device:
                q = q.where(CheckoutRow.device == device)
            if officer:
                q = q.where(CheckoutRow.officer == officer)
            return [_checkout(r) for r in s.scalars(q)]

    def actions_overlapping(self, lo: datetime, hi: datetime) -> list[Action]:
        with self.catalog.transaction() as s:
            q = select(ActionRow).where(ActionRow.end >= lo, ActionRow.start <= hi)
            return [_action(r) for r in s.scalars(q)]

    def checkouts_overlapping(self, lo: datetime, hi: datetime) -> list[Checkout]:
        with self.catalog.transaction() as s:
            q = select(CheckoutRow).where(
                or_(CheckoutRow.end.is_(None), CheckoutRow.end >= lo), CheckoutRow.start <= hi
            )
            return [_checkout(r) for r in s.scalars(q)]

    def recordings_overlapping(self, lo: datetime, hi: datetime) -> list[RecordingFacts]:
        # Clock offsets are small next to the margins callers add; the proposal itself
        # uses the corrected times.
        with self.catalog.transaction() as s:
            rows = _core(
                s,
                select(*_REC_COLUMNS).where(
                    RecordingRow.end >= lo, RecordingRow.start <= hi, RecordingRow.kind != _OTHER
                ),
            )
            return self._facts(s, rows)

    def recordings_probed_since(self, cursor: int, limit: int) -> tuple[list[RecordingFacts], int]:
        """Recordings whose metadata was recorded after custody position ``cursor``."""
        with self.catalog.transaction() as s:
            events = s.execute(
                select(CustodyEventRow.seq, CustodyEventRow.recording_id)
                .where(CustodyEventRow.seq > cursor, CustodyEventRow.action == Ev.PROBED.value)
                .order_by(CustodyEventRow.seq)
                .limit(limit)
            ).all()
            if not events:
                last = s.scalar(select(func.max(CustodyEventRow.seq))) or cursor
                return [], int(last)
            ids = [rid for _, rid in events if rid]
            media = self._recordings(s, ids, media_only=True)
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

    # --- links --------------------------------------------------------------------

    def apply_proposals(self, proposals: Sequence[LinkProposal], now: datetime) -> list[StoredLink]:
        """Store new proposals; a pair already linked (or unlinked by a person) is left
        alone, except that a suggestion the evidence now supports outright becomes auto."""
        made: list[StoredLink] = []
        if not proposals:
            return made
        with self.catalog.transaction() as s:
            existing: dict[tuple[str, str], list[LinkRow]] = defaultdict(list)
            for batch in _chunks(sorted({p.recording_id for p in proposals})):
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
                        self._link_event(s, Ev.LINKED, row, now, "auto-link", p.reason, upgraded=True)
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
                self._link_event(s, Ev.LINKED, row, now, "auto-link", p.reason)
                made.append(_link(row))
        return made

    def _link_event(
        self, s: Session, ev: Ev, row: LinkRow, now: datetime, by: str, reason: str, upgraded: bool = False
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
        if not by.strip() or not reason.strip():
            raise UsageError("a manual link needs who (--by) and why (--reason)")
        with self.catalog.transaction() as s:
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
                return _link(row)
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
            self._link_event(s, Ev.LINKED, row, now, by, reason)
            return _link(row)

    def unlink(self, recording_id: str, action_id: str, by: str, reason: str, now: datetime) -> int:
        if not by.strip() or not reason.strip():
            raise UsageError("an unlink needs who (--by) and why (--reason)")
        with self.catalog.transaction() as s:
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
                self._link_event(s, Ev.UNLINKED, row, now, by, reason)
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
                return [_link(r) for r in s.scalars(base)]
            out: list[StoredLink] = []
            for batch in _chunks(recording_ids or []):
                out.extend(_link(r) for r in s.scalars(base.where(LinkRow.recording_id.in_(batch))))
            for batch in _chunks(action_ids or []):
                out.extend(_link(r) for r in s.scalars(base.where(LinkRow.action_id.in_(batch))))
            return out

    def _counted_pairs(
        self, s: Session, *, action_ids: Iterable[str] = (), recording_ids: Iterable[str] = ()
    ) -> set[tuple[str, str]]:
        pairs: set[tuple[str, str]] = set()
        q = select(LinkRow.recording_id, LinkRow.action_id).where(
            LinkRow.removed_at.is_(None), LinkRow.confidence.in_(_COUNTED)
        )
        for batch in _chunks(sorted(set(action_ids))):
            pairs.update((r, a) for r, a in _core(s, q.where(LinkRow.action_id.in_(batch))))
        for batch in _chunks(sorted(set(recording_ids))):
            pairs.update((r, a) for r, a in _core(s, q.where(LinkRow.recording_id.in_(batch))))
        return pairs

    # --- deadline sweep ---------------------------------------------------------------

    def sweep_inputs(self, now: datetime, limits: SweepLimits, *, full: bool = False) -> SweepInputs:
        with self.catalog.transaction() as s:
            mark = s.get(SweepMarkRow, "sweep")
            cursor = _log_end(s)
            full = full or mark is None or mark.at is None or mark.at > now or mark.text != limits.fingerprint
            open_rows = s.scalars(
                select(FlagRow).where(FlagRow.state.in_(_OPEN), FlagRow.kind.in_(sorted(ENGINE_KINDS)))
            ).all()
            action_ids: set[str] = set()
            case_ids: set[str] = set()
            changed_recordings: set[str] = set()
            checkout_keys: set[tuple[str, str]] = set()  # (device, compact start)
            all_checkouts = False

            # Upload rules: every recording not verified as of now, and those verified since
            # the last sweep (their flags resolve, late arrivals are recorded).
            upload_ids: set[str] = set(
                s.scalars(
                    select(RecordingRow.id).where(
                        or_(RecordingRow.verified_at.is_(None), RecordingRow.verified_at > now)
                    )
                )
            )
            # A full sweep re-examines every open flag.  An incremental one need not: past
            # their thresholds, footage, gap, case-file and docking flags change only when
            # something they depend on changes, and that is in the custody log.
            if full:
                named = _named_by(row.subject for row in open_rows)
                upload_ids |= named[0]
                action_ids |= named[1]
                case_ids |= named[2]
                checkout_keys |= named[3]
                action_ids.update(
                    s.scalars(select(ActionRow.action_id).where(ActionRow.end <= now - limits.min_grace))
                )
                all_checkouts = True
                # Late arrivals no sweep has flagged: a first sweep after a one-shot ingest
                # finds footage that was verified after its deadline before any sweep ran.
                flagged = select(FlagRow.recording_id).where(
                    FlagRow.kind == FlagKind.UPLOAD_LATE.value, FlagRow.recording_id.is_not(None)
                )
                unflagged = select(*_REC_COLUMNS).where(
                    RecordingRow.verified_at <= now, RecordingRow.id.not_in(flagged)
                )
                upload_ids.update(
                    r.id
                    for r in self._facts(s, _core(s, unflagged))
                    if verified_late(r, limits.upload_deadline)
                )
            else:
                last: datetime = mark.at  # type: ignore[union-attr, assignment]
                since = int(mark.seq or 0)  # type: ignore[union-attr]

                def ended_between(lo: datetime, hi: datetime) -> None:
                    if hi > lo:
                        action_ids.update(
                            s.scalars(
                                select(ActionRow.action_id).where(ActionRow.end > lo, ActionRow.end <= hi)
                            )
                        )

                ended_between(last - limits.max_grace, now - limits.min_grace)
                # verified between the two sweeps' times: when the last one ran as of a time
                # before the verification, the custody event was already behind its mark
                if now > last:
                    changed_recordings.update(
                        s.scalars(
                            select(RecordingRow.id).where(
                                RecordingRow.verified_at > last, RecordingRow.verified_at <= now
                            )
                        )
                    )
                ended_between(last - limits.case_file_period, now - limits.case_file_period)
                for device, start in s.execute(
                    select(CheckoutRow.device, CheckoutRow.start).where(
                        CheckoutRow.end > last - limits.undocked_after,
                        CheckoutRow.end <= now - limits.undocked_after,
                    )
                ):
                    checkout_keys.add((device, compact_time(start)))
                self._changes_since(s, since, action_ids, changed_recordings, checkout_keys)
                upload_ids |= changed_recordings

            upload_pairs = self._counted_pairs(s, recording_ids=upload_ids)
            upload_actions = self._actions_by_ids(s, {a for _, a in upload_pairs})
            upload_recordings = self._recordings(s, upload_ids)

            # Footage, gap, docking and case-file rules: the actions in play, whole cases (a
            # case-file flag needs every action of its case), all their linked recordings.
            action_ids.update(a for r, a in upload_pairs if r in changed_recordings)
            for batch in _chunks(sorted(action_ids)):
                case_ids.update(s.scalars(select(ActionRow.case_id).where(ActionRow.action_id.in_(batch))))
            for batch in _chunks(sorted(case_ids)):
                action_ids.update(s.scalars(select(ActionRow.action_id).where(ActionRow.case_id.in_(batch))))
            actions = self._actions_by_ids(s, action_ids)
            action_ids = {a.action_id for a in actions}
            case_ids = {a.case_id for a in actions}
            pairs = self._counted_pairs(s, action_ids=action_ids)
            recordings = self._recordings(s, {r for r, _ in pairs})

            # the ledger: the checkouts due for a docking check, and those of the devices in play
            if all_checkouts:
                checkouts = [_checkout(r) for r in s.scalars(select(CheckoutRow))]
            else:
                devices = sorted({r.device for r in recordings if r.device} | {d for d, _ in checkout_keys})
                rows: list[CheckoutRow] = []
                for batch in _chunks(devices):
                    rows.extend(s.scalars(select(CheckoutRow).where(CheckoutRow.device.in_(batch))))
                checkouts = [_checkout(r) for r in rows]
            docked = self._docked(s, checkouts, now)

            upload_subjects = {recording_subject(r.id) for r in upload_recordings}
            subjects = {case_subject(c) for c in case_ids}
            subjects |= {checkout_subject(c.device, c.start) for c in checkouts}
            subjects |= {action_subject(a) for a in action_ids}
            open_flags: list[Flag] = []
            for row in open_rows:
                if row.kind in UPLOAD_KINDS:
                    about = row.subject in upload_subjects
                else:
                    parts = parse_subject(row.subject)
                    about = row.subject in subjects or (parts[0] == "action" and parts[1] in action_ids)
                if about:
                    open_flags.append(flag_from_row(row))
            late_flagged: set[str] = set()
            verified = sorted(r.id for r in upload_recordings if r.stored_verified_at is not None)
            for batch in _chunks(verified):
                late_flagged.update(
                    rid
                    for rid in s.scalars(
                        select(FlagRow.recording_id).where(
                            FlagRow.kind == FlagKind.UPLOAD_LATE.value, FlagRow.recording_id.in_(batch)
                        )
                    )
                    if rid
                )
            return SweepInputs(
                recordings=recordings,
                actions=actions,
                links=sorted(pairs),
                checkouts=checkouts,
                docked=docked,
                open_flags=open_flags,
                subjects=subjects,
                full=full,
                cursor=cursor,
                late_flagged=frozenset(late_flagged),
                upload_recordings=upload_recordings,
                upload_actions=upload_actions,
                upload_links=sorted(upload_pairs),
                upload_subjects=upload_subjects,
                last_sweep=None if mark is None else mark.at,
            )

    def _changes_since(
        self,
        s: Session,
        since: int,
        action_ids: set[str],
        recording_ids: set[str],
        checkout_keys: set[tuple[str, str]],
    ) -> None:
        """What custody events after ``since`` touched: links, imports, verifications."""
        kinds = [
            Ev.LINKED.value,
            Ev.UNLINKED.value,
            Ev.VERIFIED.value,
            Ev.ACTION_IMPORTED.value,
            Ev.CHECKOUT_IMPORTED.value,
            Ev.DOCKED.value,
            Ev.PROBED.value,  # the device is known from here on: its checkouts may count as docked
        ]
        officers_windows: list[tuple[str, datetime, datetime | None]] = []
        devices: set[str] = set()
        for action, rid, body in s.execute(
            select(CustodyEventRow.action, CustodyEventRow.recording_id, CustodyEventRow.body).where(
                CustodyEventRow.seq > since, CustodyEventRow.action.in_(kinds)
            )
        ):
            if action in (Ev.VERIFIED.value, Ev.PROBED.value):
                if rid:
                    recording_ids.add(rid)
                continue
            fields = parse(body)
            parts = parse_subject(str(fields.get("subject", "")))
            if action in (Ev.LINKED.value, Ev.UNLINKED.value, Ev.ACTION_IMPORTED.value):
                if parts[0] == "action" and len(parts) >= 2:
                    action_ids.add(parts[1])
            elif action == Ev.CHECKOUT_IMPORTED.value and parts[0] == "device" and len(parts) == 4:
                checkout_keys.add((parts[1], parts[3]))
                record = fields.get("details", {}).get("record", {})
                end = parse_time(record["end"]) if record.get("end") else None
                officers_windows.append((str(record.get("officer", "")), parse_time(record["start"]), end))
            elif action == Ev.DOCKED.value and parts[0] == "device":
                devices.add(parts[1])
        # a ledger line changes who made the footage of its officer's actions in its window
        for officer, start, end in officers_windows:
            q = (
                select(ActionRow.action_id)
                .join(ActionOfficerRow, ActionOfficerRow.action_id == ActionRow.action_id)
                .where(ActionOfficerRow.officer == officer, ActionRow.end >= start)
            )
            if end is not None:
                q = q.where(ActionRow.start <= end)
            action_ids.update(s.scalars(q))
        for device in devices:
            for (start,) in s.execute(select(CheckoutRow.start).where(CheckoutRow.device == device)):
                checkout_keys.add((device, compact_time(start)))
        # newly probed or verified recordings: their devices' checkouts may now count as docked
        hashed_devices: set[str] = set()
        for batch in _chunks(sorted(recording_ids)):
            hashed_devices.update(
                d for d in s.scalars(select(RecordingRow.device).where(RecordingRow.id.in_(batch))) if d
            )
        for batch in _chunks(sorted(hashed_devices)):
            for device, start in s.execute(
                select(CheckoutRow.device, CheckoutRow.start).where(CheckoutRow.device.in_(batch))
            ):
                checkout_keys.add((device, compact_time(start)))

    def _docked(self, s: Session, checkouts: Sequence[Checkout], now: datetime) -> dict[str, datetime]:
        """Per device, the last docking at or before ``now`` (recordings seen, or a
        docking recorded with clock evidence)."""
        devices = sorted({c.device for c in checkouts})
        docked: dict[str, datetime] = {}
        for batch in _chunks(devices):
            for device, at in s.execute(
                select(RecordingRow.device, func.max(RecordingRow.ingested_at))
                .where(RecordingRow.device.in_(batch), RecordingRow.ingested_at <= now)
                .group_by(RecordingRow.device)
            ):
                if device is not None and at is not None:
                    docked[device] = at
            for device, at in s.execute(
                select(DockingRow.device, func.max(DockingRow.docked_at))
                .where(DockingRow.device.in_(batch), DockingRow.docked_at <= now)
                .group_by(DockingRow.device)
            ):
                if at is not None and (device not in docked or at > docked[device]):
                    docked[device] = at
        return docked

    def apply_sweep(
        self,
        now: datetime,
        inputs: SweepInputs,
        limits: SweepLimits,
        to_raise: Sequence[FlagSpec],
        to_resolve: Sequence[tuple[str, str]],
        to_update: Sequence[FlagSpec],
        *,
        only_if_latest: bool = False,
    ) -> bool:
        """Write the sweep's changes; ``only_if_latest``: write nothing and return False
        when a sweep as of a later time has been written meanwhile."""
        with self.catalog.transaction() as s:
            self._lock_sweep(s)
            if only_if_latest:
                last = s.get(SweepMarkRow, "sweep")
                if last is not None and last.at is not None and last.at > now:
                    return False
            for spec in to_raise:
                if spec.kind is FlagKind.UPLOAD_LATE and s.scalar(
                    select(FlagRow.id).where(
                        FlagRow.kind == spec.kind.value,
                        FlagRow.subject == spec.subject,
                        FlagRow.state == FlagState.RESOLVED_LATE.value,
                    )
                ):
                    continue  # a sweep that loaded at the same time recorded this late arrival
                self.catalog.flag_in(s, spec.to_flag(now), now)
                if spec.action_id or spec.case_id:
                    s.execute(
                        update(FlagRow)
                        .where(
                            FlagRow.kind == spec.kind.value,
                            FlagRow.subject == spec.subject,
                            FlagRow.state.in_(_OPEN),
                        )
                        .values(action_id=spec.action_id, case_id=spec.case_id)
                    )
            for kind, subject in to_resolve:
                state = resolution_state(kind)
                for row in s.scalars(
                    select(FlagRow).where(
                        FlagRow.kind == kind, FlagRow.subject == subject, FlagRow.state.in_(_OPEN)
                    )
                ):
                    reason = (
                        "the recording was stored and verified after its deadline"
                        if state is FlagState.RESOLVED_LATE
                        else "the condition no longer holds"
                    )
                    row.state, row.resolved_at, row.resolved_by = state.value, now, ENGINE
                    row.reason, row.updated_at = reason, now
                    self.catalog.append_event(
                        s,
                        Ev.FLAG_RESOLVED,
                        now,
                        recording_id=row.recording_id,
                        subject=subject,
                        details={"kind": kind, "flag_id": row.id, "state": state.value},
                        reason=reason,
                        actor=ENGINE,
                    )
            for spec in to_update:
                for row in s.scalars(
                    select(FlagRow).where(
                        FlagRow.kind == spec.kind.value,
                        FlagRow.subject == spec.subject,
                        FlagRow.state.in_(_OPEN),
                    )
                ):
                    escalated = severity_rank(spec.severity) > severity_rank(Severity(row.severity))
                    row.severity, row.detail, row.due, row.updated_at = (
                        spec.severity.value,
                        spec.detail,
                        spec.due,
                        now,
                    )
                    self.catalog.append_event(
                        s,
                        Ev.FLAG_UPDATED,
                        now,
                        recording_id=row.recording_id,
                        subject=spec.subject,
                        details={
                            "kind": spec.kind.value,
                            "flag_id": row.id,
                            "severity": spec.severity.value,
                            "escalated": escalated,
                            "detail": spec.detail,
                        },
                        actor=ENGINE,
                    )
            mark = s.get(SweepMarkRow, "sweep")
            if mark is None:
                mark = SweepMarkRow(name="sweep")
                s.add(mark)
            # From the log position read before loading: what other processes wrote while
            # this sweep ran is read by the next one (the events this one wrote are of kinds
            # the next one ignores).
            mark.at, mark.text, mark.seq = now, limits.fingerprint, inputs.cursor
            cut = _Cut(limits.report_tz, limits.upload_deadline, limits.report_full_types)
            self._update_report(s, now, cut, inputs.full)
        return True

    def last_sweep(self) -> datetime | None:
        with self.catalog.transaction() as s:
            mark = s.get(SweepMarkRow, "sweep")
            return None if mark is None else mark.at

    # --- report tallies ---------------------------------------------------------------
    #
    # A stored and verified recording's part in the report is final until its links, its
    # actions' unit or type, or its camera clock evidence change; an action's until it is
    # imported again.  ``report_recordings`` and ``report_actions`` keep each one's
    # contribution, ``report_tallies`` their sums per month and group.  The sweep brings
    # them up to date (rebuilt when it is full); ``sweep_marks['report']`` holds the time
    # they are valid as of (``at``), the custody position read up to (``seq``) and what
    # they were cut with (``text``: zone, deadline, full-recording action types).

    def _contribute(
        self,
        recordings: Iterable[RecordingFacts],
        pairs: Iterable[tuple[str, str]],
        group_of: dict[str, tuple[str, str]],
        cut: _Cut,
        now: datetime,
    ) -> list[Contribution]:
        aids_of: dict[str, list[str]] = defaultdict(list)
        for rid, aid in pairs:
            if aid in group_of:
                aids_of[rid].append(aid)
        out = (contribution(r, aids_of.get(r.id), group_of, cut.zone, now) for r in recordings)
        return [c for c in out if c is not None]

    def _write_tallies(
        self, s: Session, cut: _Cut, recordings: Iterable[Contribution], actions: Iterable[ActionContribution]
    ) -> None:
        rows = [_tally_row(t) for t in tally(recordings, cut.deadline, actions)]
        for batch in _batches(rows):
            s.execute(insert(ReportTallyRow), batch)

    def _rebuild_report(self, s: Session, now: datetime, cut: _Cut) -> None:
        for table in (ReportRecordingRow, ReportActionRow, ReportTallyRow):
            s.execute(delete(table))
        recordings = self._facts(s, _core(s, select(*_REC_COLUMNS).where(RecordingRow.verified_at <= now)))
        pairs = _core(
            s,
            select(LinkRow.recording_id, LinkRow.action_id).where(
                LinkRow.removed_at.is_(None), LinkRow.confidence.in_(_COUNTED)
            ),
        )
        actions = [cut.action(_action(r)) for r in _core(s, select(_ACTIONS))]
        group_of = {a.action_id: (a.unit, a.action_type) for a in actions}
        contributions = self._contribute(recordings, pairs, group_of, cut, now)
        for batch in _batches([_contribution_row(c) for c in contributions]):
            s.execute(insert(ReportRecordingRow), batch)
        for batch in _batches([_action_row(a) for a in actions]):
            s.execute(insert(ReportActionRow), batch)
        self._write_tallies(s, cut, contributions, actions)

    def _refresh_report(self, s: Session, mark: SweepMarkRow, now: datetime, cut: _Cut) -> None:
        """Bring the tallies from ``mark`` to ``now``: recordings verified between the two
        times, those whose links, actions, metadata or clock evidence changed since, and
        the actions imported since."""
        assert mark.at is not None
        cursor = _log_end(s)
        ids: set[str] = set()
        action_ids: set[str] = set()
        devices: set[str] = set()
        kinds = [Ev.VERIFIED, Ev.PROBED, Ev.LINKED, Ev.UNLINKED, Ev.ACTION_IMPORTED, Ev.DOCKED]
        for action, rid, body in s.execute(
            select(CustodyEventRow.action, CustodyEventRow.recording_id, CustodyEventRow.body).where(
                CustodyEventRow.seq > int(mark.seq or 0), CustodyEventRow.action.in_([k.value for k in kinds])
            )
        ):
            if rid:
                ids.add(rid)
            if action in (Ev.ACTION_IMPORTED.value, Ev.DOCKED.value):
                parts = parse_subject(str(parse(body).get("subject", "")))
                if parts[0] == "action" and len(parts) >= 2:
                    action_ids.add(parts[1])
                elif parts[0] == "device" and len(parts) >= 2:
                    devices.add(parts[1])
        for batch in _chunks(sorted(action_ids)):
            ids.update(s.scalars(select(LinkRow.recording_id).where(LinkRow.action_id.in_(batch))))
        for batch in _chunks(sorted(devices)):
            ids.update(s.scalars(select(RecordingRow.id).where(RecordingRow.device.in_(batch))))
        lo, hi = sorted((mark.at, now))
        ids.update(
            s.scalars(
                select(RecordingRow.id).where(RecordingRow.verified_at > lo, RecordingRow.verified_at <= hi)
            )
        )
        mark.at, mark.seq = now, cursor
        if not ids and not action_ids:
            return
        recordings = self._recordings(s, ids)
        pairs = self._counted_pairs(s, recording_ids=ids)
        group_of = {
            a.action_id: (a.unit, a.action_type) for a in self._actions_by_ids(s, {a for _, a in pairs})
        }
        new = {c.recording_id: c for c in self._contribute(recordings, pairs, group_of, cut, now)}
        old = {
            r.recording_id: _contribution(r)
            for batch in _chunks(sorted(ids))
            for r in _core(s, select(ReportRecordingRow).where(ReportRecordingRow.recording_id.in_(batch)))
        }
        new_actions = {a.action_id: cut.action(a) for a in self._actions_by_ids(s, action_ids)}
        old_actions = {
            r.action_id: _action_contribution(r)
            for batch in _chunks(sorted(action_ids))
            for r in _core(s, select(ReportActionRow).where(ReportActionRow.action_id.in_(batch)))
        }
        changed = sorted(rid for rid in ids if old.get(rid) != new.get(rid))
        changed_actions = sorted(aid for aid in action_ids if old_actions.get(aid) != new_actions.get(aid))
        for batch in _chunks(changed):
            s.execute(delete(ReportRecordingRow).where(ReportRecordingRow.recording_id.in_(batch)))
        for batch in _chunks(changed_actions):
            s.execute(delete(ReportActionRow).where(ReportActionRow.action_id.in_(batch)))
        added = [new[rid] for rid in changed if rid in new]
        added_actions = [new_actions[aid] for aid in changed_actions if aid in new_actions]
        for rows in _batches([_contribution_row(c) for c in added]):
            s.execute(insert(ReportRecordingRow), rows)
        for rows in _batches([_action_row(a) for a in added_actions]):
            s.execute(insert(ReportActionRow), rows)
        # A contribution taken out may have been a group's worst delay: the months it was in
        # are tallied again from their contributions.  New ones are added to the tallies.
        months = sorted(
            {old[rid].month for rid in changed if rid in old}
            | {old_actions[aid].month for aid in changed_actions if aid in old_actions}
        )
        if months:
            s.execute(delete(ReportTallyRow).where(ReportTallyRow.month.in_(months)))
            rq = select(ReportRecordingRow).where(ReportRecordingRow.month.in_(months))
            aq = select(ReportActionRow).where(ReportActionRow.month.in_(months))
            again = [_contribution(r) for r in _core(s, rq)]
            self._write_tallies(s, cut, again, [_action_contribution(r) for r in _core(s, aq)])
        increments = tally(
            [c for c in added if c.month not in months],
            cut.deadline,
            [a for a in added_actions if a.month not in months],
        )
        for part in increments:
            row = s.get(ReportTallyRow, (part.month, part.dimension, part.key))
            if row is None:
                s.add(ReportTallyRow(**_tally_row(part)))
                continue
            for name, value in _tally_row(merge_tallies(_tally(row), part)).items():
                setattr(row, name, value)

    def _update_report(self, s: Session, now: datetime, cut: _Cut, full: bool) -> None:
        """In the sweep's transaction: refresh the tallies, or rebuild them when the sweep is
        full, when there are none yet, or when they were cut otherwise."""
        mark = s.get(SweepMarkRow, _REPORT)
        if full or mark is None or mark.at is None or mark.text != cut.fingerprint:
            cursor = _log_end(s)
            self._rebuild_report(s, now, cut)
            if mark is None:
                mark = SweepMarkRow(name=_REPORT)
                s.add(mark)
            mark.at, mark.text, mark.seq = now, cut.fingerprint, cursor
        else:
            self._refresh_report(s, mark, now, cut)

    def report_aggregates(
        self,
        now: datetime,
        year: int | None,
        since: datetime | None,
        until: datetime | None,
        settings: DeadlineSettings,
        full_types: Collection[str],
    ) -> ReportAggregates | None:
        """The report's inputs from the tallies, brought up to ``now`` first; None when
        there are none cut with these settings yet, or they are newer than ``now`` (the
        caller then computes from the rows)."""
        cut = _Cut(settings.display_tz, settings.upload_deadline, frozenset(full_types))
        with self.catalog.transaction() as s:
            self._lock_sweep(s)
            mark = s.get(SweepMarkRow, _REPORT)
            if mark is None or mark.at is None or mark.text != cut.fingerprint or now < mark.at:
                return None
            self._refresh_report(s, mark, now, cut)
            s.flush()

            tq = select(ReportTallyRow)
            if year is not None:
                tq = tq.where(
                    ReportTallyRow.month >= f"{year:04d}-01", ReportTallyRow.month <= f"{year:04d}-12"
                )
            tallies = [_tally(r) for r in _core(s, tq)]
            rq = select(*_REC_COLUMNS).where(
                or_(RecordingRow.verified_at.is_(None), RecordingRow.verified_at > now)
            )
            if since is not None:
                rq = rq.where(or_(RecordingRow.end >= since, RecordingRow.end.is_(None)))
            if until is not None:
                rq = rq.where(or_(RecordingRow.end < until, RecordingRow.end.is_(None)))
            recordings = self._facts(s, _core(s, rq))
            live = {r.id for r in recordings}
            # plain rows: kind, state, subject and due are all the report reads of a flag
            flags = list(_core(s, select(*_FLAG_COLUMNS).where(*_flag_period(since, until))))
            flagged, action_ids, case_ids, checkout_keys = _named_by(f.subject for f in flags)
            flagged -= live
            devices = {device for device, _ in checkout_keys}
            signatures: dict[str, Signature] = {}
            for batch in _chunks(sorted(flagged)):
                q = select(ReportRecordingRow).where(ReportRecordingRow.recording_id.in_(batch))
                signatures.update((r.recording_id, _contribution(r).signature) for r in _core(s, q))
            pairs = sorted(self._counted_pairs(s, recording_ids=live))
            action_ids.update(a for _, a in pairs)
            for batch in _chunks(sorted(case_ids)):
                action_ids.update(s.scalars(select(ActionRow.action_id).where(ActionRow.case_id.in_(batch))))
            # the same actions as report_inputs would load: those that ended in the period
            actions = [
                a
                for a in self._actions_by_ids(s, action_ids)
                if (since is None or a.end >= since) and (until is None or a.end < until)
            ]
            checkouts: list[Checkout] = []
            for batch in _chunks(sorted(devices)):
                cq = select(CheckoutRow).where(CheckoutRow.device.in_(batch))
                if since is not None:
                    cq = cq.where(CheckoutRow.start >= since - timedelta(days=2))
                checkouts.extend(_checkout(r) for r in s.scalars(cq))
            return ReportAggregates(
                tallies=tallies,
                recordings=recordings,
                actions=actions,
                links=pairs,
                flags=flags,
                checkouts=checkouts,
                signatures=signatures,
            )

    def _lock_sweep(self, s: Session) -> None:
        if self.engine.dialect.name == "postgresql":
            # two stations sweeping the same database at once raise each flag once
            s.execute(text("SELECT pg_advisory_xact_lock(hashtext('recorder_sync.sweep'))"))

    # --- reports ----------------------------------------------------------------------

    def report_inputs(
        self, since: datetime | None, until: datetime | None
    ) -> tuple[list[RecordingFacts], list[Action], list[tuple[str, str]], list[Flag], list[Checkout]]:
        with self.catalog.transaction() as s:
            rq = select(*_REC_COLUMNS)
            aq = select(_ACTIONS)
            if since is not None:
                rq = rq.where(or_(RecordingRow.end >= since, RecordingRow.end.is_(None)))
                aq = aq.where(ActionRow.end >= since)
            if until is not None:
                rq = rq.where(or_(RecordingRow.end < until, RecordingRow.end.is_(None)))
                aq = aq.where(ActionRow.end < until)
            recordings = self._facts(s, _core(s, rq))
            actions = [_action(r) for r in _core(s, aq)]
            lq = select(LinkRow.recording_id, LinkRow.action_id).where(
                LinkRow.removed_at.is_(None), LinkRow.confidence.in_(_COUNTED)
            )
            if since is not None or until is not None:
                lq = lq.join(ActionRow, ActionRow.action_id == LinkRow.action_id)
                if since is not None:
                    lq = lq.where(ActionRow.end >= since - timedelta(days=2))
                if until is not None:
                    lq = lq.where(ActionRow.end < until + timedelta(days=2))
            links = [(r, a) for r, a in _core(s, lq)]
            fq = select(FlagRow).where(*_flag_period(since, until))
            flags = [flag_from_row(r) for r in s.scalars(fq)]
            cq = select(CheckoutRow)
            if since is not None:
                cq = cq.where(and_(CheckoutRow.start >= since - timedelta(days=2)))
            checkouts = [_checkout(r) for r in s.scalars(cq)]
            return recordings, actions, links, flags, checkouts
