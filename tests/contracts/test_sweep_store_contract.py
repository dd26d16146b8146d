"""The ``SweepStore`` contract, on the in-memory fake and on the SQL case book (SQLite and
PostgreSQL): a full load, the writing of a sweep's flags, and a stale sweep that writes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from casebooks import case_book, importer
from conftest import BACKENDS
from fakes import MemorySweepStore

from recorder_sync.domain.cases import Action
from recorder_sync.domain.flags import FlagKind, FlagSpec
from recorder_sync.domain.model import FlagState, Severity
from recorder_sync.domain.policy import DEFAULT_POLICY, DeadlineSettings
from recorder_sync.domain.ports import SweepStore
from recorder_sync.domain.subjects import action_subject
from recorder_sync.services.deadlines import limits_for

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
LIMITS = limits_for(DEFAULT_POLICY, DeadlineSettings())


@dataclass
class Backend:
    store: SweepStore
    add: Callable[[list[Action]], None]


@pytest.fixture(params=["memory", *BACKENDS])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        fake = MemorySweepStore()
        yield Backend(fake, fake.held_actions.extend)
        return
    with case_book(request.param, request, tmp_path) as book:
        yield Backend(book, importer(book, T0))


def action(aid: str, end: datetime) -> Action:
    return Action(f"C-{aid}", aid, "inspection", "Unit 1", ("P-1",), end - timedelta(hours=1), end)


def spec(aid: str, severity: Severity = Severity.MEDIUM, detail: str = "no footage") -> FlagSpec:
    return FlagSpec(FlagKind.FOOTAGE_MISSING, severity, action_subject(aid), detail, action_id=aid)


def test_a_first_full_load_holds_the_actions_and_no_flags(backend: Backend) -> None:
    assert backend.store.last_sweep() is None
    backend.add([action("A1", T0 - timedelta(days=3))])
    inputs = backend.store.sweep_inputs(T0, LIMITS, full=True)
    assert inputs.full is True and inputs.last_sweep is None
    assert [a.action_id for a in inputs.actions] == ["A1"]
    assert action_subject("A1") in inputs.subjects
    assert inputs.open_flags == []


def test_flags_raised_updated_and_resolved_by_sweeps(backend: Backend) -> None:
    backend.add([action("A1", T0 - timedelta(days=3)), action("A2", T0 - timedelta(days=3))])
    store = backend.store
    inputs = store.sweep_inputs(T0, LIMITS, full=True)
    assert store.apply_sweep(T0, inputs, LIMITS, [spec("A1"), spec("A2")], [], []) is True
    assert store.last_sweep() == T0

    t1 = T0 + timedelta(hours=1)
    inputs = store.sweep_inputs(t1, LIMITS, full=True)
    assert inputs.last_sweep == T0
    assert sorted((f.kind, f.subject, f.state) for f in inputs.open_flags) == [
        ("footage-missing", action_subject("A1"), FlagState.OPEN),
        ("footage-missing", action_subject("A2"), FlagState.OPEN),
    ]
    worse = spec("A1", Severity.HIGH, "still no footage")
    store.apply_sweep(t1, inputs, LIMITS, [], [("footage-missing", action_subject("A2"))], [worse])

    inputs = store.sweep_inputs(t1 + timedelta(hours=1), LIMITS, full=True)
    [left] = inputs.open_flags
    assert (left.subject, left.severity, left.detail) == (
        action_subject("A1"),
        Severity.HIGH,
        "still no footage",
    )
    assert store.last_sweep() == t1


def test_a_sweep_as_of_an_earlier_time_writes_nothing_when_asked_to_be_the_latest(backend: Backend) -> None:
    backend.add([action("A1", T0 - timedelta(days=3))])
    store = backend.store
    later = T0 + timedelta(days=1)
    store.apply_sweep(later, store.sweep_inputs(later, LIMITS, full=True), LIMITS, [], [], [])
    inputs = store.sweep_inputs(T0, LIMITS, full=True)
    assert store.apply_sweep(T0, inputs, LIMITS, [spec("A1")], [], [], only_if_latest=True) is False
    assert store.last_sweep() == later
    assert store.sweep_inputs(later, LIMITS, full=True).open_flags == []
