"""Rows of the case tables ↔ domain values, and the bulk reads the case stores share.

Bulk reads go through SQLAlchemy Core (``core``): plain columns need no ORM identity map,
and skipping it is most of the cost of loading a million rows.  ``IN (...)`` lists are
cut into ``chunks``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.db.schema import (
    ActionRow,
    CustodyEventRow,
    DockingRow,
    LinkRow,
    RecordingRow,
)
from recorder_sync.domain.cases import Action, Checkout
from recorder_sync.domain.clock import ClockEvidence
from recorder_sync.domain.linking import RecordingFacts, StoredLink
from recorder_sync.domain.model import FlagState
from recorder_sync.domain.subjects import parse_subject

ENGINE = "deadline engine"  # the actor of the sweep's custody events
# Automatic linking looks at footage (video, audio, photo); other files (sidecars, logs)
# are kept as evidence and can be linked by hand.
OTHER_KIND = "other"
OPEN_STATES = (FlagState.OPEN.value, FlagState.ACKNOWLEDGED.value)
COUNTED = ("auto", "manual", "confirmed")  # link confidences the deadline engine counts
_CHUNK = 500  # bound on IN (...) lists

REC_COLUMNS = (
    RecordingRow.id,
    RecordingRow.device,
    RecordingRow.officer,
    RecordingRow.start,
    RecordingRow.end,
    RecordingRow.verified_at,
    RecordingRow.ingested_at,
)
ACTIONS = ActionRow.__table__


class CatalogBound:
    """A case store: shares the catalog's engine, transactions and custody chain."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog
        self.engine = catalog.engine


def chunks(items: Iterable[str], size: int = _CHUNK) -> Iterable[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def batches(rows: list[dict[str, Any]], size: int = 5000) -> Iterable[list[dict[str, Any]]]:
    return (rows[i : i + size] for i in range(0, len(rows), size))


def core(s: Session, query: Any) -> Sequence[Any]:
    """Rows through SQLAlchemy Core (no ORM identity map)."""
    return s.connection().execute(query).all()


def action_from_row(row: Any) -> Action:
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


def checkout_from_row(row: Any) -> Checkout:
    return Checkout(row.device, row.officer, row.start, row.end)


def link_from_row(row: LinkRow) -> StoredLink:
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


def log_end(s: Session) -> int:
    """The custody log's last position."""
    return int(s.scalar(select(func.max(CustodyEventRow.seq))) or 0)


def named_by(subjects: Iterable[str]) -> tuple[set[str], set[str], set[str], set[tuple[str, str]]]:
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


def clock_evidence(s: Session, devices: Iterable[str | None]) -> ClockEvidence:
    """The clock offsets recorded at the dockings of these devices."""
    wanted = sorted({d for d in devices if d})
    readings: list[tuple[str, datetime, timedelta]] = []
    for batch in chunks(wanted):
        readings.extend(
            (r[0], r[1], timedelta(milliseconds=int(r[2] or 0)))
            for r in s.execute(
                select(DockingRow.device, DockingRow.docked_at, DockingRow.clock_offset_ms).where(
                    DockingRow.device.in_(batch), DockingRow.clock_offset_ms.is_not(None)
                )
            )
        )
    return ClockEvidence(readings)


def facts(s: Session, rows: Sequence[Any]) -> list[RecordingFacts]:
    """Rows of ``REC_COLUMNS`` as the facts linking and deadlines use, with clock evidence."""
    evidence = clock_evidence(s, (r[1] for r in rows))
    return [evidence.facts(*r) for r in rows]


def recordings_by_ids(s: Session, ids: Iterable[str], media_only: bool = False) -> list[RecordingFacts]:
    rows: list[Any] = []
    q = select(*REC_COLUMNS)
    if media_only:
        q = q.where(RecordingRow.kind != OTHER_KIND)
    for batch in chunks(sorted(set(ids))):
        rows.extend(core(s, q.where(RecordingRow.id.in_(batch))))
    return facts(s, rows)


def actions_by_ids(s: Session, ids: Iterable[str]) -> list[Action]:
    out: list[Action] = []
    for batch in chunks(sorted(set(ids))):
        out.extend(action_from_row(r) for r in core(s, select(ACTIONS).where(ACTIONS.c.action_id.in_(batch))))
    return out


def counted_pairs(
    s: Session, *, action_ids: Iterable[str] = (), recording_ids: Iterable[str] = ()
) -> set[tuple[str, str]]:
    """The (recording, action) links the deadline engine counts, of these actions or recordings."""
    pairs: set[tuple[str, str]] = set()
    q = select(LinkRow.recording_id, LinkRow.action_id).where(
        LinkRow.removed_at.is_(None), LinkRow.confidence.in_(COUNTED)
    )
    for batch in chunks(sorted(set(action_ids))):
        pairs.update((r, a) for r, a in core(s, q.where(LinkRow.action_id.in_(batch))))
    for batch in chunks(sorted(set(recording_ids))):
        pairs.update((r, a) for r, a in core(s, q.where(LinkRow.recording_id.in_(batch))))
    return pairs


# An import appends its custody events in runs of this many: one lock and one insert each
# (one by one, they took 3/4 of a large import's time in the write lock), and memory
# bounded however many rows the file holds.
EVENT_RUN = 1000


def _lock_until_commit(s: Session, name: str) -> None:
    """PostgreSQL: wait for the advisory lock ``name``, held until the transaction ends.
    SQLite needs none: its transactions that write begin IMMEDIATE, one at a time."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})


def lock_sweep(s: Session) -> None:
    """Serialise sweeps (and tally refreshes) across processes, until the transaction ends."""
    # two stations sweeping the same database at once raise each flag once
    _lock_until_commit(s, "recorder_sync.sweep")


def lock_case_book(s: Session) -> None:
    """Serialise the changes to actions, checkouts and links across processes, until the
    transaction ends: each reads what exists, then writes what is missing.  Without it two
    imports of one file at once both found an action new and the second failed on its key
    (or, for links, which have no unique key, both stored the same link)."""
    _lock_until_commit(s, "recorder_sync.case-book")
