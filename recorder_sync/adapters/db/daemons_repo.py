"""The daemons sharing the database and the leader's sweeps (``domain.leadership``).

Each daemon writes its own row only; the one that takes the lead also clears the claim of
any other (it holds the lock, so theirs is stale: a daemon killed while leading). Sweep runs
older than ``KEEP_SWEEPS`` are pruned by the leader as it records new ones.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import delete, update

from recorder_sync.adapters.db.rows import CatalogBound
from recorder_sync.adapters.db.schema import DaemonRow, SweepRunRow

KEEP_SWEEPS = timedelta(days=7)
FORGET_DAEMONS = timedelta(days=7)
"""A row not heard from for this long (a daemon killed and never restarted) is removed."""


class DaemonsRepo(CatalogBound):
    """Implements ``DaemonJournal`` for the catalog's owner (one per process)."""

    @property
    def owner(self) -> str:
        return self.catalog.owner

    def register(self, now: datetime) -> None:
        with self.catalog.transaction() as s:
            s.execute(delete(DaemonRow).where(DaemonRow.heartbeat_at < now - FORGET_DAEMONS))
            s.merge(
                DaemonRow(
                    owner=self.owner,
                    station=self.catalog.station,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=now,
                    heartbeat_at=now,
                    leading_since=None,
                )
            )

    def leading(self, since: datetime | None) -> None:
        with self.catalog.transaction() as s:
            if since is not None:
                s.execute(
                    update(DaemonRow)
                    .where(DaemonRow.owner != self.owner, DaemonRow.leading_since.is_not(None))
                    .values(leading_since=None)
                )
            s.execute(update(DaemonRow).where(DaemonRow.owner == self.owner).values(leading_since=since))

    def sweep_started(self, now: datetime) -> int:
        with self.catalog.transaction() as s:
            s.execute(delete(SweepRunRow).where(SweepRunRow.started_at < now - KEEP_SWEEPS))
            row = SweepRunRow(owner=self.owner, started_at=now)
            s.add(row)
            s.flush()
            return row.id

    def sweep_ended(self, run: int, now: datetime, ok: bool) -> None:
        with self.catalog.transaction() as s:
            s.execute(update(SweepRunRow).where(SweepRunRow.id == run).values(ended_at=now, ok=ok))

    def gone(self) -> None:
        with self.catalog.transaction() as s:
            s.execute(delete(DaemonRow).where(DaemonRow.owner == self.owner))
