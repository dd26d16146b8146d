"""What ``status`` shows, read with SQLAlchemy Core.

``status`` is the command an operator (or a monitoring script) runs most; its start-up is
mostly imports. It reads a handful of columns, named here as light table clauses, so that
it imports neither the ORM nor the mapped schema (``schema.py``), which together cost about
a third of its start-up. ``SqlCatalog.status`` and ``LogRepo.timestamp_status`` answer from
here as well; a test holds these names and types to ``schema.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, String, column, func, select, table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from recorder_sync.adapters.db.sqltypes import UTCDateTime
from recorder_sync.domain.custody import CustodyEvent, EventKind
from recorder_sync.domain.errors import DatabaseUnavailable
from recorder_sync.domain.leadership import DaemonInfo, current_leader
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
    column("attempts", Integer),
    column("next_attempt_at", UTCDateTime()),
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
daemons = table(
    "daemons",
    column("owner", String),
    column("station", String),
    column("host", String),
    column("pid", Integer),
    column("started_at", UTCDateTime()),
    column("heartbeat_at", UTCDateTime()),
    column("leading_since", UTCDateTime()),
)
sweep_runs = table(
    "sweep_runs",
    column("id", Integer),
    column("owner", String),
    column("started_at", UTCDateTime()),
    column("ended_at", UTCDateTime()),
    column("ok", Boolean),
)

TABLES = (sightings, recordings, flags, custody_events, log_checkpoints, daemons, sweep_runs)

WAITING_SHOWN = 50
"""How many recordings waiting out a backoff ``status`` lists (the soonest first)."""

_FINAL = [s.value for s in SightingState if s.final]
_PENDING = [st.value for st in RecordingState if st.pending]


def read_status(engine: Engine) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pipeline's figures (with the daemons sharing the database) and the time-stamp
    figures, from one transaction (one snapshot: they agree with each other)."""
    try:
        with engine.begin() as conn:
            return pipeline_status(conn) | daemons_status(conn), timestamp_status(conn)
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
    awaiting_release = count_awaiting_release(conn)
    # what failed and waits out its backoff: when it is tried next, and why it failed
    rec = recordings.c
    backing_off = rec.state.in_(_PENDING) & rec.next_attempt_at.is_not(None)
    waiting = [
        {
            "recording_id": rid,
            "state": state,
            "attempts": attempts,
            "failed_at": utc_iso(failed_at),
            "next_attempt": utc_iso(at) if at is not None else None,
            "error": error,
        }
        for rid, state, attempts, failed_at, at, error in conn.execute(
            select(rec.id, rec.state, rec.attempts, rec.updated_at, rec.next_attempt_at, rec.last_error)
            .where(backing_off)
            .order_by(rec.next_attempt_at, rec.id)
            .limit(WAITING_SHOWN)
        )
    ]
    waiting_total = conn.scalar(select(func.count()).select_from(recordings).where(backing_off)) or 0
    oldest = [t for t in (oldest_rec, oldest_sighting) if t is not None]
    return {
        "sightings": sighting_counts,
        "recordings": recording_counts,
        "backlog": backlog(recording_counts, sighting_counts, awaiting_release),
        "awaiting_release": awaiting_release,
        "waiting": waiting,
        "waiting_total": waiting_total,
        "oldest_pending": utc_iso(min(oldest)) if oldest else None,
        "last_error": (
            {"recording_id": last_error[0], "error": last_error[1], "at": utc_iso(last_error[2])}
            if last_error
            else None
        ),
        "open_flags": open_flags,
        "custody_events": events,
    }


def count_awaiting_release(conn: Connection) -> int:
    """Dock files whose stored copy is verified but which are not yet released: still work to
    do (a kill between the two leaves exactly this), or "done" would come too early."""
    return (
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


def backlog(recording_counts: dict[str, int], sighting_counts: dict[str, int], awaiting_release: int) -> int:
    """Work not done yet, from the counts by state (``status`` and the metrics agree on it)."""
    return (
        sum(n for st, n in recording_counts.items() if st in _PENDING)
        + sum(n for st, n in sighting_counts.items() if st in ("discovered", "stable"))
        + awaiting_release
    )


def daemons_status(conn: Connection, now: datetime | None = None) -> dict[str, Any]:
    """The daemons sharing the database (``silent`` when not heard from for a while), which
    one leads, and the leader's last sweep."""
    now = now or datetime.now(UTC)
    d = daemons.c
    found = [
        DaemonInfo(*row)
        for row in conn.execute(
            select(d.owner, d.station, d.host, d.pid, d.started_at, d.heartbeat_at, d.leading_since).order_by(
                d.station, d.started_at
            )
        )
    ]
    leader = current_leader(found)
    r = sweep_runs.c
    last = conn.execute(
        select(r.owner, r.started_at, r.ended_at, r.ok).order_by(r.started_at.desc(), r.id.desc()).limit(1)
    ).first()

    def shown(x: DaemonInfo) -> dict[str, Any]:
        return {
            "station": x.station,
            "host": x.host,
            "pid": x.pid,
            "started_at": utc_iso(x.started_at),
            "heartbeat_at": utc_iso(x.heartbeat_at),
            "silent": x.silent(now),
            "leading_since": utc_iso(x.leading_since) if x.leading_since else None,
        }

    sweep = None
    if last is not None:
        owner, started, ended, ok = last
        sweep = {
            "station": owner.split("/", 1)[0],
            "started_at": utc_iso(started),
            "ended_at": utc_iso(ended) if ended else None,
            "ok": ok,
        }
    return {
        "daemons": [shown(x) for x in found],
        "leader": shown(leader) if leader else None,
        "last_sweep": sweep,
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
