"""The daemon loop's ingest pass: a failure outside any one file (the database, a bug) is
logged, its trace once until a pass succeeds again, and the loop goes on (issue 7, item 4)."""

from __future__ import annotations

import logging

import pytest

from recorder_sync.services.daemon import Passes
from recorder_sync.services.ingest import PassSummary


class FlakyService:
    def __init__(self, outcomes: list[Exception | PassSummary]) -> None:
        self.outcomes = outcomes

    def run_once(self) -> PassSummary:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def test_a_failing_pass_does_not_end_the_loop_and_its_trace_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done = PassSummary(progressed=3)
    svc = FlakyService(
        [RecursionError("deep"), RecursionError("deep"), done, RuntimeError("again"), PassSummary()]
    )
    passes = Passes(svc)
    with caplog.at_level(logging.WARNING):
        reports = [passes() for _ in range(5)]
    assert [r.progressed for r in reports] == [0, 0, 3, 0, 0]
    traces = [r for r in caplog.records if r.exc_info]
    # the first failure and the first after a good pass carry a trace; a repeat does not
    assert [r.exc_info[1].args[0] for r in traces if r.exc_info and r.exc_info[1]] == ["deep", "again"]
    assert any("failed again: deep" in r.getMessage() for r in caplog.records)
