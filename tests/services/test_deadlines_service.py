"""The deadline service's decisions through a fake sweep store: when a flag is raised and
alerted, when a sweep is a dry run, and that a broken alert channel never breaks a sweep."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fakes import MemorySweepStore

from recorder_sync.domain.cases import Action
from recorder_sync.domain.model import FlagState
from recorder_sync.domain.policy import DEFAULT_POLICY, DeadlineSettings
from recorder_sync.services.deadlines import DeadlineService

ENDED = datetime(2026, 6, 1, 12, tzinfo=UTC)
SUBJECT = "action:A1:officer:P-1"


def seizure() -> Action:
    return Action("C1", "A1", "seizure", "Unit 1", ("P-1",), ENDED - timedelta(hours=1), ENDED)


@pytest.fixture
def store() -> MemorySweepStore:
    return MemorySweepStore([seizure()])


def service(store: MemorySweepStore, alerts: list[Mapping[str, Any]]) -> DeadlineService:
    return DeadlineService(store, DEFAULT_POLICY, DeadlineSettings(), alerts.append)


def test_missing_footage_is_flagged_after_the_grace_and_alerted_once(store: MemorySweepStore) -> None:
    alerts: list[Mapping[str, Any]] = []
    svc = service(store, alerts)
    assert svc.sweep(ENDED + timedelta(hours=23)).changes == ()  # within the 24 h grace
    result = svc.sweep(ENDED + timedelta(hours=25))
    assert [(c.change, c.kind, c.subject, c.severity) for c in result.changes] == [
        ("raised", "footage-missing", SUBJECT, "high")
    ]
    assert [(f.kind, f.subject, f.state) for f in store.flags] == [
        ("footage-missing", SUBJECT, FlagState.OPEN)
    ]
    assert [(a["kind"], a["subject"]) for a in alerts] == [("footage-missing", SUBJECT)]
    assert svc.sweep(ENDED + timedelta(hours=26)).changes == ()  # still missing: no new flag, no new alert
    assert len(alerts) == 1 and len(store.flags) == 1


def test_a_sweep_as_of_the_past_is_a_dry_run(store: MemorySweepStore) -> None:
    alerts: list[Mapping[str, Any]] = []
    svc = service(store, alerts)
    later = ENDED + timedelta(days=2)
    assert svc.sweep(later).dry_run is False  # the first sweep: written
    store.flags.clear()
    alerts.clear()
    past = svc.sweep(ENDED + timedelta(hours=30))  # earlier than the last sweep
    assert past.dry_run is True
    assert [c.kind for c in past.changes] == ["footage-missing"]  # what it would do…
    assert store.flags == [] and alerts == []  # …but nothing written, nothing alerted
    assert svc.last_sweep() == later


def test_the_daemon_writes_even_after_a_sweep_as_of_the_future(store: MemorySweepStore) -> None:
    alerts: list[Mapping[str, Any]] = []
    svc = service(store, alerts)
    svc.sweep(ENDED + timedelta(days=10))  # someone ran `sweep --now` in the future
    store.flags.clear()
    alerts.clear()
    result = svc.sweep(ENDED + timedelta(hours=30), dry_run=False)
    assert result.dry_run is False
    assert [f.subject for f in store.flags] == [SUBJECT] and len(alerts) == 1


def test_a_broken_alert_channel_never_breaks_the_sweep(store: MemorySweepStore) -> None:
    def broken(alert: Mapping[str, Any]) -> None:
        raise ConnectionError("the alert relay is down")

    svc = DeadlineService(store, DEFAULT_POLICY, DeadlineSettings(), broken)
    result = svc.sweep(ENDED + timedelta(hours=30))
    assert [c.change for c in result.changes] == ["raised"] and result.dry_run is False
    assert [f.subject for f in store.flags] == [SUBJECT]


def test_a_time_without_zone_is_refused(store: MemorySweepStore) -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        service(store, []).sweep(ENDED.replace(tzinfo=None))
