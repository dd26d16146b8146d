"""The ``ReportSource`` contract, on the in-memory fake and on the SQL case book (SQLite and
PostgreSQL): which actions belong to a period, and no tallies before the first sweep."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from casebooks import case_book, importer
from conftest import BACKENDS
from fakes import MemoryReportSource

from recorder_sync.domain.cases import Action
from recorder_sync.domain.policy import DeadlineSettings
from recorder_sync.domain.ports import ReportSource

NOW = datetime(2027, 2, 1, tzinfo=UTC)


@dataclass
class Backend:
    source: ReportSource
    add: Callable[[list[Action]], None]


@pytest.fixture(params=["memory", *BACKENDS])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        fake = MemoryReportSource()
        yield Backend(fake, fake.held_actions.extend)
        return
    with case_book(request.param, request, tmp_path) as book:
        yield Backend(book, importer(book, NOW))


def action(aid: str, end: datetime) -> Action:
    return Action(f"C-{aid}", aid, "inspection", "Unit 1", ("P-1",), end - timedelta(hours=1), end)


def test_an_action_belongs_to_the_period_its_end_falls_in(backend: Backend) -> None:
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    backend.add(
        [
            action("before", since - timedelta(seconds=1)),
            action("first", since),
            action("inside", datetime(2026, 6, 1, tzinfo=UTC)),
            action("after", until),
        ]
    )
    _, actions, _, _, _ = backend.source.report_inputs(since, until)
    assert sorted(a.action_id for a in actions) == ["first", "inside"]
    _, everything, _, _, _ = backend.source.report_inputs(None, None)
    assert sorted(a.action_id for a in everything) == ["after", "before", "first", "inside"]


def test_nothing_to_report_in_an_empty_book(backend: Backend) -> None:
    assert backend.source.report_inputs(None, None) == ([], [], [], [], [])


def test_no_tallies_before_the_first_sweep(backend: Backend) -> None:
    backend.add([action("a", datetime(2026, 6, 1, tzinfo=UTC))])
    settings = DeadlineSettings()
    assert backend.source.report_aggregates(NOW, 2026, None, None, settings, {"inspection"}) is None
