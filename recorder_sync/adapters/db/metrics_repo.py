"""The figures a metrics scrape reads (``domain.metrics.Snapshot``): three grouped counts (recordings,
dock files, open flags), the backlog's one join, and a few single-row look-ups by key.

Run at scrape time on the scraper's own read-only engine, never on the ingest thread's session.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from recorder_sync.adapters.db.repository import _FINAL
from recorder_sync.adapters.db.rows import log_end
from recorder_sync.adapters.db.schema import (
    CustodyEventRow,
    FlagRow,
    LogCheckpointRow,
    RecordingRow,
    SightingRow,
    SweepMarkRow,
)
from recorder_sync.adapters.db.status_view import backlog, count_awaiting_release
from recorder_sync.adapters.db.sweep_repo import _SWEEP
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.metrics import Snapshot
from recorder_sync.domain.model import FlagState, RecordingState

_OPEN = [FlagState.OPEN.value, FlagState.ACKNOWLEDGED.value]


def snapshot(engine: Engine, *, timestamps: bool) -> Snapshot:
    """``timestamps``: also count the checkpoints still without a time-stamp token (only where
    time-stamping is configured: that count reads the custody events of one kind)."""
    pending = {st.value for st in RecordingState if st.pending}
    with Session(engine) as s, s.begin():
        recordings: dict[str, int] = {}
        oldest = []
        for state, n, first in s.execute(
            select(RecordingRow.state, func.count(), func.min(RecordingRow.ingested_at)).group_by(
                RecordingRow.state
            )
        ):
            recordings[str(state)] = int(n)
            if state in pending and first is not None:
                oldest.append(first)
        dock_files: dict[str, int] = {}
        for state, n, first in s.execute(
            select(SightingRow.state, func.count(), func.min(SightingRow.first_seen)).group_by(
                SightingRow.state
            )
        ):
            dock_files[str(state)] = int(n)
            if state not in _FINAL and first is not None:
                oldest.append(first)
        flags = {
            (str(kind), str(severity)): int(n)
            for kind, severity, n in s.execute(
                select(FlagRow.kind, FlagRow.severity, func.count())
                .where(FlagRow.state.in_(_OPEN))
                .group_by(FlagRow.kind, FlagRow.severity)
            )
        }
        awaiting = count_awaiting_release(s.connection())
        mark = s.get(SweepMarkRow, _SWEEP)
        last_cp = s.execute(
            select(LogCheckpointRow.size, LogCheckpointRow.published_at)
            .order_by(LogCheckpointRow.size.desc())
            .limit(1)
        ).first()
        missing = None
        if timestamps:
            published = s.scalar(select(func.count()).select_from(LogCheckpointRow)) or 0
            stamped = (
                s.scalar(select(func.count()).where(CustodyEventRow.action == EventKind.TIMESTAMPED.value))
                or 0
            )
            missing = max(0, published - stamped)
        return Snapshot(
            recordings=recordings,
            dock_files=dock_files,
            backlog=backlog(recordings, dock_files, awaiting),
            oldest_pending=min(oldest) if oldest else None,
            open_flags=flags,
            last_sweep=None if mark is None else mark.at,
            log_size=log_end(s),
            checkpoint_size=0 if last_cp is None else int(last_cp[0]),
            last_checkpoint=None if last_cp is None else last_cp[1],
            checkpoints_without_timestamp=missing,
        )
