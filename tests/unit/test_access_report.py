"""Access-report findings from custody events (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from recorder_sync.domain.access_report import accesses_from_events, find_problems
from recorder_sync.domain.cases import Action
from recorder_sync.domain.roster import Role, RosterEntry

T = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
A1 = Action("C1", "A1", "seizure", "Unit 1", ("001", "002"), T, T + timedelta(minutes=10))


def event(seq: int, at: datetime, actor: str, rec: str, **details: object) -> dict[str, object]:
    return {
        "seq": seq,
        "at": at.isoformat(),
        "action": "accessed",
        "actor": actor,
        "reason": "r",
        "details": {"how": "play", "recordings": [{"id": rec, "sha256": "ab"}], **details},
    }


def test_self_access_before_the_action_ended_and_outcomes_are_joined() -> None:
    events = [
        event(1, T + timedelta(minutes=5), "li@st", "rec-1", officer="001"),  # during the action
        {
            "seq": 2,
            "at": T.isoformat(),
            "action": "accessed",
            "details": {"access_seq": 1, "outcome": "failed"},
        },
        event(3, T + timedelta(days=1), "wang@st", "rec-1"),  # roster says wang is officer 002
        event(4, T + timedelta(days=1), "chen@st", "rec-9"),  # a supervisor, footage of no action
        {"seq": 5, "at": T.isoformat(), "action": "searched", "details": {}},
    ]
    accesses = accesses_from_events(events)
    assert [(a.seq, a.outcome) for a in accesses] == [(1, "failed"), (3, "served"), (4, "served")]
    roster = [
        RosterEntry("wang", Role.OFFICER, "002"),
        RosterEntry("chen", Role.SUPERVISOR),
        RosterEntry("li", Role.SUPERVISOR),  # li has moved on: the event's officer still counts
    ]
    findings = find_problems(accesses, roster, {"rec-1": ["A1"]}, {"A1": A1})
    assert [(f.kind, f.access_seq, f.officer, f.after_action_end) for f in findings] == [
        ("self-access", 1, "001", False),
        ("self-access", 3, "002", True),
        ("no-link-access", 4, None, None),
    ]
    assert "before it ended" in findings[0].detail


def test_bulk_and_out_of_hours_access_in_the_stations_zone() -> None:
    from zoneinfo import ZoneInfo

    from recorder_sync.domain.access_report import AccessLimits, usage_problems

    sh = ZoneInfo("Asia/Shanghai")
    day = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    events = [event(n, day + timedelta(minutes=n), "chen@st", f"rec-{n % 3}") for n in range(1, 6)]
    events.append(event(9, datetime(2026, 11, 27, 14, 30, tzinfo=UTC), "chen@st", "rec-7"))  # 22:30 there
    accesses = accesses_from_events(events)
    findings = usage_problems(accesses, AccessLimits(bulk_per_day=3), sh)
    assert [(f.kind, f.access_seq, f.recording_id) for f in findings] == [
        ("bulk-access", 9, "rec-7"),  # the fourth distinct recording that day
        ("out-of-hours-access", 9, "rec-7"),
    ]
    assert "22:30:00+0800" in findings[1].detail and "08:00-18:00" in findings[1].detail
    # a night shift's hours run across midnight
    night = AccessLimits(bulk_per_day=99, office_start=time(22), office_end=time(6))
    assert [f.access_seq for f in usage_problems(accesses, night, sh)] == [1, 2, 3, 4, 5]
