"""What the daemon does while a service it cannot work without (the database) stops answering.

A pass that fails because the database cannot be reached is not a failure of any file:
nothing is held against the files (they would otherwise sit out a per-file backoff long
after the database is back), and nothing can be lost meanwhile, since a dock copy goes only
once its verified stored copy is recorded. So the daemon waits and tries again, at a growing
interval bounded by ``MAX_RETRY_SECONDS``; it says so once (a known condition, not a bug:
no trace), reminds every ``REMIND_EVERY`` while it lasts, tells systemd since when
(``STATUS=``), and says how long it lasted when it ends.

Pure: every decision takes ``now`` (wall clock, for what is shown) and the caller's jitter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from recorder_sync.domain.retry import next_attempt

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0
"""A restarted PostgreSQL is used again at most this long after it is back."""
REMIND_EVERY = timedelta(minutes=15)


@dataclass(frozen=True)
class Outage:
    service: str
    since: datetime
    failures: int
    error: str
    said_at: datetime


@dataclass(frozen=True)
class Retry:
    """After one more failed attempt: the outage as it stands, a line to log (or None: said
    already), how long to wait before the next attempt, and systemd's STATUS text."""

    outage: Outage
    say: str | None
    wait_seconds: float
    status: str


def failed(outage: Outage | None, service: str, error: str, now: datetime, *, jitter: float = 0.5) -> Retry:
    """One more attempt failed (``outage`` None: the first one). ``jitter`` in [0, 1) spreads
    the retries of several daemons that lost the same server."""
    if outage is None:
        outage = Outage(service, now, 1, error, now)
        say: str | None = (
            f"{service} unreachable: {error}; nothing is lost (dock files stay until their stored "
            f"copy is verified and recorded): waiting and trying again, at most every "
            f"{MAX_RETRY_SECONDS:.0f} s"
        )
    else:
        outage = replace(outage, failures=outage.failures + 1, error=error)
        say = None
        if now - outage.said_at >= REMIND_EVERY:
            since = _shown(outage.since)
            say = f"{service} still unreachable since {since} ({outage.failures} attempts): {error}"
            outage = replace(outage, said_at=now)
    retry_at = next_attempt(
        now, outage.failures, base=FIRST_RETRY_SECONDS, cap=MAX_RETRY_SECONDS, jitter=jitter
    )
    wait = (retry_at - now).total_seconds()
    status = f"{service} unreachable since {_shown(outage.since)}; next attempt in {wait:.0f} s"
    return Retry(outage, say, wait, status)


def ended(outage: Outage, now: datetime) -> str:
    lasted = max(0.0, (now - outage.since).total_seconds())
    return (
        f"{outage.service} reachable again after {lasted:.0f} s ({outage.failures} failed attempt(s)); "
        "carrying on, every dock rescanned"
    )


def _shown(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
