"""The daemon's scheduling loop: when to rescan, ingest, sweep and wait.

One turn of the loop is a short list of steps, and a stop request is honoured between any
two of them (a long hash or copy inside a step stops on its own, through the ingest meter):

1. take over any dock on standby whose holder has ended (then rescan everything);
2. rescan every held dock at start and every ``reconcile_seconds`` (watch events are only
   hints: inotify drops them, network mounts send none), else only the docks marked dirty;
3. one ingest pass;
4. link and sweep deadlines every ``sweep_seconds``, and as soon as a batch of work is done,
   so that new footage is linked and its flags settled without waiting for the period;
5. every ``checkpoint_seconds``, sign and publish a checkpoint of the custody log if it grew
   (a log that no longer extends the published one stops the daemon: ``LogRolledBack``),
   then ask the time-stamping authority for the tokens of checkpoints that have none (one
   that is down only delays them to the next time);
6. when the pass did nothing, wait for a dirty dock (or a stop request) for ``idle_seconds``.

Everything it touches is injected: the clock, the dirty-dock queue, the ingest and cases
services, the standby lock, so that the schedule is unit-tested without threads or timing.
Deadlines, linking and one dock's scan must never stop ingestion: their failures are
logged and tried again at the next turn. A database that cannot be reached stops the turn
instead (nothing can be recorded, so nothing is done): it is said once, systemd's STATUS
says since when, the turn is tried again after a bounded backoff (``domain.outage``), and
once the database answers every dock is rescanned, since the events of the outage were lost.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from recorder_sync.domain import outage
from recorder_sync.domain.errors import DatabaseUnavailable, Error, LogRolledBack
from recorder_sync.services.ingest import PassSummary

log = logging.getLogger(__name__)

IDLE_SECONDS = 1.0
"""How long an idle loop waits for a dirty dock before it looks again (backoffs and stability
windows end without any event)."""


class DirtyQueue(Protocol):
    """The docks that changed since the last :meth:`take`, and a wait for the next change."""

    def take(self) -> set[str]: ...

    def wait(self, timeout: float) -> bool:
        """Until a dock is marked (or the loop is woken to stop), at most ``timeout`` seconds."""
        ...


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


class Ingest(Protocol):
    def scan(self, dock_name: str) -> object: ...

    def run_once(self) -> PassSummary: ...


class Cases(Protocol):
    def read_dock_clocks(self, docks: Sequence[str]) -> object:
        """Record the camera clocks the named docks expose (before their recordings are scanned)."""
        ...

    def tick(self) -> object:
        """Link new recordings, then one deadline sweep as of now."""
        ...


Clock = Callable[[], float]
"""Monotonic seconds."""


class DaemonService:
    def __init__(
        self,
        *,
        ingest: Ingest,
        cases: Cases,
        queue: DirtyQueue,
        clock: Clock,
        stop: StopFlag,
        docks: Iterable[str],
        standby: Iterable[str] = (),
        acquire: Callable[[str], bool] = lambda name: False,
        status: Callable[[str], object] = lambda text: None,
        reconcile_seconds: float,
        sweep_seconds: float,
        idle_seconds: float = IDLE_SECONDS,
        checkpoint: Callable[[], object] = lambda: None,
        checkpoint_seconds: float = 60.0,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        """``standby``: docks another process holds; ``acquire(name)`` tries to take one over
        (its lock, and adding it to ``ingest``), True once it is ours; ``status`` is told the
        new :meth:`state` when that happens."""
        self.ingest = ingest
        self.cases = cases
        self.queue = queue
        self.clock = clock
        self.stop = stop
        self.docks = list(docks)
        self.standby = [d for d in self.docks if d in set(standby)]
        self.acquire = acquire
        self.status = status
        self.reconcile_seconds = reconcile_seconds
        self.sweep_seconds = sweep_seconds
        self.idle_seconds = idle_seconds
        self.checkpoint = checkpoint
        self.checkpoint_seconds = checkpoint_seconds
        self._last_checkpoint = float("-inf")
        self._last_full = self._last_sweep = float("-inf")
        self._worked = False
        self._pass = Passes(ingest)
        self.wall = wall  # for what is shown: since when the database is unreachable
        self.jitter = jitter
        self._outage: outage.Outage | None = None

    def state(self) -> str:
        """One line for the log and systemd's STATUS: what is ingested, what is on standby."""
        if not self.standby:
            return f"ingesting {len(self.docks)} dock(s)"
        names = ", ".join(self.standby)
        return f"ingesting {len(self.docks) - len(self.standby)} dock(s), standby for {names}"

    def held(self) -> list[str]:
        return [d for d in self.docks if d not in self.standby]

    def run(self) -> None:
        """Turn until a stop is requested; returns at the first step boundary after it."""
        while self.turn():
            pass

    def turn(self) -> bool:
        """One turn of the loop; False once a stop request has ended it."""
        if self.stop.is_set():
            return False
        self._take_over()
        if self.stop.is_set():
            return False
        try:
            self._rescan()
            if self.stop.is_set():
                return False
            report = self._pass()
        except DatabaseUnavailable as e:
            return self._database_down(e)
        self._database_up()
        self._worked = self._worked or report.progressed > 0
        settled = self._worked and report.progressed == 0
        if settled or self.clock() - self._last_sweep >= self.sweep_seconds:
            if self.stop.is_set():
                return False
            _guarded("linking and deadline sweep", self.cases.tick)
            self._last_sweep = self.clock()
            self._worked = False
        if self.clock() - self._last_checkpoint >= self.checkpoint_seconds:
            if self.stop.is_set():
                return False
            self._checkpoint()
        if report.progressed == 0:
            if self.stop.is_set():
                return False
            self.queue.wait(self.idle_seconds)
        return not self.stop.is_set()

    # --- the steps ----------------------------------------------------------------

    def _database_down(self, e: DatabaseUnavailable) -> bool:
        """Say it once, show it to systemd, wait out the backoff (a stop request ends the wait)."""
        error = " ".join(str(e.args[0] if e.args else e).split())
        retry = outage.failed(self._outage, "database", error, self.wall(), jitter=self.jitter())
        self._outage = retry.outage
        if retry.say is not None:
            log.warning("%s", retry.say)
        else:
            log.debug("database still unreachable: %s", e)
        self.status(retry.status)
        # the scans that failed took their docks' events: only a full scan finds those files
        self._last_full = float("-inf")
        until = self.clock() + retry.wait_seconds
        while not self.stop.is_set() and self.clock() < until:
            self.queue.take()  # dock events meanwhile are answered by that full scan
            self.queue.wait(until - self.clock())
        return not self.stop.is_set()

    def _database_up(self) -> None:
        if self._outage is None:
            return
        log.warning("%s", outage.ended(self._outage, self.wall()))
        self._outage = None
        self.status(self.state())

    def _checkpoint(self) -> None:
        """Sign the log when it grew (the callee decides); a log that no longer extends what
        was published stops the daemon (``LogRolledBack``), anything else is tried next time."""
        try:
            self.checkpoint()
        except LogRolledBack:
            raise
        except Exception:
            log.exception("publishing a checkpoint of the custody log failed; trying again later")
        self._last_checkpoint = self.clock()

    def _take_over(self) -> None:
        taken = [d for d in self.standby if self.acquire(d)]
        if not taken:
            return
        for name in taken:
            log.warning("dock %s: its holder has ended; taken over", name)
            self.standby.remove(name)
        self.status(self.state())
        self._last_full = float("-inf")  # what arrived meanwhile is found by a full scan

    def _rescan(self) -> None:
        held = self.held()
        if self.clock() - self._last_full >= self.reconcile_seconds:
            self.queue.take()  # every dock is scanned now: earlier events are answered
            _guarded("reading camera clocks", self.cases.read_dock_clocks, held, passed=DatabaseUnavailable)
            for name in held:
                if self.stop.is_set():  # each dock's scan is a step: the next start rescans all
                    return
                self._scan(name)
            self._last_full = self.clock()
            log.debug("full scan of %d dock(s) done", len(held))
            return
        for name in sorted(self.queue.take() & set(held)):
            if self.stop.is_set():
                return
            log.debug("dock %s changed: rescanning it", name)
            self._scan(name)

    def _scan(self, name: str) -> None:
        try:
            self.ingest.scan(name)
        except DatabaseUnavailable:
            raise  # not this dock's failure: the turn waits for the database
        except Exception as e:  # a dock that is unplugged mid-scan must not stop the daemon
            log.warning("dock %s: scan failed: %s", name, e)


class Passes:
    """One ingest pass at a time. A failure outside any one file (the database, a bug) is
    logged (its trace once, until a pass succeeds again) and the pass is tried again at the
    next turn, so ingestion and the deadline sweep go on."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest
        self.failing = False

    def __call__(self) -> PassSummary:
        try:
            report = self.ingest.run_once()
        except DatabaseUnavailable:
            raise  # an outage, not a failure of the pass: the daemon waits for the database
        except Exception as e:
            if self.failing:
                log.warning("ingest pass failed again: %s; trying again at the next turn", e)
            else:
                log.exception("ingest pass failed unexpectedly; trying again at the next turn")
            self.failing = True
            return PassSummary()
        self.failing = False
        return report


def _guarded(
    what: str, fn: Callable[..., object], *args: Any, passed: type[Exception] | tuple[()] = ()
) -> None:
    """Deadlines and linking must never stop ingestion: a failure is logged and tried next time
    (but for ``passed``, which the caller handles)."""
    try:
        fn(*args)
    except passed:
        raise
    except Error as e:
        log.warning("%s failed: %s; trying again at the next turn", what, e)
    except Exception:  # a database hiccup or a bug there must not take ingestion down with it
        log.exception("%s failed unexpectedly; trying again at the next turn", what)
