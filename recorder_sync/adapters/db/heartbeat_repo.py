"""Daemon heartbeats (table ``daemon_heartbeats``) and what ``health`` reads from the database.

Kept apart from the work claims and from any leader election: a heartbeat only says "this
daemon's loop turned at this time", for ``recorder-sync health`` on any machine that shares
the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from recorder_sync.adapters.db.schema import FlagRow, HeartbeatRow
from recorder_sync.domain.model import FlagState, Severity

log = logging.getLogger(__name__)


class Heartbeat:
    """Written by the daemon: :meth:`beat` as often as it likes, the database is written at most
    every ``every`` seconds; :meth:`stop` at a clean stop removes the row (no daemon: unhealthy)."""

    def __init__(
        self,
        engine: Engine,
        *,
        daemon: str,
        station: str,
        pid: int,
        now: Callable[[], datetime],
        every: float,
        state: Callable[[], str] = lambda: "",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.daemon = daemon
        self.station = station
        self.pid = pid
        self.now = now
        self.every = every
        self.state = state
        self.monotonic = monotonic
        self.started_at = now()
        self._last = float("-inf")
        self._busy = threading.Lock()
        self._failing = False

    def beat(self) -> None:
        """Called from the loop and from byte progress on worker threads: one writes, the
        others go on at once. A database that does not answer is logged, never raised: the
        loop goes on, and ``health`` reports the stale heartbeat."""
        if self.monotonic() - self._last < self.every or not self._busy.acquire(blocking=False):
            return
        try:
            self._last = self.monotonic()
            with Session(self.engine) as s, s.begin():
                s.merge(
                    HeartbeatRow(
                        daemon=self.daemon,
                        station=self.station,
                        pid=self.pid,
                        started_at=self.started_at,
                        beat_at=self.now(),
                        state=self.state(),
                    )
                )
            self._failing = False
        except Exception as e:
            if not self._failing:
                log.warning("could not write the heartbeat (health will say so): %s", e)
            self._failing = True
        finally:
            self._busy.release()

    def stop(self) -> None:
        try:
            with Session(self.engine) as s, s.begin():
                s.execute(delete(HeartbeatRow).where(HeartbeatRow.daemon == self.daemon))
        except Exception as e:
            log.warning("could not remove the heartbeat: %s", e)


def last_beats(engine: Engine, station: str) -> list[datetime]:
    with Session(engine) as s, s.begin():
        return list(s.scalars(select(HeartbeatRow.beat_at).where(HeartbeatRow.station == station)))


def critical_flags(engine: Engine) -> dict[str, int]:
    """Critical flags nobody has seen yet, by kind (an acknowledged one is known to a person,
    who is on it: it no longer makes the station unhealthy)."""
    with Session(engine) as s, s.begin():
        rows = s.execute(
            select(FlagRow.kind, func.count())
            .where(FlagRow.state == FlagState.OPEN.value, FlagRow.severity == Severity.CRITICAL.value)
            .group_by(FlagRow.kind)
        )
        return {str(kind): int(n) for kind, n in rows}
