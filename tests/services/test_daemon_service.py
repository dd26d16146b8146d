"""The daemon's schedule through fakes: a fake clock, a fake dirty-dock queue, fake ingest and
cases services, a fake lead. No sleeps, no subprocess: every time below is the fake clock's.
The leader's loop is unit-tested on its own (``LeaderService.turn``/``run`` with the fake
clock); only the tests of the two loops side by side run real threads, ordered by Events."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fakes import FakeLeadership, FakeMetrics, LeaderSeat

from recorder_sync.domain.errors import DatabaseUnavailable, LogRolledBack, StorageUnavailable
from recorder_sync.domain.leadership import SweepRun
from recorder_sync.services.daemon import DaemonService
from recorder_sync.services.ingest import PassSummary
from recorder_sync.services.leader import LeaderService

HORIZON = 10_000.0
"""Fake seconds after which a loop that has not stopped fails the test instead of turning for ever."""


@dataclass
class World:
    """The clock, the stop flag and the journal of what the loop did, shared by the fakes."""

    now: float = 0.0
    stopped: bool = False
    journal: list[tuple[float, str]] = field(default_factory=list)
    hooks: dict[str, Callable[[], None]] = field(default_factory=dict)

    def clock(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return self.stopped

    def did(self, what: str) -> None:
        self.journal.append((self.now, what))
        hook = self.hooks.pop(what, None)
        if hook is not None:
            hook()

    def times(self, what: str) -> list[float]:
        return [t for t, w in self.journal if w == what]

    def stop(self) -> None:
        self.stopped = True


@dataclass
class FakeQueue:
    """Docks marked dirty at given fake times; ``wait`` moves the clock to the next mark (or
    the stop request, which wakes the loop like the real one), or by ``timeout``."""

    world: World
    marks: list[tuple[float, str]] = field(default_factory=list)
    stop_at: float | None = None
    dirty: set[str] = field(default_factory=set)
    waits: list[float] = field(default_factory=list)

    def take(self) -> set[str]:
        self._arrive(self.world.now)
        dirty, self.dirty = self.dirty, set()
        return dirty

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        self.world.did("wait")
        if self.dirty:
            return True
        until = self.world.now + timeout
        wakes = [t for t, _ in self.marks if t <= until]
        if self.stop_at is not None and self.stop_at <= until:
            wakes.append(self.stop_at)
        if wakes:
            self.world.now = max(self.world.now, min(wakes))
        else:
            self.world.now = until
        assert self.world.now < HORIZON, f"the loop did not stop: {self.world.journal[-5:]}"
        if self.stop_at is not None and self.stop_at <= self.world.now:
            self.world.stopped = True
        self._arrive(self.world.now)
        return bool(self.dirty) or self.world.stopped

    def _arrive(self, now: float) -> None:
        self.dirty |= {d for t, d in self.marks if t <= now}
        self.marks = [(t, d) for t, d in self.marks if t > now]


@dataclass
class FakeIngest:
    world: World
    progress: list[int] = field(default_factory=list)
    """What each pass reports as progressed, in order; 0 once it is used up."""
    failing_scans: set[str] = field(default_factory=set)
    failing_passes: int = 0
    db_down: tuple[float, float] = (HORIZON, HORIZON)
    """From when until when (fake seconds) the database cannot be reached."""

    def _database(self) -> None:
        if self.db_down[0] <= self.world.now < self.db_down[1]:
            raise DatabaseUnavailable("connection refused")

    def scan(self, dock_name: str) -> None:
        self.world.did(f"scan {dock_name}")
        self._database()
        if dock_name in self.failing_scans:
            raise OSError(5, "Input/output error")

    def run_once(self) -> PassSummary:
        self.world.did("pass")
        self._database()
        if self.failing_passes:
            self.failing_passes -= 1
            raise RuntimeError("database went away")
        return PassSummary(progressed=self.progress.pop(0) if self.progress else 0)


@dataclass
class FakeCases:
    world: World
    clocks_read: list[list[str]] = field(default_factory=list)
    failing: bool = False

    def read_dock_clocks(self, docks: Sequence[str]) -> int:
        self.world.did("clocks")
        self.clocks_read.append(list(docks))
        return 0

    def tick(self) -> None:
        self.world.did("sweep")
        if self.failing:
            raise StorageUnavailable("database", "connection refused")


@dataclass
class AskedLeader:
    """The leader as the ingest loop sees it: what it was asked, in the journal."""

    world: World
    fatal: BaseException | None = None
    started: bool = False
    halted: bool = False

    def ask(self) -> None:
        self.world.did("ask for a sweep")

    def start(self) -> None:
        self.started = True

    def halt(self) -> None:
        self.halted = True


@dataclass
class Rig:
    world: World
    queue: FakeQueue
    ingest: FakeIngest
    cases: FakeCases
    leader: AskedLeader
    statuses: list[tuple[float, str]] = field(default_factory=list)
    free_at: dict[str, float] = field(default_factory=dict)
    """Standby docks: the fake time their holder ends."""
    alive_at: list[float] = field(default_factory=list)

    def acquire(self, name: str) -> bool:
        return self.world.now >= self.free_at.get(name, HORIZON)

    def daemon(
        self,
        docks: Sequence[str] = ("a", "b"),
        *,
        reconcile: float = HORIZON,
        standby: Sequence[str] = (),
        metrics: FakeMetrics | None = None,
    ) -> DaemonService:
        return DaemonService(
            ingest=self.ingest,
            cases=self.cases,
            queue=self.queue,
            clock=self.world.clock,
            stop=self.world,
            docks=docks,
            standby=standby,
            acquire=self.acquire,
            status=lambda text: self.statuses.append((self.world.now, text)),
            reconcile_seconds=reconcile,
            leader=self.leader,
            alive=lambda: self.alive_at.append(self.world.now),
            metrics=metrics or FakeMetrics(),
            wall=lambda: WALL + timedelta(seconds=self.world.now),
            jitter=lambda: 0.5,
        )


WALL = datetime(2026, 11, 30, tzinfo=UTC)
"""The wall clock at fake second 0."""


@pytest.fixture
def rig() -> Rig:
    world = World()
    return Rig(world, FakeQueue(world), FakeIngest(world), FakeCases(world), AskedLeader(world))


def test_every_dock_is_rescanned_every_reconcile_seconds(rig: Rig) -> None:
    rig.queue.stop_at = 150.0
    rig.daemon(reconcile=60).run()
    for dock in ("a", "b"):
        assert rig.world.times(f"scan {dock}") == [0.0, 60.0, 120.0]
    # the camera clocks are read with each full scan, before it
    assert rig.world.times("clocks") == [0.0, 60.0, 120.0]
    assert rig.cases.clocks_read == [["a", "b"]] * 3
    assert set(rig.queue.waits) == {1.0}  # idle: it looks again every second, in between
    assert rig.world.now == 150.0


def test_a_dirty_dock_is_rescanned_at_once_and_alone(rig: Rig) -> None:
    rig.queue.marks = [(10.5, "b"), (33.25, "c")]  # c: not one of ours (another dock, a typo)
    rig.queue.stop_at = 50.0
    rig.daemon(reconcile=60).run()
    assert rig.world.times("scan a") == [0.0]
    assert rig.world.times("scan b") == [0.0, 10.5]  # when it was marked, not at the next second
    assert rig.world.times("pass")[:3] == [0.0, 1.0, 2.0]
    assert 10.5 in rig.world.times("pass")
    assert not [w for _, w in rig.world.journal if w == "scan c"]


def test_events_before_a_full_scan_are_answered_by_it(rig: Rig) -> None:
    # marked just before the periodic rescan: the full scan covers it, no second scan
    rig.queue.marks = [(59.5, "a")]
    rig.queue.stop_at = 70.0
    rig.daemon(reconcile=59.5).run()
    assert rig.world.times("scan a") == [0.0, 59.5]
    assert rig.world.times("scan b") == [0.0, 59.5]


def test_the_leader_is_asked_for_a_sweep_when_a_batch_is_done(rig: Rig) -> None:
    # a dock event at t=5 brings work for three passes (2, 1 files), then nothing
    rig.queue.marks = [(5.0, "a")]
    rig.ingest.progress = [0, 0, 0, 0, 0, 2, 1]
    rig.queue.stop_at = 700.0
    daemon = rig.daemon()
    daemon.run()
    # right after the pass that found nothing more to do; never while idle
    assert rig.world.times("ask for a sweep") == [5.0]
    passes_at_5 = [w for t, w in rig.world.journal if t == 5.0]
    # busy passes follow each other without waiting; the ask comes after the last one
    assert passes_at_5 == ["scan a", "pass", "pass", "pass", "ask for a sweep", "wait"]
    # the leader's loop ran beside it and was waited for
    assert rig.leader.started and rig.leader.halted


STEPS = ["clocks", "scan a", "scan b", "pass", "wait"]


@pytest.mark.parametrize("during", STEPS)
def test_a_stop_request_ends_the_loop_within_the_step_it_arrives_in(rig: Rig, during: str) -> None:
    rig.world.hooks[during] = rig.world.stop
    rig.daemon().run()  # returns: a loop that turned on would fail on the horizon
    # the step it arrived in is the last one begun
    assert rig.world.journal[-1] == (0.0, during)
    assert [w for _, w in rig.world.journal] == STEPS[: STEPS.index(during) + 1]


def test_a_stop_request_while_idle_wakes_the_loop(rig: Rig) -> None:
    rig.queue.stop_at = 7.25
    rig.daemon().run()
    assert rig.world.now == 7.25  # not at the end of the idle second
    assert rig.world.journal[-1] == (7.0, "wait")


def test_a_stop_requested_before_start_does_nothing(rig: Rig) -> None:
    rig.world.stopped = True
    rig.daemon().run()
    assert rig.world.journal == []


def test_a_standby_dock_is_taken_over_when_its_holder_ends_then_scanned(rig: Rig) -> None:
    rig.free_at = {"b": 20.0}
    rig.queue.marks = [(12.0, "b")]  # changes on a dock we do not hold are not ours to scan
    rig.queue.stop_at = 30.0
    daemon = rig.daemon(reconcile=HORIZON, standby=["b"])
    assert daemon.state() == "ingesting 1 dock(s), standby for b"
    daemon.run()
    assert rig.statuses == [(20.0, "ingesting 2 dock(s)")]
    assert daemon.state() == "ingesting 2 dock(s)"
    assert rig.world.times("scan b") == [20.0]  # a full scan when taken over, never before
    assert rig.world.times("scan a") == [0.0, 20.0]
    assert rig.cases.clocks_read == [["a"], ["a", "b"]]


def test_failures_outside_ingestion_never_stop_it(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.ingest.failing_scans = {"a"}
    rig.ingest.failing_passes = 3
    rig.queue.stop_at = 5.0
    with caplog.at_level(logging.WARNING, logger="recorder_sync.services.daemon"):
        rig.daemon().run()
    assert rig.world.times("scan b") == [0.0]  # a's failed scan did not skip b
    assert rig.world.times("pass") == [0.0, 1.0, 2.0, 3.0, 4.0]
    messages = [r.getMessage() for r in caplog.records]
    assert "dock a: scan failed: [Errno 5] Input/output error" in messages
    # a failing pass: its trace once, then one line a turn until it works again
    traced = [r for r in caplog.records if r.exc_info]
    assert [r.getMessage() for r in traced] == [
        "ingest pass failed unexpectedly; trying again at the next turn"
    ]
    assert messages.count("ingest pass failed again: database went away; trying again at the next turn") == 2


def test_a_stop_that_interrupts_a_step_is_not_swallowed(rig: Rig) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt("SIGTERM")  # what the ingest meter raises inside a long hash

    rig.world.hooks["pass"] = interrupted
    with pytest.raises(KeyboardInterrupt):
        rig.daemon().run()
    assert rig.world.journal[-1] == (0.0, "pass")


def test_a_fatal_error_of_the_leaders_loop_ends_the_daemon(rig: Rig) -> None:
    def rolled_back() -> None:
        rig.leader.fatal = LogRolledBack(
            "the database's log has 3 events, but a checkpoint of 5 was published"
        )

    rig.world.hooks["wait"] = rolled_back
    rig.queue.stop_at = 100.0
    with pytest.raises(LogRolledBack, match="checkpoint of 5"):
        rig.daemon().run()
    assert rig.world.times("pass") == [0.0]  # the next turn did not begin
    assert rig.leader.halted


def test_the_loop_says_it_is_alive_each_turn_and_only_between_steps(rig: Rig) -> None:
    rig.queue.stop_at = 5.0
    rig.daemon().run()
    passes = rig.world.times("pass")
    assert passes == [0.0, 1.0, 2.0, 3.0, 4.0]  # idle: a turn a second
    # at each turn's start and right after its pass: nothing else (no timer) says it, so a loop
    # stuck in a step falls silent
    assert rig.alive_at == sorted(passes + passes)


def test_failed_passes_are_counted(rig: Rig) -> None:
    metrics = FakeMetrics()
    rig.ingest.failing_passes = 2
    rig.queue.stop_at = 3.0
    rig.daemon(metrics=metrics).run()
    assert metrics.errors == [("other", "RuntimeError")] * 2


# --- the leader's loop ---------------------------------------------------------------


@dataclass
class FakeWake:
    """The leader's sleep on the fake clock: a wait moves it by the timeout, or to the next
    thing planned (a sweep asked for, a stop request) that wakes the loop sooner."""

    world: World
    planned: list[tuple[float, Callable[[], None]]] = field(default_factory=list)

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.world.did("leader waits")
        until = self.world.now + timeout
        due = sorted(p for p in self.planned if p[0] <= until)
        self.world.now = due[0][0] if due else until
        assert self.world.now < HORIZON, f"the leader's loop did not stop: {self.world.journal[-5:]}"
        for p in [p for p in self.planned if p[0] <= self.world.now]:
            self.planned.remove(p)
            p[1]()
        return bool(due)

    def set(self) -> None:
        pass

    def clear(self) -> None:
        pass


T0 = datetime(2026, 11, 30, 5, tzinfo=UTC)


@dataclass
class MemoryJournal:
    """``DaemonJournal`` for one daemon, in memory, times from the fake clock."""

    world: World
    owner: str = "st-a/1/x"
    lead: list[datetime | None] = field(default_factory=list)
    runs: list[SweepRun] = field(default_factory=list)

    def register(self, now: datetime) -> None:
        pass

    def leading(self, since: datetime | None) -> None:
        self.lead.append(since)

    def sweep_started(self, now: datetime) -> int:
        self.runs.append(SweepRun(len(self.runs) + 1, self.owner, now, None, None))
        return len(self.runs)

    def sweep_ended(self, run: int, now: datetime, ok: bool) -> None:
        r = self.runs[run - 1]
        self.runs[run - 1] = SweepRun(r.id, r.owner, r.started_at, now, ok)

    def gone(self) -> None:
        pass


@dataclass
class LeaderRig:
    world: World
    seat: LeaderSeat = field(default_factory=LeaderSeat)
    failing: bool = False

    def leader(
        self,
        name: str = "a",
        *,
        sweep: float = HORIZON,
        checkpoint: Callable[[], object] | None = None,
        checkpoint_seconds: float = HORIZON,
        wake: FakeWake | None = None,
    ) -> tuple[LeaderService, FakeLeadership, MemoryJournal]:
        lead = FakeLeadership(self.seat)
        journal = MemoryJournal(self.world, owner=name)

        def tick() -> None:
            self.world.did(f"sweep {name}")
            if self.failing:
                raise StorageUnavailable("database", "connection refused")

        service = LeaderService(
            leadership=lead,
            tick=tick,
            clock=self.world.clock,
            wall=lambda: T0 + timedelta(seconds=self.world.now),
            stop=self.world,
            wake=wake or FakeWake(self.world),
            sweep_seconds=sweep,
            checkpoint=checkpoint or (lambda: self.world.did(f"checkpoint {name}")),
            checkpoint_seconds=checkpoint_seconds,
            journal=journal,
        )
        return service, lead, journal


@pytest.fixture
def lr() -> LeaderRig:
    return LeaderRig(World())


def test_the_leader_sweeps_at_start_when_asked_and_every_sweep_seconds(lr: LeaderRig) -> None:
    wake = FakeWake(lr.world)
    leader, _, journal = lr.leader(sweep=300, wake=wake)
    leader.metrics = metrics = FakeMetrics()
    wake.planned = [(5.25, leader.ask), (700.0, lr.world.stop)]
    leader.run()
    # at start; when the ingest loop asked (at once, not at the next second); then every 300 s
    assert lr.world.times("sweep a") == [0.0, 5.25, 305.25, 605.25]
    # each sweep is in the journal, with its start and end
    assert [(r.started_at, r.ok) for r in journal.runs] == [
        (T0 + timedelta(seconds=t), True) for t in (0.0, 5.25, 305.25, 605.25)
    ]
    assert all(r.ended_at is not None for r in journal.runs)
    # each sweep is counted, with its duration (the fake clock does not move during a tick)
    assert metrics.sweeps == [0.0] * 4


def test_only_the_leader_sweeps_and_another_takes_over_at_once_when_it_dies(
    lr: LeaderRig, caplog: pytest.LogCaptureFixture
) -> None:
    a, lead_a, journal_a = lr.leader("a", sweep=300, checkpoint_seconds=60)
    b, lead_b, journal_b = lr.leader("b", sweep=300, checkpoint_seconds=60)
    with caplog.at_level(logging.INFO, logger="recorder_sync.services.leader"):
        for t in range(10):
            lr.world.now = float(t)
            a.turn()
            b.turn()
        lead_a.die()  # killed: its lock is freed with it
        for t in range(10, 15):
            lr.world.now = float(t)
            b.turn()
    assert lr.world.times("sweep a") == [0.0] and lr.world.times("checkpoint a") == [0.0]
    # b tried every turn, and swept and signed as soon as it led (a may have died mid-sweep)
    assert lead_b.tries >= 15
    assert lr.world.times("sweep b") == [10.0] and lr.world.times("checkpoint b") == [10.0]
    assert journal_b.lead == [T0 + timedelta(seconds=10)]
    assert journal_a.lead == [T0]
    leading = [r.getMessage() for r in caplog.records if r.getMessage().startswith("leading")]
    assert len(leading) == 2  # once each, not once a turn


def test_a_leader_that_loses_the_lead_stops_before_its_next_step(
    lr: LeaderRig, caplog: pytest.LogCaptureFixture
) -> None:
    a, lead_a, journal_a = lr.leader("a", sweep=300, checkpoint_seconds=60)
    b, _, _ = lr.leader("b", sweep=300, checkpoint_seconds=60)
    lr.world.hooks["sweep a"] = lead_a.cut  # its connection is lost during the sweep
    with caplog.at_level(logging.INFO, logger="recorder_sync.services.leader"):
        a.turn()
        b.turn()
        lr.world.now = 1.0
        a.turn()
        a.turn()
    # the checkpoint that would have followed the sweep was not signed by a, but by b
    assert lr.world.journal == [(0.0, "sweep a"), (0.0, "sweep b"), (0.0, "checkpoint b")]
    assert journal_a.lead == [T0, None]
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("no longer leading: another daemon may take over") == 1


@pytest.mark.parametrize("during", ["sweep a", "checkpoint a"])
def test_a_stop_request_ends_the_leaders_loop_after_the_step_it_arrives_in(
    lr: LeaderRig, during: str
) -> None:
    leader, _, journal = lr.leader("a", checkpoint_seconds=60)
    lr.world.hooks[during] = lr.world.stop
    leader.run()
    assert lr.world.journal[-1] == (0.0, during)
    assert all(r.ended_at is not None for r in journal.runs)  # the sweep in progress was finished


def test_a_failing_sweep_is_tried_again_and_recorded_as_failed(
    lr: LeaderRig, caplog: pytest.LogCaptureFixture
) -> None:
    lr.failing = True
    wake = FakeWake(lr.world, [(5.0, lr.world.stop)])
    leader, _, journal = lr.leader(sweep=2, wake=wake)
    with caplog.at_level(logging.WARNING, logger="recorder_sync.services.leader"):
        leader.run()
    assert lr.world.times("sweep a") == [0.0, 2.0, 4.0]
    assert [r.ok for r in journal.runs] == [False] * 3
    assert "linking and deadline sweep failed: " in caplog.text
    assert leader.fatal is None


def test_a_checkpoint_is_offered_at_start_and_every_checkpoint_seconds(lr: LeaderRig) -> None:
    wake = FakeWake(lr.world, [(130.0, lr.world.stop)])
    leader, _, _ = lr.leader(checkpoint_seconds=60, wake=wake)
    leader.run()
    assert lr.world.times("checkpoint a") == [0.0, 60.0, 120.0]
    first_turn = [w for t, w in lr.world.journal if t == 0.0]
    assert first_turn.index("checkpoint a") > first_turn.index("sweep a")


def test_a_store_that_cannot_take_a_checkpoint_does_not_stop_the_leader(
    lr: LeaderRig, caplog: pytest.LogCaptureFixture
) -> None:
    def unavailable() -> None:
        lr.world.did("checkpoint a")
        raise StorageUnavailable("vault is not mounted")

    wake = FakeWake(lr.world, [(25.0, lr.world.stop)])
    leader, _, _ = lr.leader(checkpoint=unavailable, checkpoint_seconds=10, wake=wake)
    with caplog.at_level(logging.WARNING, logger="recorder_sync.services.leader"):
        leader.run()
    assert lr.world.times("checkpoint a") == [0.0, 10.0, 20.0]
    assert "publishing a checkpoint of the custody log failed" in caplog.text
    assert leader.fatal is None


def test_a_log_that_no_longer_extends_the_published_one_ends_the_leaders_loop(lr: LeaderRig) -> None:
    def rolled_back() -> None:
        lr.world.did("checkpoint a")
        if lr.world.now >= 10.0:
            raise LogRolledBack("the database's log has 3 events, but a checkpoint of 5 was published")

    wake = FakeWake(lr.world, [(100.0, lr.world.stop)])
    leader, _, _ = lr.leader(checkpoint=rolled_back, checkpoint_seconds=10, wake=wake)
    leader.run()  # returns: the daemon's main thread raises it (above)
    assert isinstance(leader.fatal, LogRolledBack)
    assert lr.world.times("checkpoint a") == [0.0, 10.0]
    assert lr.world.journal[-1] == (10.0, "checkpoint a")


# --- the two loops side by side: real threads, ordered by Events ----------------------


class HaltNoted(LeaderService):
    """The leader's loop, which says when the ingest loop has ended and waits for it."""

    def __init__(self, world: World, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.world = world
        self.halting = threading.Event()

    def halt(self) -> None:
        self.world.did("ingest loop ended")
        self.halting.set()
        super().halt()


def _side_by_side(rig: Rig) -> tuple[DaemonService, HaltNoted, threading.Event, threading.Event]:
    """A daemon whose leader's first sweep blocks until ``release`` is set; ``sweeping`` is set
    once it is blocked."""
    sweeping, release = threading.Event(), threading.Event()

    def tick() -> None:
        rig.world.did("sweep starts")
        sweeping.set()
        assert release.wait(60), "the test never released the sweep"
        rig.world.did("sweep ends")

    leader = HaltNoted(
        rig.world,
        leadership=FakeLeadership(LeaderSeat()),
        tick=tick,
        clock=lambda: 0.0,  # one sweep: none falls due again
        wall=lambda: T0,
        stop=rig.world,
        wake=threading.Event(),
        sweep_seconds=HORIZON,
    )
    daemon = DaemonService(
        ingest=rig.ingest,
        cases=rig.cases,
        queue=rig.queue,
        clock=rig.world.clock,
        stop=rig.world,
        docks=["a"],
        reconcile_seconds=HORIZON,
        leader=leader,
    )
    return daemon, leader, sweeping, release


def test_an_ingest_pass_completes_while_a_sweep_is_blocked(rig: Rig) -> None:
    daemon, leader, sweeping, release = _side_by_side(rig)
    passed = threading.Event()

    def pass_during_the_sweep() -> None:
        assert sweeping.wait(60), "the leader never swept"
        passed.set()

    rig.world.hooks["pass"] = pass_during_the_sweep
    rig.ingest.progress = [3, 0]  # the pass ingests three files, the next finds nothing
    rig.queue.stop_at = 5.0
    runner = threading.Thread(target=daemon.run)
    runner.start()
    try:
        assert passed.wait(60), "no ingest pass while the sweep was blocked"
        assert leader.halting.wait(60), "the ingest loop did not go on turning during the sweep"
        # the ingest loop turned to its end (a busy pass, the one that found the batch done,
        # then one a second) with the sweep still blocked
        assert rig.world.times("pass") == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]
        assert rig.world.times("sweep ends") == []
    finally:
        release.set()
        runner.join()


