"""The yearly report's access figures per unit: accesses, exports, searches and the access
report's findings, each counted under the accessor's unit (from the roster)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from recorder_sync.domain.access_figures import AccessInputs, UnitAccess, access_by_unit, access_total
from recorder_sync.domain.access_report import AccessLimits
from recorder_sync.domain.cases import Action
from recorder_sync.domain.roster import Role, RosterEntry
from recorder_sync.domain.times import utc_iso

SH = ZoneInfo("Asia/Shanghai")
ROSTER = (
    RosterEntry("wang", Role.OFFICER, "031245", "Unit 1"),
    RosterEntry("li", Role.SUPERVISOR, "", "Unit 2"),
    RosterEntry("zhao", Role.SUPERVISOR, "", ""),  # no unit
)
A1 = Action(
    "C1",
    "A1",
    "seizure",
    "Unit 1",
    ("031245",),
    datetime(2026, 5, 1, 1, 0, tzinfo=UTC),
    datetime(2026, 5, 1, 2, 0, tzinfo=UTC),
)
LIMITS = AccessLimits(bulk_per_day=2, office_start=time(8), office_end=time(18))


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def event(seq: int, action: str, actor: str, at: datetime, *recs: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"via": "recorder-replay", **details}
    if action != "searched":
        body.setdefault("how", "play")
        body.setdefault("recordings", [{"id": r, "sha256": "0" * 64} for r in recs])
    return {"seq": seq, "action": action, "actor": f"{actor}@host", "at": utc_iso(at), "details": body}


def figures(events: list[dict[str, Any]], year: int | None = 2026) -> dict[str, UnitAccess]:
    inputs = AccessInputs(events, ROSTER, {"rec-a": ["A1"]}, {"A1": A1})
    return {u.unit: u for u in access_by_unit(inputs, LIMITS, SH, year)}


def test_each_access_export_and_search_counts_under_the_accessors_unit() -> None:
    day = local("2026-05-02T10:00:00")
    rows = figures(
        [
            event(1, "accessed", "wang", day, "rec-a"),  # officer 031245 views A1's footage: self-access
            event(2, "exported", "li", day + timedelta(minutes=1), "rec-a"),
            event(3, "searched", "li", day, query={}),
            event(4, "searched", "nobody", day, query={}),  # not in the roster
            event(5, "accessed", "zhao", day, "rec-b"),  # footage of no action: no-link access
            # the second event of access 5 (it failed): not another access
            {**event(6, "accessed", "zhao", day), "details": {"access_seq": 5, "outcome": "failed"}},
        ]
    )
    assert rows == {
        "Unit 1": UnitAccess("Unit 1", accessed=1, self_access=1),
        "Unit 2": UnitAccess("Unit 2", exported=1, searches=1),
        "(unknown)": UnitAccess("(unknown)", accessed=1, searches=1, no_link_access=1),
    }
    assert access_total(rows.values()) == UnitAccess(
        "all", accessed=2, exported=1, searches=2, self_access=1, no_link_access=1
    )


def test_bulk_and_out_of_hours_findings_count_for_the_unit_of_who_made_them() -> None:
    night = local("2026-05-02T23:30:00")  # out of 08:00-18:00, Suzhou time
    rows = figures([event(i, "accessed", "li", night, "rec-a", f"rec-{i}") for i in range(1, 3)])
    # 3 recordings in one day with at most 2 allowed; each recording of each access out of
    # hours; rec-1 and rec-2 belong to no action
    assert rows["Unit 2"] == UnitAccess(
        "Unit 2", accessed=2, bulk_access=1, out_of_hours_access=4, no_link_access=2
    )


def test_the_unit_logged_with_an_access_is_the_one_counted() -> None:
    day = local("2026-05-02T10:00:00")
    rows = figures([event(1, "accessed", "li", day, "rec-a", unit="Unit 9")])
    assert set(rows) == {"Unit 9"}  # li has moved to Unit 2 since; the access was made in Unit 9


def test_the_year_is_cut_in_the_agencys_time_zone() -> None:
    events = [
        event(1, "accessed", "li", local("2026-01-01T07:30:00"), "rec-a"),  # 2025 in UTC, 2026 here
        event(2, "accessed", "li", local("2027-01-01T00:30:00"), "rec-a"),  # 2026 in UTC, 2027 here
        event(3, "searched", "li", local("2025-12-31T23:00:00"), query={}),
    ]
    assert figures(events)["Unit 2"].accessed == 1 and figures(events)["Unit 2"].searches == 0
    # 07:30 and 00:30 are out of the office hours too
    assert figures(events, None)["Unit 2"] == UnitAccess(
        "Unit 2", accessed=2, searches=1, out_of_hours_access=2
    )
    assert figures([]) == {} and access_total([]) == UnitAccess("all")
