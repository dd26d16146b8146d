"""The leader's loop: linking, deadline sweeps, alerts and checkpoints, beside ingestion.

Among the daemons that share a database one leads (``domain.ports.Leadership``); only it
links, sweeps, alerts and signs checkpoints. This loop runs in a thread of its own, with its
own database connections, so a long full sweep never delays an ingest pass: the ingest loop
only asks for a sweep (:meth:`LeaderService.ask`) when a batch of work is done.

One turn:

1. try for the lead (a daemon that does not lead tries again every ``idle_seconds``; the
   transitions are logged once each: "leading", "no longer leading");
2. when a sweep was asked for or ``sweep_seconds`` have passed, link and sweep
   (``cases.tick``), recorded in the journal with who ran it and when;
3. every ``checkpoint_seconds``, sign and publish a checkpoint (and time-stamps).

The lead is checked again before each step: a leader whose database connection is lost stops
leading at once. A new leader sweeps and signs at once (the one before may have died in the
middle of either). A stop request is honoured between steps; a step in progress is finished
(the daemon's stop waits for it; a step hung on the database is cut by the shutdown's grace,
its transaction rolled back by the server, and the next leader sweeps again).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from recorder_sync.domain.errors import Error, LogRolledBack
from recorder_sync.domain.metrics import NO_METRICS
from recorder_sync.domain.ports import DaemonJournal, Leadership, Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")

IDLE_SECONDS = 1.0
"""How often a daemon that does not lead tries for the lead, and a leader looks whether a
sweep or checkpoint is due."""


class Wake(Protocol):
    """What the loop sleeps on between turns: woken by a sweep asked for, or a stop request
    (``threading.Event`` fits)."""

    def wait(self, timeout: float | None = None) -> bool: ...

    def set(self) -> None: ...

    def clear(self) -> None: ...


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


class LeaderService:
    def __init__(
        self,
        *,
        leadership: Leadership,
        tick: Callable[[], object],
        clock: Callable[[], float],
        wall: Callable[[], datetime],
        stop: StopFlag,
        wake: Wake,
        sweep_seconds: float,
        checkpoint: Callable[[], object] = lambda: None,
        checkpoint_seconds: float = 60.0,
        journal: DaemonJournal | None = None,
        idle_seconds: float = IDLE_SECONDS,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        """``tick``: link new recordings, then one deadline sweep; ``clock``: monotonic
        seconds, for the schedule; ``wall``: the time written in the journal."""
        self.leadership = leadership
        self.tick = tick
        self.clock = clock
        self.wall = wall
        self.stop = stop
        self.wake = wake
        self.sweep_seconds = sweep_seconds
        self.checkpoint = checkpoint
        self.checkpoint_seconds = checkpoint_seconds
        self.journal = journal
        self.idle_seconds = idle_seconds
        self.metrics = metrics
        self.leading = False
        self.fatal: BaseException | None = None
        """What ended the loop and must end the daemon (``LogRolledBack``), for its main thread."""
        self._asked = threading.Event()
        self._halted = threading.Event()
        self._last_sweep = self._last_checkpoint = float("-inf")
        self._thread: threading.Thread | None = None
        self._refused: str | None = None

    # --- asked from the ingest loop's thread ----------------------------------------

    def ask(self) -> None:
        """A batch of work is done: sweep at the next turn (when leading) to settle its flags."""
        self._asked.set()
        self.wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="leader", daemon=True)
        self._thread.start()

    def halt(self) -> None:
        """End the loop after the step in progress and wait for it (the thread, when started)."""
        self._halted.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join()

    # --- the loop ---------------------------------------------------------------------

    def stopping(self) -> bool:
        return self.stop.is_set() or self._halted.is_set()

    def run(self) -> None:
        try:
            while not self.stopping():
                self.turn()
                if self.stopping():
                    break
                self.wake.wait(self.idle_seconds)
                self.wake.clear()
        except LogRolledBack as e:
            self.fatal = e
        except BaseException as e:  # a bug: the main thread ends the daemon with it
            log.exception("the leader's loop failed")
            self.fatal = e

    def turn(self) -> None:
        if not self._lead():
            return
        if self.stopping():
            return
        if self._asked.is_set() or self.clock() - self._last_sweep >= self.sweep_seconds:
            if not self._lead():
                return
            self._asked.clear()  # a batch done during this sweep asks for the next one
            self._sweep()
            self._last_sweep = self.clock()
        if self.stopping():
            return
        if self.clock() - self._last_checkpoint >= self.checkpoint_seconds:
            if not self._lead():
                return
            self._checkpoint()
            self._last_checkpoint = self.clock()

    def give_up(self) -> None:
        """At the daemon's end: let another take the lead at once, not at its next check."""
        if self.leading:
            self._noted("giving the lead up", lambda j: j.leading(None))
            log.info("no longer leading: stopping")
        self.leading = False
        try:
            self.leadership.release()
        except Exception as e:
            log.warning("could not give the lead up: %s (it goes with this process)", e)

    # --- the steps ------------------------------------------------------------------

    def _lead(self) -> bool:
        try:
            leading = self.leadership.try_lead()
            self._refused = None
        except Exception as e:
            # once per cause, not once a second: ingestion goes on meanwhile
            if str(e) != self._refused:
                log.warning("cannot try for the lead: %s; trying again every %g s", e, self.idle_seconds)
            self._refused = str(e)
            leading = False
        if leading and not self.leading:
            log.info("leading: this daemon links, sweeps, alerts and signs checkpoints")
            since = self.wall()
            self._noted("taking the lead", lambda j: j.leading(since))
            # the one before may have died in the middle of a sweep or a checkpoint
            self._last_sweep = self._last_checkpoint = float("-inf")
        elif self.leading and not leading:
            log.warning("no longer leading: another daemon may take over")
            self._noted("losing the lead", lambda j: j.leading(None))
        self.leading = leading
        return leading

    def _sweep(self) -> None:
        started = self.wall()
        run = self._noted("the sweep's start", lambda j: j.sweep_started(started))
        began = self.clock()
        ok = guarded("linking and deadline sweep", self.tick)
        self.metrics.sweep_done(self.clock() - began)
        if run is not None:
            ended = self.wall()
            self._noted("the sweep's end", lambda j: j.sweep_ended(run, ended, ok))

    def _checkpoint(self) -> None:
        """A log that no longer extends what was published stops the daemon (``LogRolledBack``);
        anything else is tried at the next checkpoint."""
        try:
            self.checkpoint()
        except LogRolledBack:
            raise
        except Exception:
            log.exception("publishing a checkpoint of the custody log failed; trying again later")

    def _noted(self, what: str, write: Callable[[DaemonJournal], T]) -> T | None:
        """The journal is for people: a database hiccup writing it stops no sweep."""
        if self.journal is None:
            return None
        try:
            return write(self.journal)
        except Exception as e:
            log.warning("could not record %s in the daemons table: %s", what, e)
            return None


def guarded(
    what: str, fn: Callable[..., object], *args: Any, passed: type[Exception] | tuple[()] = ()
) -> bool:
    """Sweeps, linking, scans must never stop ingestion: a failure is logged and tried again at
    the next turn (but for ``passed``, which the caller handles). True when ``fn`` succeeded."""
    try:
        fn(*args)
    except passed:
        raise
    except Error as e:
        log.warning("%s failed: %s; trying again at the next turn", what, e)
        return False
    except Exception:  # a database hiccup or a bug there must not take ingestion down with it
        log.exception("%s failed unexpectedly; trying again at the next turn", what)
        return False
    return True
