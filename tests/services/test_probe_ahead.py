"""The probes of a claimed batch run ahead of the probe step, on a small pool (issue 12,
throughput): ffprobe's process start no longer holds up the rest of the pipeline. Through
the fakes of test_ingest_service; probers that wait on each other show what runs at once."""

from __future__ import annotations

import threading
from typing import BinaryIO

import pytest
from fakes import ScriptedProber
from test_ingest_service import World
from test_ingest_service import world as ingest_world  # noqa: F401  (registers that fixture here)

from recorder_sync.domain.custody import verify_chain
from recorder_sync.domain.model import Kind, ProbeResult, RecordingState
from recorder_sync.services.probe_ahead import ProbeAhead

A = "DSJ-A1_031245_20261127083015_0001.MP4"
B = "DSJ-A1_031245_20261127083515_0002.MP4"
WAIT = 30.0  # only a bound on a failure: the probes below release each other


class Gated:
    """A prober whose two probes must both have begun before either goes on (run one at a
    time, the first never sees the second: BrokenBarrierError), and whose probe of ``last``
    finishes only after the other one has finished."""

    def __init__(self, inner: ScriptedProber, last: str, then: str) -> None:
        self.inner, self.last, self.then = inner, last, then
        self.both_begun = threading.Barrier(2, timeout=WAIT)
        self.then_done = threading.Event()
        self.finished: list[str] = []
        self._lock = threading.Lock()

    def probe_open(self, f: BinaryIO, name: str) -> ProbeResult:
        self.both_begun.wait()
        if name == self.last and not self.then_done.wait(WAIT):
            raise TimeoutError(f"{self.then} was not probed while {self.last} was")
        result = self.inner.probe_open(f, name)
        with self._lock:
            self.finished.append(name)
        if name == self.then:
            self.then_done.set()
        return result


@pytest.fixture
def world(request: pytest.FixtureRequest) -> World:
    """The fakes' world of test_ingest_service: a dock, store and prober in memory."""
    value: World = request.getfixturevalue("ingest_world")
    return value


def _docked(world: World, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        world.dock.write(name, data)
    world.svc.scan("d")
    world.clock.advance(6)


def test_a_batch_is_probed_side_by_side_and_each_result_goes_to_its_own_file(world: World) -> None:
    a = ProbeResult(Kind.VIDEO, readable=True, duration_ms=1000, format_name="mov", width=640, height=480)
    b = ProbeResult(kind=Kind.AUDIO, readable=True, duration_ms=2000, format_name="wav")
    gated = Gated(ScriptedProber({b"a" * 4000: a, b"b" * 4000: b}), last=A, then=B)
    world.svc.prober = gated
    _docked(world, {A: b"a" * 4000, B: b"b" * 4000})
    report = world.svc.run_once()
    assert report.errors == []
    # both probes were under way at once; B's finished first, A's after it
    assert gated.finished == [B, A]
    recs = {r.original_name: r for r in world.catalog.list_recordings()}
    assert recs[A].state == recs[B].state == RecordingState.RELEASED
    # each probe result is recorded on the recording of the file it read, whatever the order
    assert (recs[A].kind, recs[A].duration_ms) == (Kind.VIDEO, 1000)
    assert (recs[B].kind, recs[B].duration_ms) == (Kind.AUDIO, 2000)
    for rec in recs.values():
        actions = [e.fields["action"] for e in world.catalog.events(rec.id)]
        assert actions.index("hashed") < actions.index("probed") < actions.index("signed")
    events = world.catalog.events()
    assert verify_chain(events) == len(events)


def test_a_file_no_prober_can_read_is_probed_once(world: World) -> None:
    prober = ScriptedProber()  # anything it has no answer for is unreadable, as ffprobe finds it
    world.svc.prober = prober
    _docked(world, {A: b"not media" * 100, B: b"nor this" * 100})
    for _ in range(3):
        world.clock.advance(6)
        world.svc.run_once()
    assert sorted(prober.probed) == [A, B]
    recs = world.catalog.list_recordings()
    assert {r.state for r in recs} == {RecordingState.RELEASED}
    flagged = [f.recording_id for f in world.catalog.flags() if f.kind == "unreadable-media"]
    assert sorted(flagged) == sorted(r.id for r in recs)


def test_a_probe_not_begun_is_done_by_its_step_not_waited_for() -> None:
    ahead: ProbeAhead[str, str] = ProbeAhead(threads=1)
    release = threading.Event()

    def slow() -> str:
        release.wait(WAIT)
        return "slow"

    try:
        ahead.start([("busy", slow), ("queued", lambda: "ahead")])
        # the one thread is busy: the queued work is done by the taker, at once
        assert ahead.take("queued", lambda: "here") == "here"
        release.set()
        assert ahead.take("busy", lambda: "here") == "slow"
        assert ahead.take("busy", lambda: "again") == "again"  # a result is taken once
    finally:
        release.set()
        ahead.close()


def test_without_threads_each_probe_runs_in_its_step() -> None:
    ahead: ProbeAhead[str, str] = ProbeAhead(threads=0)
    ran: list[str] = []
    ahead.start([("x", lambda: ran.append("ahead") or "ahead")])
    assert ran == []
    assert ahead.take("x", lambda: "step") == "step"
    ahead.close()