def test_a_stop_waits_for_the_sweep_in_progress_to_end(rig: Rig) -> None:
    daemon, leader, sweeping, release = _side_by_side(rig)
    rig.world.hooks["pass"] = lambda: None if sweeping.wait(60) else pytest.fail("no sweep")
    rig.queue.stop_at = 2.0
    returned = threading.Event()

    def run() -> None:
        daemon.run()
        rig.world.did("daemon returned")
        returned.set()

    runner = threading.Thread(target=run)
    runner.start()
    try:
        assert leader.halting.wait(60)
        assert not returned.is_set()  # the sweep is blocked on `release`: run() cannot have returned
    finally:
        release.set()
        runner.join()
    steps = [w for _, w in rig.world.journal if w in ("sweep ends", "ingest loop ended", "daemon returned")]
    assert steps == ["ingest loop ended", "sweep ends", "daemon returned"]


class RefusedLeadership:
    """A lead that cannot even be tried for (a lock file in a folder this user cannot write)."""

    def try_lead(self) -> bool:
        raise DatabaseUnavailable("cannot open the leader lock /srv/db/catalog.db.leader: Permission denied")

    def release(self) -> None:
        pass


def test_a_lead_that_cannot_be_tried_for_is_reported_once_and_nothing_is_swept(
    lr: LeaderRig, caplog: pytest.LogCaptureFixture
) -> None:
    wake = FakeWake(lr.world, [(5.0, lr.world.stop)])
    leader, _, journal = lr.leader(checkpoint_seconds=1, wake=wake)
    leader.leadership = RefusedLeadership()
    with caplog.at_level(logging.WARNING, logger="recorder_sync.services.leader"):
        leader.run()
    assert lr.world.times("leader waits") == [0.0, 1.0, 2.0, 3.0, 4.0]  # tried every second
    assert [w for _, w in lr.world.journal if w != "leader waits"] == []  # no sweep, no checkpoint
    assert journal.lead == [] and leader.fatal is None
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [
        "cannot try for the lead: Database unavailable: cannot open the leader lock "
        "/srv/db/catalog.db.leader: Permission denied; trying again every 1 s"
    ]


