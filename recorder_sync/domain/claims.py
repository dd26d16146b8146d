"""Work claims: a lease on a sighting's or a recording's row.

Several daemons may share one database (two stations that see one dock folder, a failover
pair). Each works only the rows it has claimed: ``claimed_by`` names the process
(``<station>/<pid>/<random>``), ``claimed_until`` is when the claim lapses unless renewed.
A holder that dies stops renewing, and once the lease has run out another daemon takes the
row over. Pure decisions here; the catalog stores the claims and takes them atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

RENEWALS_PER_LEASE = 3
"""A holder renews after a third of the lease: two missed renewals still leave it the row."""


def claim_owner(station: str, pid: int, token: str) -> str:
    """Who holds a claim: the station and process for people, the token so that a reused pid
    (or a second catalog in one process) is another owner."""
    return f"{station}/{pid}/{token}"


def dead_owners(owners: Iterable[str], station: str, me: str, alive: Callable[[int], bool]) -> list[str]:
    """The claim owners that are earlier processes of this station, now dead: a daemon killed
    and restarted must not wait a whole lease for its own work. Owners of other stations, or
    whose pid is alive (maybe reused: waiting out its lease is the safe side), are left."""
    dead = []
    for owner in owners:
        stn, _, pid = owner.rpartition("/")[0].rpartition("/")  # <station>/<pid>/<token>
        if owner == me or stn != station or not pid.isdigit():
            continue
        if not alive(int(pid)):
            dead.append(owner)
    return dead


def held_by_another(
    claimed_by: str | None, claimed_until: datetime | None, owner: str, now: datetime
) -> bool:
    """A live claim of someone else: that process is working the row, so ours may not write
    its outcome. A lapsed claim binds no one (its holder must renew before it writes)."""
    live = claimed_until is not None and claimed_until > now
    return live and claimed_by is not None and claimed_by != owner


@dataclass(frozen=True)
class Lease:
    seconds: float = 300.0

    def until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.seconds)

    def renewal_due(self, renewed: datetime, now: datetime) -> bool:
        # a clock stepped back counts as due: renewing early costs one statement, late a claim
        return now < renewed or now - renewed >= timedelta(seconds=self.seconds / RENEWALS_PER_LEASE)
