"""What ``status`` shows, read with SQLAlchemy Core.

``status`` is the command an operator (or a monitoring script) runs most; its start-up is
mostly imports. It reads a handful of columns, named here as light table clauses, so that
it imports neither the ORM nor the mapped schema (``schema.py``), which together cost about
a third of its start-up. ``SqlCatalog.status`` and ``LogRepo.timestamp_status`` answer from
here as well; a test holds these names and types to ``schema.py``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, LargeBinary, String, column, func, select, table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from recorder_sync.adapters.db.sqltypes import UTCDateTime
from recorder_sync.domain.custody import CustodyEvent, EventKind
from recorder_sync.domain.errors import DatabaseUnavailable
from recorder_sync.domain.model import FlagState, RecordingState, SightingState
from recorder_sync.domain.times import utc_iso

sightings = table(
    "sightings",
    column("state", String),
    column("first_seen", UTCDateTime()),
    column("recording_id", String),
)
recordings = table(
    "recordings",
    column("id", String),
    column("state", String),
    column("ingested_at", UTCDateTime()),
    column("last_error", String),
    column("updated_at", UTCDateTime()),
)
flags = table("flags", column("severity", String), column("state", String))
custody_events = table(
    "custody_events",
    column("seq", BigInteger),
    column("action", String),
    column("body", LargeBinary),
    column("leaf_hash", String),
)
log_checkpoints = table("log_checkpoints", column("size", BigInteger))

TABLES = (sightings, recordings, flags, custody_events, log_checkpoints)

_FINAL = [s.value for s in SightingState if s.final]
_PENDING = [st.value for st in RecordingState if st.pending]


def read_status(engine: Engine) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pipeline's figures and the time-stamp figures, from one transaction (one
    snapshot: the two agree with each other)."""
    try:
        with engine.begin() as conn:
            return pipeline_status(conn), timestamp_status(conn)
    except OperationalError as e:
        raise DatabaseUnavailable(str(e.orig)) from e


def pipeline_status(conn: Connection) -> dict[str, Any]:
    """Counts by state, the backlog, the oldest pending item, the last error, open flags."""
    sighting_counts = _counts(conn, select(sightings.c.state, func.count()).group_by(sightings.c.state))
    recording_counts = _counts(conn, select(recordings.c.state, func.count()).group_by(recordings.c.state))
    oldest_rec = conn.scalar(
        select(func.min(recordings.c.ingested_at)).where(recordings.c.state.in_(_PENDING))
    )
    oldest_sighting = conn.scalar(
        select(func.min(sightings.c.first_seen)).where(sightings.c.state.not_in(_FINAL))
    )
    last_error = conn.execute(
        select(recordings.c.id, recordings.c.last_error, recordings.c.updated_at)
        .where(recordings.c.last_error.is_not(None))
        .order_by(recordings.c.updated_at.desc())
        .limit(1)
    ).first()
    open_flags = _counts(
        conn,
        select(flags.c.severity, func.count())
        .where(flags.c.state.in_([FlagState.OPEN.value, FlagState.ACKNOWLEDGED.value]))
        .group_by(flags.c.severity),
    )
    events = conn.scalar(select(func.count()).select_from(custody_events)) or 0
    # the stored copy is verified but the dock copy not yet released: still work to do
    # (a kill between the two leaves exactly this), or "done" would come too early
    awaiting_release = (
        conn.scalar(
            select(func.count())
            .select_from(sightings)
            .join(recordings, sightings.c.recording_id == recordings.c.id)
            .where(
                sightings.c.state == SightingState.HASHED.value,
                recordings.c.state.not_in(_PENDING),
            )
        )
        or 0
    )
    oldest = [t for t in (oldest_rec, oldest_sighting) if t is not None]
    return {
        "sightings": sighting_counts,
        "recordings": recording_counts,
        "backlog": sum(n for st, n in recording_counts.items() if st in _PENDING)
        + sum(n for st, n in sighting_counts.items() if st in ("discovered", "stable"))
        + awaiting_release,
        "awaiting_release": awaiting_release,
        "oldest_pending": utc_iso(min(oldest)) if oldest else None,
        "last_error": (
            {"recording_id": last_error[0], "error": last_error[1], "at": utc_iso(last_error[2])}
            if last_error
            else None
        ),
        "open_flags": open_flags,
        "custody_events": events,
    }


def timestamp_status(conn: Connection) -> dict[str, Any]:
    """The last token's event details, how many tokens were recorded, and how many
    checkpoints this database recorded as published have none (a count: each checkpoint is
    stamped once, write-once)."""
    kind = EventKind.TIMESTAMPED.value
    ev = custody_events.c
    stamped = conn.scalar(select(func.count()).select_from(custody_events).where(ev.action == kind)) or 0
    published = conn.scalar(select(func.count()).select_from(log_checkpoints)) or 0
    last = conn.execute(
        select(ev.seq, ev.body, ev.leaf_hash).where(ev.action == kind).order_by(ev.seq.desc()).limit(1)
    ).first()
    details = None if last is None else CustodyEvent(last[0], last[1], last[2]).fields.get("details")
    return {"tokens": stamped, "missing": max(0, published - stamped), "last": details}


def _counts(conn: Connection, query: Any) -> dict[str, int]:
    return {str(k): int(n) for k, n in conn.execute(query)}
