"""The daemon's heartbeat and what ``health`` reads from the database.

The heartbeat is the ``heartbeat_at`` of the daemon's row in ``daemons`` (registered at its
start and removed at a clean stop by ``daemons_repo``): "this daemon's loop turned, or bytes
flowed, at this time", readable by ``recorder-sync health`` and ``status`` on any machine
that shares the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from recorder_sync.adapters.db.schema import DaemonRow, FlagRow
from recorder_sync.domain.model import FlagState, Severity

log = logging.getLogger(__name__)


class Heartbeat:
    """Written by the daemon: :meth:`beat` as often as it likes (the loop, and byte progress on
    worker threads); the database is written at most every ``every`` seconds."""

    def __init__(
        self,
        engine: Engine,
        *,
        owner: str,
        now: Callable[[], datetime],
        every: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.now = now
        self.every = every
        self.monotonic = monotonic
        self._last = float("-inf")
        self._busy = threading.Lock()
        self._failing = False

    def beat(self) -> None:
        """One caller writes, the others go on at once. A database that does not answer is
        logged, never raised: the loop goes on, and ``health`` reports the stale heartbeat."""
        if self.monotonic() - self._last < self.every or not self._busy.acquire(blocking=False):
            return
        try:
            self._last = self.monotonic()
            with Session(self.engine) as s, s.begin():
                mine = DaemonRow.owner == self.owner
                s.execute(update(DaemonRow).where(mine).values(heartbeat_at=self.now()))
            self._failing = False
        except Exception as e:
            if not self._failing:
                log.warning("could not write the heartbeat (health will say so): %s", e)
            self._failing = True
        finally:
            self._busy.release()


def last_beats(engine: Engine, station: str) -> list[datetime]:
    """The last heartbeat of each running daemon of ``station``."""
    with Session(engine) as s, s.begin():
        return list(s.scalars(select(DaemonRow.heartbeat_at).where(DaemonRow.station == station)))


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
