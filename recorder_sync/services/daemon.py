"""The daemon's scheduling loop: when to rescan, ingest and wait.

One turn of the loop is a short list of steps, and a stop request is honoured between any
two of them (a long hash or copy inside a step stops on its own, through the ingest meter):

1. take over any dock on standby whose holder has ended (then rescan everything);
2. rescan every held dock at start and every ``reconcile_seconds`` (watch events are only
   hints: inotify drops them, network mounts send none), else only the docks marked dirty;
3. one ingest pass;
4. when a batch of work is done, ask the leader's loop for a sweep, so that new footage is
   linked and its flags settled without waiting for the period;
5. when the pass did nothing, wait for a dirty dock (or a stop request) for ``idle_seconds``.

Linking, deadline sweeps, alerts and checkpoints are the leader's
(:class:`~recorder_sync.services.leader.LeaderService`): they run in a thread of their own,
in one daemon of those sharing the database, so a long sweep never delays a pass; :meth:`run`
starts that thread and, at the end, waits for the step it is in.

Everything it touches is injected: the clock, the dirty-dock queue, the ingest and cases
services, the standby lock, so that the schedule is unit-tested without threads or timing.
A dock's scan must never stop ingestion: its failures are logged and tried again at the
next turn. A database that cannot be reached stops the turn instead (nothing can be
recorded, so nothing is done): it is said once, systemd's STATUS says since when, the turn
is tried again after a bounded backoff (``domain.outage``), and once the database answers
every dock is rescanned, since the events of the outage were lost.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from recorder_sync.domain import outage
from recorder_sync.domain.errors import DatabaseUnavailable
from recorder_sync.domain.metrics import NO_METRICS, error_family
from recorder_sync.domain.ports import Metrics
from recorder_sync.services.ingest import PassSummary
from recorder_sync.services.leader import guarded

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


Clock = Callable[[], float]
"""Monotonic seconds."""


class Leader(Protocol):
    fatal: BaseException | None

    def ask(self) -> None: ...

    def start(self) -> None: ...

    def halt(self) -> None: ...


class NoLeader:
    """A loop without the leader's work (unit tests of the schedule)."""

    fatal: BaseException | None = None

    def ask(self) -> None:
        pass

    def start(self) -> None:
        pass

    def halt(self) -> None:
        pass


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
        idle_seconds: float = IDLE_SECONDS,
        leader: Leader | None = None,
        alive: Callable[[], object] = lambda: None,
        metrics: Metrics = NO_METRICS,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        """``standby``: docks another process holds; ``acquire(name)`` tries to take one over
        (its lock, and adding it to ``ingest``), True once it is ours; ``status`` is told the
        new :meth:`state` when that happens; ``leader``: the leader's loop, asked for a sweep
        when a batch of work is done; ``alive`` is called at each step boundary of a turn that is
        not stuck (systemd's watchdog: a loop hung in a step stops calling it)."""
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
        self.idle_seconds = idle_seconds
        self.leader = leader or NoLeader()
        self._last_full = float("-inf")
        self.alive = alive
        self.metrics = metrics
        self._worked = False
        self._pass = Passes(ingest, metrics)
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
        """Turn until a stop is requested; returns at the first step boundary after it, once
        the leader's loop has finished the step it is in."""
        self.leader.start()
        try:
            while self.turn():
                pass
        finally:
            self.leader.halt()
        if self.leader.fatal is not None:
            raise self.leader.fatal

    def turn(self) -> bool:
        """One turn of the loop; False once a stop request has ended it."""
        if self.stop.is_set() or self.leader.fatal is not None:
            return False
        self.alive()
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
        self.alive()
        self._worked = self._worked or report.progressed > 0
        if self._worked and report.progressed == 0:
            self.leader.ask()  # a batch is done: settle its links and flags now
            self._worked = False
        if report.progressed == 0:
            if self.stop.is_set():
                return False
            self.queue.wait(self.idle_seconds)
        return not self.stop.is_set()

    # --- the steps ----------------------------------------------------------------

    def _database_down(self, e: DatabaseUnavailable) -> bool:
        """Say it once, show it to systemd, wait out the backoff (a stop request ends the wait)."""
        error = " ".join(str(e.args[0] if e.args else e).split())
        self.metrics.error(error_family(e), type(e).__name__)
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
            guarded("reading camera clocks", self.cases.read_dock_clocks, held, passed=DatabaseUnavailable)
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

    def __init__(self, ingest: Ingest, metrics: Metrics = NO_METRICS) -> None:
        self.ingest = ingest
        self.metrics = metrics
        self.failing = False

    def __call__(self) -> PassSummary:
        try:
            report = self.ingest.run_once()
        except DatabaseUnavailable:
            raise  # an outage, not a failure of the pass: the daemon waits for the database
        except Exception as e:
            self.metrics.error(error_family(e), type(e).__name__)
            if self.failing:
                log.warning("ingest pass failed again: %s; trying again at the next turn", e)
            else:
                log.exception("ingest pass failed unexpectedly; trying again at the next turn")
            self.failing = True
            return PassSummary()
        self.failing = False
        return report
