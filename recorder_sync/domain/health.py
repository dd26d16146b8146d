"""``recorder-sync health``: whether this station is fine, and if not, every reason why.

Pure: the facts are gathered by the command (the heartbeats, whether the database and the store
answered, the critical flags open), the judgement is made here with ``now`` passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_MAX_AGE = timedelta(seconds=120)
"""A heartbeat older than this means the daemon is gone or stuck: it beats every
``BEAT_SECONDS`` while its loop turns (between steps and while bytes flow)."""

BEAT_SECONDS = 15.0


@dataclass(frozen=True)
class Facts:
    station: str
    database_error: str | None  # None: it answered
    storage_error: str | None
    beats: Sequence[datetime]  # the last heartbeat of each daemon of the station
    critical_flags: Mapping[str, int]  # open flags of severity critical, by kind


def reasons(facts: Facts, now: datetime, max_age: timedelta = DEFAULT_MAX_AGE) -> list[str]:
    """Every reason the station is not healthy; empty when it is."""
    out: list[str] = []
    if facts.database_error is not None:
        out.append(f"database does not answer: {facts.database_error}")
    else:
        if not facts.beats:
            out.append(f"no daemon of station {facts.station} is running (no heartbeat)")
        else:
            age = (now - max(facts.beats)).total_seconds()
            if age > max_age.total_seconds():
                out.append(
                    f"the daemon of station {facts.station} last gave a sign of life {age:.0f} s ago "
                    f"(more than {max_age.total_seconds():g} s): stopped or stuck"
                )
        if facts.critical_flags:
            kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(facts.critical_flags.items()))
            total = sum(facts.critical_flags.values())
            out.append(f"{total} critical flag(s) open: {kinds}")
    if facts.storage_error is not None:
        out.append(f"storage does not answer: {facts.storage_error}")
    return out
