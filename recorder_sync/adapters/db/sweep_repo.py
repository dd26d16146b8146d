"""What a deadline sweep loads, and the writing of its flags.

Incremental sweeps.  A sweep loads only what can have changed since the last one
(``sweep_marks['sweep']``): the custody events after the last sweep's log position
name the actions, recordings and checkouts touched by imports, links and
verifications; index range scans find what crossed a time threshold between the
last sweep's ``now`` and this one; the open engine flags name what may resolve.
A sweep whose ``now`` is earlier than the last one, or whose policy changed, is full.
A full sweep does not load every row either: queries on the whole tables find what may
break a rule (``sweep_sets``), the open flags name what may resolve, and the engine
decides on those.  The same transaction that writes the flags (in bulk, their custody
events in one run) brings the report tallies up to date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from recorder_sync.adapters.db.bulk_sql import working_memory
from recorder_sync.adapters.db.report_tallies import TallyCut, update_report
from recorder_sync.adapters.db.repository import NewEvent, SqlCatalog, flag_from_row
from recorder_sync.adapters.db.rows import (
    ENGINE,
    OPEN_STATES,
    REC_COLUMNS,
    CatalogBound,
    actions_by_ids,
    batches,
    checkout_from_row,
    chunks,
    core,
    counted_pairs,
    facts,
    lock_sweep,
    log_end,
    named_by,
    recordings_by_ids,
)
from recorder_sync.adapters.db.schema import (
    ActionOfficerRow,
    ActionRow,
    CheckoutRow,
    CustodyEventRow,
    DockingRow,
    FlagRow,
    RecordingRow,
    SweepMarkRow,
)
from recorder_sync.adapters.db.sweep_sets import (
    late_candidates,
    suspect_actions,
    suspect_cases,
    undocked_checkouts,
)
from recorder_sync.domain.canonical import parse
from recorder_sync.domain.cases import Checkout
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.deadlines import ledger_devices, verified_late
from recorder_sync.domain.flags import (
    ENGINE_KINDS,
    UPLOAD_KINDS,
    FlagKind,
    FlagSpec,
    escalates,
    resolution_reason,
    resolution_state,
)
from recorder_sync.domain.model import Flag, FlagState
from recorder_sync.domain.subjects import (
    action_subject,
    case_subject,
    checkout_subject,
    parse_subject,
    recording_subject,
)
from recorder_sync.domain.sweep import SweepInputs, SweepLimits
from recorder_sync.domain.times import compact_utc, parse_strict

_SWEEP = "sweep"  # the sweep mark: the time, policy and log position of the last sweep


class SweepRepo(CatalogBound):
    """Implements ``SweepStore``."""

    # A full sweep evaluates what the database finds may break a rule (``sweep_sets``);
    # False: everything, row by row, as before (what the tests compare the sets against).
    bulk_full = True

    def sweep_inputs(self, now: datetime, limits: SweepLimits, *, full: bool = False) -> SweepInputs:
        # reading: on SQLite, it takes no lock, so that ingestion (or ``prepare_report``)
        # can write meanwhile
        with self.catalog.transaction(reading=True) as s, ExitStack() as room:
            mark = s.get(SweepMarkRow, _SWEEP)
            cursor = log_end(s)
            full = full or mark is None or mark.at is None or mark.at > now or mark.text != limits.fingerprint
            if full:  # statements over whole tables; an incremental sweep's are small
                room.enter_context(working_memory(s))
            open_rows = s.scalars(
                select(FlagRow).where(FlagRow.state.in_(OPEN_STATES), FlagRow.kind.in_(sorted(ENGINE_KINDS)))
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
                named = named_by(row.subject for row in open_rows)
                upload_ids |= named[0]
                action_ids |= named[1]
                case_ids |= named[2]
                checkout_keys |= named[3]
                if self.bulk_full:
                    # the database finds what may break a rule; the engine decides on those
                    action_ids |= suspect_actions(s, now, limits)
                    case_ids |= suspect_cases(s, now, limits)
                    checkout_keys |= undocked_checkouts(s, now, limits)
                    late = recordings_by_ids(s, late_candidates(s, now, limits.upload_deadline))
                else:
                    action_ids.update(
                        s.scalars(select(ActionRow.action_id).where(ActionRow.end <= now - limits.min_grace))
                    )
                    all_checkouts = True
                    # Late arrivals no sweep has flagged: a first sweep after a one-shot ingest
                    # finds footage that was verified after its deadline before any sweep ran.
                    flagged = select(FlagRow.recording_id).where(
                        FlagRow.kind == FlagKind.UPLOAD_LATE.value, FlagRow.recording_id.is_not(None)
                    )
                    unflagged = select(*REC_COLUMNS).where(
                        RecordingRow.verified_at <= now, RecordingRow.id.not_in(flagged)
                    )
                    late = facts(s, core(s, unflagged))
                upload_ids.update(r.id for r in late if verified_late(r, limits.upload_deadline))
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
                    checkout_keys.add((device, compact_utc(start)))
                self._changes_since(s, since, action_ids, changed_recordings, checkout_keys)
                upload_ids |= changed_recordings

            upload_pairs = counted_pairs(s, recording_ids=upload_ids)
            upload_actions = actions_by_ids(s, {a for _, a in upload_pairs})
            upload_recordings = recordings_by_ids(s, upload_ids)

            # Footage, gap, docking and case-file rules: the actions in play, whole cases (a
            # case-file flag needs every action of its case), all their linked recordings.
            action_ids.update(a for r, a in upload_pairs if r in changed_recordings)
            for batch in chunks(sorted(action_ids)):
                case_ids.update(s.scalars(select(ActionRow.case_id).where(ActionRow.action_id.in_(batch))))
            for batch in chunks(sorted(case_ids)):
                action_ids.update(s.scalars(select(ActionRow.action_id).where(ActionRow.case_id.in_(batch))))
            actions = actions_by_ids(s, action_ids)
            action_ids = {a.action_id for a in actions}
            case_ids = {a.case_id for a in actions}
            pairs = counted_pairs(s, action_ids=action_ids)
            recordings = recordings_by_ids(s, {r for r, _ in pairs})

            # the ledger: the checkouts due for a docking check, and those of the devices whose
            # footage the recordings' own officer numbers do not attribute
            if all_checkouts:
                checkouts = [checkout_from_row(r) for r in s.scalars(select(CheckoutRow))]
            else:
                ledger = ledger_devices(actions, pairs, recordings)
                devices = sorted(ledger | {d for d, _ in checkout_keys})
                rows: list[CheckoutRow] = []
                for batch in chunks(devices):
                    rows.extend(s.scalars(select(CheckoutRow).where(CheckoutRow.device.in_(batch))))
                checkouts = [checkout_from_row(r) for r in rows]
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
            for batch in chunks(verified):
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
            EventKind.LINKED.value,
            EventKind.UNLINKED.value,
            EventKind.VERIFIED.value,
            EventKind.ACTION_IMPORTED.value,
            EventKind.CHECKOUT_IMPORTED.value,
            EventKind.DOCKED.value,
            EventKind.PROBED.value,  # the device is known from here on: its checkouts may count as docked
        ]
        officers_windows: list[tuple[str, datetime, datetime | None]] = []
        devices: set[str] = set()
        for action, rid, body in s.execute(
            select(CustodyEventRow.action, CustodyEventRow.recording_id, CustodyEventRow.body).where(
                CustodyEventRow.seq > since, CustodyEventRow.action.in_(kinds)
            )
        ):
            if action in (EventKind.VERIFIED.value, EventKind.PROBED.value):
                if rid:
                    recording_ids.add(rid)
                continue
            fields = parse(body)
            parts = parse_subject(str(fields.get("subject", "")))
            if action in (EventKind.LINKED.value, EventKind.UNLINKED.value, EventKind.ACTION_IMPORTED.value):
                if parts[0] == "action" and len(parts) >= 2:
                    action_ids.add(parts[1])
            elif action == EventKind.CHECKOUT_IMPORTED.value and parts[0] == "device" and len(parts) == 4:
                checkout_keys.add((parts[1], parts[3]))
                record = fields.get("details", {}).get("record", {})
                end = parse_strict(record["end"]) if record.get("end") else None
                officers_windows.append((str(record.get("officer", "")), parse_strict(record["start"]), end))
            elif action == EventKind.DOCKED.value and parts[0] == "device":
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
                checkout_keys.add((device, compact_utc(start)))
        # newly probed or verified recordings: their devices' checkouts may now count as docked
        hashed_devices: set[str] = set()
        for batch in chunks(sorted(recording_ids)):
            hashed_devices.update(
                d for d in s.scalars(select(RecordingRow.device).where(RecordingRow.id.in_(batch))) if d
            )
        for batch in chunks(sorted(hashed_devices)):
            for device, start in s.execute(
                select(CheckoutRow.device, CheckoutRow.start).where(CheckoutRow.device.in_(batch))
            ):
                checkout_keys.add((device, compact_utc(start)))

    def _docked(self, s: Session, checkouts: Sequence[Checkout], now: datetime) -> dict[str, datetime]:
        """Per device, the last docking at or before ``now`` (recordings seen, or a
        docking recorded with clock evidence)."""
        devices = sorted({c.device for c in checkouts})
        docked: dict[str, datetime] = {}
        for batch in chunks(devices):
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
            lock_sweep(s)
            if only_if_latest:
                last = s.get(SweepMarkRow, _SWEEP)
                if last is not None and last.at is not None and last.at > now:
                    return False
            _write_flags(self.catalog, s, now, to_raise, to_resolve, to_update)
            mark = s.get(SweepMarkRow, _SWEEP)
            if mark is None:
                mark = SweepMarkRow(name=_SWEEP)
                s.add(mark)
            # From the log position read before loading: what other processes wrote while
            # this sweep ran is read by the next one (the events this one wrote are of kinds
            # the next one ignores).
            mark.at, mark.text, mark.seq = now, limits.fingerprint, inputs.cursor
            update_report(s, now, _cut(limits))
        return True

    def prepare_report(self, now: datetime, limits: SweepLimits) -> None:
        """Bring the report tallies up to ``now`` (rebuilt from every row when missing) in a
        transaction of their own, which a sweep runs beside loading its inputs; what changes
        meanwhile, ``apply_sweep`` adds.  Nothing
        when a sweep as of a later time was written (``apply_sweep`` would write nothing
        either).  The tallies are derived data, valid as of the time and log position their
        mark holds, whether or not the sweep completes."""
        with self.catalog.transaction() as s:
            lock_sweep(s)
            last = s.get(SweepMarkRow, _SWEEP)
            if last is not None and last.at is not None and last.at > now:
                return
            update_report(s, now, _cut(limits))

    def last_sweep(self) -> datetime | None:
        with self.catalog.transaction() as s:
            mark = s.get(SweepMarkRow, _SWEEP)
            return None if mark is None else mark.at


def _cut(limits: SweepLimits) -> TallyCut:
    return TallyCut(limits.report_tz, limits.upload_deadline, limits.report_full_types)


def _open_rows(s: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[Any]]:
    """The open (or acknowledged) flags of these (kind, subject) keys, oldest first."""
    wanted = set(keys)
    found: dict[tuple[str, str], list[Any]] = defaultdict(list)
    columns = (FlagRow.id, FlagRow.kind, FlagRow.subject, FlagRow.recording_id, FlagRow.severity)
    for batch in chunks(sorted({subject for _, subject in wanted})):
        q = select(*columns).where(FlagRow.subject.in_(batch), FlagRow.state.in_(OPEN_STATES))
        for row in core(s, q.order_by(FlagRow.id)):
            if (row.kind, row.subject) in wanted:
                found[(row.kind, row.subject)].append(row)
    return found


def _write_flags(
    catalog: SqlCatalog,
    s: Session,
    now: datetime,
    to_raise: Sequence[FlagSpec],
    to_resolve: Sequence[tuple[str, str]],
    to_update: Sequence[FlagSpec],
) -> None:
    """Raise, resolve and update flags with a few bulk statements, and append their custody
    events in one run, in the order the changes are listed (raised, resolved, updated)."""
    events: list[NewEvent] = []
    already = _open_rows(s, (spec.key for spec in to_raise))
    late = [spec.subject for spec in to_raise if spec.kind is FlagKind.UPLOAD_LATE]
    recorded_late: set[str] = set()  # a sweep that loaded at the same time recorded these late arrivals
    for batch in chunks(sorted(set(late))):
        recorded_late.update(
            s.scalars(
                select(FlagRow.subject).where(
                    FlagRow.kind == FlagKind.UPLOAD_LATE.value,
                    FlagRow.subject.in_(batch),
                    FlagRow.state == FlagState.RESOLVED_LATE.value,
                )
            )
        )
    new_rows: list[dict[str, Any]] = []
    relabel: list[tuple[str, str, str | None, str | None]] = []
    raised: set[tuple[str, str]] = set()
    for spec in to_raise:
        if spec.kind is FlagKind.UPLOAD_LATE and spec.subject in recorded_late:
            continue
        if spec.key in already or spec.key in raised:  # raised once per (kind, subject) while open
            if spec.action_id or spec.case_id:
                relabel.append((spec.kind.value, spec.subject, spec.action_id, spec.case_id))
            continue
        raised.add(spec.key)
        new_rows.append(
            {
                "kind": spec.kind.value,
                "severity": spec.severity.value,
                "subject": spec.subject,
                "recording_id": spec.recording_id,
                "detail": spec.detail,
                "due": spec.due,
                "state": FlagState.OPEN.value,
                "raised_at": now,
                "updated_at": now,
                "action_id": spec.action_id,
                "case_id": spec.case_id,
            }
        )
        events.append(
            NewEvent(
                EventKind.FLAGGED,
                recording_id=spec.recording_id,
                subject=spec.subject,
                details={"kind": spec.kind.value, "severity": spec.severity.value, "detail": spec.detail},
            )
        )
    for rows in batches(new_rows):
        s.execute(insert(FlagRow), rows)
    for kind, subject, action_id, case_id in relabel:
        s.execute(
            update(FlagRow)
            .where(FlagRow.kind == kind, FlagRow.subject == subject, FlagRow.state.in_(OPEN_STATES))
            .values(action_id=action_id, case_id=case_id)
        )

    open_rows = _open_rows(s, [*to_resolve, *(spec.key for spec in to_update)])
    changes: list[dict[str, Any]] = []
    for kind, subject in to_resolve:
        state, reason = resolution_state(kind), resolution_reason(kind)
        for row in open_rows.pop((kind, subject), []):
            changes.append(
                {
                    "id": row.id,
                    "state": state.value,
                    "resolved_at": now,
                    "resolved_by": ENGINE,
                    "reason": reason,
                    "updated_at": now,
                }
            )
            events.append(
                NewEvent(
                    EventKind.FLAG_RESOLVED,
                    recording_id=row.recording_id,
                    subject=subject,
                    details={"kind": kind, "flag_id": row.id, "state": state.value},
                    reason=reason,
                    actor=ENGINE,
                )
            )
    for spec in to_update:
        for row in open_rows.get(spec.key, []):
            changes.append(
                {
                    "id": row.id,
                    "severity": spec.severity.value,
                    "detail": spec.detail,
                    "due": spec.due,
                    "updated_at": now,
                }
            )
            events.append(
                NewEvent(
                    EventKind.FLAG_UPDATED,
                    recording_id=row.recording_id,
                    subject=spec.subject,
                    details={
                        "kind": spec.kind.value,
                        "flag_id": row.id,
                        "severity": spec.severity.value,
                        "escalated": escalates(spec.severity, row.severity),
                        "detail": spec.detail,
                    },
                    actor=ENGINE,
                )
            )
    # by primary key, one statement per set of columns (resolutions, then updates)
    for columns in ({"state", "resolved_at"}, {"severity"}):
        same = [c for c in changes if columns <= c.keys()]
        for rows in batches(same):
            s.execute(update(FlagRow), rows)
    catalog.append_events(s, now, events)
