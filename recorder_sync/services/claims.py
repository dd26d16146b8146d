"""A claimed row while a worker steps it: the claim is renewed as the work goes on.

Renewal rides on what already ticks: each step of an item, and the byte meter of a long
read (every MiB of a hash, an upload, a check). It costs a statement only once a third of
the lease has passed. A renewal that fails means the lease lapsed and another process took
the row over: ``ClaimLost`` stops the work on it, and the catalog refuses its outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from recorder_sync.domain.claims import Lease
from recorder_sync.domain.errors import ClaimLost
from recorder_sync.domain.ports import Catalog, Progress


class Held:
    def __init__(
        self,
        catalog: Catalog,
        table: str,
        key: int | str,
        lease: Lease,
        clock: Callable[[], datetime],
        claimed_at: datetime,
    ) -> None:
        self.catalog = catalog
        self.table = table
        self.key = key
        self.lease = lease
        self.clock = clock
        self.renewed = claimed_at
        self._lock = threading.Lock()  # an upload's parts report progress from several threads

    def keep(self) -> None:
        """Renew the claim when due; raise ``ClaimLost`` when it is no longer ours."""
        now = self.clock()
        with self._lock:
            if not self.lease.renewal_due(self.renewed, now):
                return
            if not self.catalog.renew_claim(self.table, self.key, self.lease.until(now)):
                raise ClaimLost(
                    f"{self.table[:-1]} {self.key}", "its lease lapsed and another process took it over"
                )
            self.renewed = now

    def metered(self, inner: Progress | None) -> Progress:
        """A byte-progress callback that also keeps the claim (and stops a lost one's read)."""

        def progress(n: int) -> None:
            if inner is not None:
                inner(n)
            self.keep()

        return progress