def test_a_database_outage_is_said_once_retried_with_backoff_then_every_dock_rescanned(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.ingest.db_down = (5.0, 20.0)
    rig.queue.marks = [(7.0, "a")]  # a file arrives meanwhile: its event is lost with the scan
    rig.queue.stop_at = 23.0
    with caplog.at_level(logging.DEBUG, logger="recorder_sync.services.daemon"):
        rig.daemon().run()
    # tried at 5, then after 1, 2, 4, 8 s; never every idle second
    assert rig.world.times("pass") == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 20.0, 21.0, 22.0]
    # each retry starts with a full rescan (the first failing scan ends it): what came meanwhile is found
    assert rig.world.times("scan a") == [0.0, 6.0, 8.0, 12.0, 20.0]
    assert rig.world.times("scan b") == [0.0, 20.0]
    assert rig.statuses == [
        (5.0, "database unreachable since 2026-11-30 00:00:05 UTC; next attempt in 1 s"),
        (6.0, "database unreachable since 2026-11-30 00:00:05 UTC; next attempt in 2 s"),
        (8.0, "database unreachable since 2026-11-30 00:00:05 UTC; next attempt in 4 s"),
        (12.0, "database unreachable since 2026-11-30 00:00:05 UTC; next attempt in 8 s"),
        (20.0, "ingesting 2 dock(s)"),
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert [w.split(":")[0] for w in warnings] == [
        "database unreachable",
        "database reachable again after 15 s (4 failed attempt(s)); carrying on, every dock rescanned",
    ]
    assert not [r for r in caplog.records if r.exc_info]


def test_a_stop_request_ends_the_wait_for_the_database(rig: Rig) -> None:
    rig.ingest.db_down = (0.0, HORIZON)
    rig.queue.stop_at = 10.0
    rig.daemon().run()
    assert rig.world.now == 10.0  # woken by the stop request in the middle of a 8 s wait
    assert rig.world.times("scan a") == [0.0, 1.0, 3.0, 7.0]
    assert rig.world.times("pass") == []
