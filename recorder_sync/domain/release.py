"""When a dock copy may go: the pure rule behind releasing a file from a dock."""

from __future__ import annotations

from datetime import datetime, timedelta

RECHECK_AFTER = timedelta(hours=6)
"""A verification older than this is redone before a dock copy goes: longer than one ingest
pass takes from verifying a file to releasing it, short beside the days a camera may stay
away before it is docked again."""


def verification_holds(verified_at: datetime | None, seen_since: datetime, now: datetime) -> bool:
    """Whether the recording's verification still vouches for its stored copy when a dock
    copy of it, unchanged since ``seen_since``, is released at ``now``.

    It does when it came after that dock file appeared (normally in the file's own pass)
    and not long ago. Otherwise the stored copy may have been damaged or deleted since,
    and this dock copy may be the last good one: the stored copy is checked again first."""
    return verified_at is not None and seen_since <= verified_at and now - verified_at <= RECHECK_AFTER
