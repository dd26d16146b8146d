"""The database-outage decisions (domain.outage): said once, bounded backoff, status, end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recorder_sync.domain import outage

T0 = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


def test_the_first_failure_is_said_then_only_reminders_and_the_wait_is_bounded() -> None:
    first = outage.failed(None, "database", "connection refused", T0)
    assert first.say is not None and first.say.startswith("database unreachable: connection refused; ")
    assert first.wait_seconds == outage.FIRST_RETRY_SECONDS
    assert first.status == "database unreachable since 2026-11-30 05:00:00 UTC; next attempt in 1 s"
    state, waits, said = first.outage, [first.wait_seconds], []
    for i in range(1, 40):
        retry = outage.failed(state, "database", "connection refused", T0 + timedelta(seconds=30 * i))
        state = retry.outage
        waits.append(retry.wait_seconds)
        said.append(retry.say)
    assert waits[:6] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert max(waits) == outage.MAX_RETRY_SECONDS
    # a reminder every REMIND_EVERY (15 min = 30 attempts 30 s apart), nothing in between
    reminders = [s for s in said if s is not None]
    assert len(reminders) == 1 and reminders[0].startswith(
        "database still unreachable since 2026-11-30 05:00:00 UTC (31 attempts)"
    )
    assert state.since == T0 and state.failures == 40


def test_jitter_spreads_the_retries_of_several_daemons() -> None:
    early = outage.failed(None, "database", "x", T0, jitter=0.0)
    late = outage.failed(None, "database", "x", T0, jitter=0.99)
    assert early.wait_seconds < late.wait_seconds <= 1.5 * outage.FIRST_RETRY_SECONDS


def test_the_end_says_how_long_it_lasted() -> None:
    state = outage.failed(None, "database", "x", T0).outage
    state = outage.failed(state, "database", "x", T0 + timedelta(seconds=1)).outage
    assert outage.ended(state, T0 + timedelta(seconds=42)).startswith(
        "database reachable again after 42 s (2 failed attempt(s))"
    )
