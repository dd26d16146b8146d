"""The daemon's schedule through fakes: a fake clock, a fake dirty-dock queue, fake ingest and
cases services. No threads, no sleeps, no subprocess: every time below is the fake clock's."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from recorder_sync.domain.errors import DatabaseUnavailable, LogRolledBack, StorageUnavailable
from recorder_sync.services.daemon import DaemonService
from recorder_sync.services.ingest import PassSummary

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
class Rig:
    world: World
    queue: FakeQueue
    ingest: FakeIngest
    cases: FakeCases
    statuses: list[tuple[float, str]] = field(default_factory=list)
    free_at: dict[str, float] = field(default_factory=dict)
    """Standby docks: the fake time their holder ends."""

    def acquire(self, name: str) -> bool:
        return self.world.now >= self.free_at.get(name, HORIZON)

    def daemon(
        self,
        docks: Sequence[str] = ("a", "b"),
        *,
        reconcile: float = HORIZON,
        sweep: float = HORIZON,
        standby: Sequence[str] = (),
        checkpoint: Callable[[], object] = lambda: None,
        checkpoint_seconds: float = HORIZON,
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
            sweep_seconds=sweep,
            checkpoint=checkpoint,
            checkpoint_seconds=checkpoint_seconds,
            wall=lambda: WALL + timedelta(seconds=self.world.now),
            jitter=lambda: 0.5,
        )


WALL = datetime(2026, 11, 30, tzinfo=UTC)
"""The wall clock at fake second 0."""


@pytest.fixture
def rig() -> Rig:
    world = World()
    return Rig(world, FakeQueue(world), FakeIngest(world), FakeCases(world))


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


def test_sweep_at_start_when_a_batch_is_done_and_every_sweep_seconds(rig: Rig) -> None:
    # a dock event at t=5 brings work for three passes (2, 1 files), then nothing
    rig.queue.marks = [(5.0, "a")]
    rig.ingest.progress = [0, 0, 0, 0, 0, 2, 1]
    rig.queue.stop_at = 700.0
    rig.daemon(sweep=300).run()
    # at start; right after the pass that found nothing more to do (not 300 s later); then
    # every 300 s from that sweep
    assert rig.world.times("sweep") == [0.0, 5.0, 305.0, 605.0]
    passes_at_5 = [w for t, w in rig.world.journal if t == 5.0]
    # busy passes follow each other without waiting; the sweep comes after the last one
    assert passes_at_5 == ["scan a", "pass", "pass", "pass", "sweep", "wait"]


def test_a_pass_that_did_nothing_after_idle_time_does_not_sweep(rig: Rig) -> None:
    rig.queue.stop_at = 10.0
    rig.daemon(sweep=300).run()
    assert rig.world.times("sweep") == [0.0]
    assert rig.world.times("pass") == [float(t) for t in range(10)]  # one idle second between


STEPS = ["clocks", "scan a", "scan b", "pass", "sweep", "wait"]


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
    rig.cases.failing = True
    rig.queue.stop_at = 5.0
    with caplog.at_level(logging.WARNING, logger="recorder_sync.services.daemon"):
        rig.daemon(sweep=2).run()
    assert rig.world.times("scan b") == [0.0]  # a's failed scan did not skip b
    assert rig.world.times("pass") == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert rig.world.times("sweep") == [0.0, 2.0, 4.0]
    messages = [r.getMessage() for r in caplog.records]
    assert "dock a: scan failed: [Errno 5] Input/output error" in messages
    assert any(m.startswith("linking and deadline sweep failed: ") for m in messages), messages
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


def test_a_checkpoint_is_offered_at_start_and_every_checkpoint_seconds(rig: Rig) -> None:
    rig.queue.stop_at = 130.0
    rig.daemon(checkpoint=lambda: rig.world.did("checkpoint"), checkpoint_seconds=60).run()
    assert rig.world.times("checkpoint") == [0.0, 60.0, 120.0]
    first_turn = [w for t, w in rig.world.journal if t == 0.0]
    assert first_turn.index("checkpoint") > first_turn.index("pass")  # after the work it covers


def test_a_store_that_cannot_take_a_checkpoint_does_not_stop_the_daemon(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    def unavailable() -> None:
        rig.world.did("checkpoint")
        raise StorageUnavailable("vault is not mounted")

    rig.queue.stop_at = 25.0
    with caplog.at_level(logging.WARNING, logger="recorder_sync.services.daemon"):
        rig.daemon(checkpoint=unavailable, checkpoint_seconds=10).run()
    assert rig.world.times("checkpoint") == [0.0, 10.0, 20.0]
    assert rig.world.times("pass")[-1] == 24.0
    assert "publishing a checkpoint of the custody log failed" in caplog.text


def test_a_log_that_no_longer_extends_the_published_one_stops_the_daemon(rig: Rig) -> None:
    def rolled_back() -> None:
        rig.world.did("checkpoint")
        if rig.world.now >= 10.0:
            raise LogRolledBack("the database's log has 3 events, but a checkpoint of 5 was published")

    rig.queue.stop_at = 100.0
    with pytest.raises(LogRolledBack, match="checkpoint of 5"):
        rig.daemon(checkpoint=rolled_back, checkpoint_seconds=10).run()
    assert rig.world.times("checkpoint") == [0.0, 10.0]
    assert rig.world.journal[-1] == (10.0, "checkpoint")


def test_a_database_outage_is_said_once_retried_with_backoff_then_every_dock_rescanned(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.ingest.db_down = (5.0, 20.0)
    rig.queue.marks = [(7.0, "a")]  # a file arrives meanwhile: its event is lost with the scan
    rig.queue.stop_at = 23.0
    with caplog.at_level(logging.DEBUG, logger="recorder_sync.services.daemon"):
        rig.daemon(sweep=1).run()
    # tried at 5, then after 1, 2, 4, 8 s; never every idle second
    assert rig.world.times("pass") == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 20.0, 21.0, 22.0]
    # each retry starts with a full rescan (the first failing scan ends it): what came meanwhile is found
    assert rig.world.times("scan a") == [0.0, 6.0, 8.0, 12.0, 20.0]
    assert rig.world.times("scan b") == [0.0, 20.0]
    assert [t for t in rig.world.times("sweep") if 5.0 <= t < 20.0] == []  # nothing else meanwhile
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
