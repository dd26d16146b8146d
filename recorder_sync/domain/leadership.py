"""The leader among the daemons sharing one database: what the others and ``status`` see.

One daemon at a time runs the station-wide work (linking, deadline sweeps, alerts, signed
checkpoints and their time-stamps): several doing it at once would raise each flag and send
each alert once per daemon, and race to publish checkpoints. The lead itself is a lock the
database or the kernel frees when its holder dies (``adapters.db.leader``); what is here is
what the daemons write about it, read back for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SILENT_AFTER = timedelta(minutes=2)
"""A daemon not heard from for this long is shown as silent (killed, hung, or cut off)."""


@dataclass(frozen=True)
class DaemonInfo:
    """A daemon as the database last heard of it: who, since when, whether it leads."""

    owner: str
    station: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    leading_since: datetime | None

    def silent(self, now: datetime) -> bool:
        return now - self.heartbeat_at > SILENT_AFTER


@dataclass(frozen=True)
class SweepRun:
    """One run of the leader's linking and deadline sweep; ``ended_at`` None while it runs
    (or when its daemon was killed during it)."""

    id: int
    owner: str
    started_at: datetime
    ended_at: datetime | None
    ok: bool | None


def current_leader(daemons: list[DaemonInfo]) -> DaemonInfo | None:
    """The daemon that took the lead last. A new leader clears the others' claim when it takes
    over, so more than one claim means one of them died before it could: the latest wins."""
    leading = [d for d in daemons if d.leading_since is not None]
    return max(leading, key=lambda d: (d.leading_since, d.heartbeat_at), default=None)
