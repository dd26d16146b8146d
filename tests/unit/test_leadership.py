"""Which daemon ``status`` names as the leader, and when it calls one silent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recorder_sync.domain.leadership import SILENT_AFTER, DaemonInfo, current_leader

T0 = datetime(2026, 11, 30, 5, tzinfo=UTC)


def daemon(owner: str, leading_since: datetime | None, heard: datetime = T0) -> DaemonInfo:
    return DaemonInfo(owner, owner.split("/")[0], "host", 1, T0, heard, leading_since)


def test_no_daemon_leads_when_none_claims_it() -> None:
    assert current_leader([]) is None
    assert current_leader([daemon("st-a/1/x", None)]) is None


def test_the_latest_to_take_the_lead_is_the_leader() -> None:
    # a leader killed before the next one could clear its claim still claims it
    dead = daemon("st-a/1/x", T0)
    new = daemon("st-b/2/y", T0 + timedelta(seconds=3))
    assert current_leader([new, dead, daemon("st-c/3/z", None)]) == new


def test_a_daemon_not_heard_from_for_a_while_is_silent() -> None:
    d = daemon("st-a/1/x", None)
    assert not d.silent(T0 + SILENT_AFTER)
    assert d.silent(T0 + SILENT_AFTER + timedelta(seconds=1))
