"""The custody log as a Merkle tree: its size, roots and proofs from the stored nodes, the
checkpoints published of it, and the operator's acknowledgements of a rolled-back log."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from recorder_sync.adapters.db import status_view
from recorder_sync.adapters.db.log_nodes import with_nodes
from recorder_sync.adapters.db.rows import CatalogBound, log_end
from recorder_sync.adapters.db.schema import CustodyEventRow, LogCheckpointRow, LogNodeRow
from recorder_sync.domain import merkle
from recorder_sync.domain.custody import CustodyEvent, EventKind, IndexedEvent
from recorder_sync.domain.logstate import Acknowledgement, RecordedCheckpoint
from recorder_sync.domain.model import Flag

_BATCH = 2000


class LogRepo(CatalogBound):
    """Implements ``CustodyLog``."""

    def log_size(self) -> int:
        with self.catalog.transaction() as s:
            return log_end(s)

    def log_root(self, size: int) -> bytes:
        with self.catalog.transaction() as s:
            return with_nodes(s, f"the root at {size}", lambda node: merkle.stored_range_root(node)(0, size))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self.catalog.transaction() as s:
            return with_nodes(
                s,
                f"inclusion of {index} in {size}",
                lambda node: merkle.inclusion_proof_from(index, size, merkle.stored_range_root(node)),
            )

    def consistency_proof(self, old_size: int, size: int) -> list[bytes]:
        with self.catalog.transaction() as s:
            return with_nodes(
                s,
                f"consistency of {old_size} with {size}",
                lambda node: merkle.consistency_proof_from(old_size, size, merkle.stored_range_root(node)),
            )

    def iter_events(self, after_seq: int = 0) -> Iterator[CustodyEvent]:
        """Every event in ``seq`` order, read in batches (a log of millions never sits in memory)."""
        while True:
            with self.catalog.transaction() as s:
                rows = s.execute(
                    select(
                        CustodyEventRow.seq,
                        CustodyEventRow.body,
                        CustodyEventRow.leaf_hash,
                        CustodyEventRow.action,
                        CustodyEventRow.recording_id,
                        CustodyEventRow.at,
                    )
                    .where(CustodyEventRow.seq > after_seq)
                    .order_by(CustodyEventRow.seq)
                    .limit(_BATCH)
                ).all()
            if not rows:
                return
            for seq, body, leaf, action, recording_id, at in rows:
                yield IndexedEvent(seq, body, leaf, action, recording_id, at)
            after_seq = rows[-1][0]

    def event(self, recording_id: str, action: EventKind) -> CustodyEvent | None:
        """The recording's first event of this kind."""
        with self.catalog.transaction() as s:
            row = s.scalar(
                select(CustodyEventRow)
                .where(CustodyEventRow.recording_id == recording_id, CustodyEventRow.action == action.value)
                .order_by(CustodyEventRow.seq)
                .limit(1)
            )
            return None if row is None else CustodyEvent(seq=row.seq, body=row.body, leaf_hash=row.leaf_hash)

    # --- checkpoints ------------------------------------------------------------------------

    def record_checkpoint(self, cp: RecordedCheckpoint) -> None:
        try:
            with self.catalog.transaction() as s:
                if s.get(LogCheckpointRow, cp.size) is None:
                    s.add(
                        LogCheckpointRow(
                            size=cp.size, root=cp.root, note=cp.note, key=cp.key, published_at=cp.published_at
                        )
                    )
        except IntegrityError:
            pass  # another process (the daemon, a one-shot ingest) recorded the same checkpoint first

    def latest_checkpoint(self) -> int | None:
        with self.catalog.transaction() as s:
            size: int | None = s.scalar(select(func.max(LogCheckpointRow.size)))
            return size

    def recorded_checkpoints(self) -> list[RecordedCheckpoint]:
        with self.catalog.transaction() as s:
            rows = s.scalars(select(LogCheckpointRow).order_by(LogCheckpointRow.size))
            return [RecordedCheckpoint(r.size, r.root, r.note, r.key, r.published_at) for r in rows]

    # --- a rolled-back log, acknowledged ----------------------------------------------------

    def acknowledgements(self) -> list[Acknowledgement]:
        with self.catalog.transaction() as s:
            rows = s.scalars(
                select(CustodyEventRow)
                .where(CustodyEventRow.action == EventKind.LOG_ACKNOWLEDGED.value)
                .order_by(CustodyEventRow.seq)
            )
            return [Acknowledgement.from_event(CustodyEvent(r.seq, r.body, r.leaf_hash)) for r in rows]

    def acknowledge(self, ack: Acknowledgement, now: datetime, actor: str) -> CustodyEvent:
        """Record the operator's acknowledgement, after cutting the stored tree back to the
        events the database still holds (the nodes of deleted events would block every append)."""
        with self.catalog.transaction() as s:
            size = log_end(s)
            # node (level, idx) covers leaves [idx·2^level, (idx+1)·2^level): it reaches past
            # the log's ``size`` leaves exactly when idx ≥ size >> level
            top = s.scalar(select(func.max(LogNodeRow.level)))
            if top is not None:
                past = [(LogNodeRow.level == lv) & (LogNodeRow.idx >= size >> lv) for lv in range(top + 1)]
                s.execute(delete(LogNodeRow).where(or_(*past)))
            return self.catalog.append_event(
                s,
                EventKind.LOG_ACKNOWLEDGED,
                now,
                details=ack.details(database_size=size),
                reason=ack.reason,
                actor=actor,
            )

    # --- the checkpoints' time-stamp tokens -------------------------------------------------

    def record_timestamp(
        self, size: int, details: Mapping[str, Any], now: datetime, *, drift: Flag, drifted: bool
    ) -> None:
        """The ``timestamped`` event of checkpoint ``size``, and in the same transaction the
        clock-drift flag raised (``drifted``) or resolved (the token shows the clock back in line)."""
        with self.catalog.transaction() as s:
            self.catalog.append_event(
                s, EventKind.TIMESTAMPED, now, subject=f"checkpoint:{size}", details=details
            )
            if drifted:
                self.catalog.flag_in(s, drift, now)
            else:
                reason = "a later time-stamp token shows the station clock back within the limit"
                self.catalog.resolve_in(s, drift.kind, drift.subject, now, self.catalog.actor, reason)

    def timestamp_status(self) -> dict[str, Any]:
        with self.catalog.transaction() as s:
            return status_view.timestamp_status(s.connection())
