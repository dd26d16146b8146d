"""The case service decides what a person's change to the links must name; the store
behind it is never reached when it does not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.policy import DEFAULT_POLICY, DeadlineSettings
from recorder_sync.services.cases import CaseService

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


class RecordingStore:
    """Stands in for every case store: records each call, answers nothing useful."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args))
            return 1

        return call


def service(store: RecordingStore) -> CaseService:
    return CaseService(store, DEFAULT_POLICY, DeadlineSettings(), lambda: NOW)


@pytest.mark.parametrize(("by", "reason"), [("", "inspection"), ("sgt 9", ""), (" ", "x"), ("sgt 9", "\t ")])
def test_a_manual_link_needs_who_and_why(by: str, reason: str) -> None:
    store = RecordingStore()
    with pytest.raises(UsageError, match=r"a manual link needs who \(--by\) and why \(--reason\)"):
        service(store).link("R1", "A1", by, reason)
    assert store.calls == []


@pytest.mark.parametrize(("by", "reason"), [("", "wrong action"), ("sgt 9", " ")])
def test_an_unlink_needs_who_and_why(by: str, reason: str) -> None:
    store = RecordingStore()
    with pytest.raises(UsageError, match=r"an unlink needs who \(--by\) and why \(--reason\)"):
        service(store).unlink("R1", "A1", by, reason)
    assert store.calls == []


def test_a_link_that_names_who_and_why_is_stored_as_of_the_clock() -> None:
    store = RecordingStore()
    service(store).link("R1", "A1", "sgt 9", "inspection per the notes")
    service(store).unlink("R1", "A1", "sgt 9", "wrong action")
    assert store.calls == [
        ("link", ("R1", "A1", "sgt 9", "inspection per the notes", NOW)),
        ("unlink", ("R1", "A1", "sgt 9", "wrong action", NOW)),
    ]
