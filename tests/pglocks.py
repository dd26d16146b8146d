"""Who holds the daemons' leader lock on a PostgreSQL server, as the server itself says."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from recorder_sync.adapters.db.leader import LEADER_KEY


def leader_lock_holders(url: str) -> list[int]:
    """The server processes (sessions) holding the leader's advisory lock in ``url``'s database."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as c:
            found = c.execute(
                text(
                    "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                    " WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"
                    " AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1"
                ),
                {"hi": (LEADER_KEY >> 32) & 0xFFFFFFFF, "lo": LEADER_KEY & 0xFFFFFFFF},
            ).scalars()
            return list(found)
    finally:
        engine.dispose()


def sessions_waiting_on_locks(url: str, exclude: set[int]) -> int:
    """How many server sessions, other than ``exclude``, wait for a lock (a table's or an
    advisory one) in ``url``'s server right now."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as c:
            pids = c.execute(
                text("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            ).scalars()
            return len(set(pids) - exclude)
    finally:
        engine.dispose()
