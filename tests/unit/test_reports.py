"""Period and yearly reports: timeliness, late counts, missing footage, grouped and filtered."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from recorder_sync.domain.cases import Action, Checkout
from recorder_sync.domain.deadlines import evaluate
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.model import Flag, FlagState, Severity
from recorder_sync.domain.policy import DEFAULT_POLICY, DeadlineSettings
from recorder_sync.domain.report_builder import build_report
from recorder_sync.domain.reports import UNLINKED, GroupStats, Report, spreadsheet_cell

SHANGHAI = ZoneInfo("Asia/Shanghai")
SETTINGS = DeadlineSettings(display_tz=SHANGHAI)


def t(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def rec(rid: str, officer: str, end: datetime, delay: timedelta | None) -> RecordingFacts:
    verified = None if delay is None else end + delay
    return RecordingFacts(rid, f"CAM-{officer}", officer, end - timedelta(minutes=30), end, verified)


def group(report: Report, dimension: str, key: str) -> GroupStats:
    [found] = [g for g in report.groups[dimension] if g.key == key]
    return found


ACTIONS = [
    Action("C1", "A1", "seizure", "Squad 1", ("0101", "0102"), t(11, 27, 9), t(11, 27, 10)),
    Action("C2", "A2", "inspection", "Squad 2", ("0103",), t(11, 27, 14), t(11, 27, 15)),
    Action("C3", "A3", "seizure", "Squad 2", ("0103",), t(12, 3, 9), t(12, 3, 10)),
]
RECORDINGS = [
    rec("R1", "0101", t(11, 27, 10), timedelta(hours=2)),
    rec("R2", "0102", t(11, 27, 10), timedelta(hours=10)),
    rec("R3", "0103", t(11, 27, 15), timedelta(hours=30)),  # late, verified
    rec("R4", "0103", t(12, 3, 10), None),  # late, never verified
    rec("R5", "0104", t(12, 5, 20), None),  # not due yet
]
LINKS = [("R1", "A1"), ("R2", "A1"), ("R3", "A2"), ("R4", "A3")]
NOW = t(12, 6, 8)


def flag(kind: str, subject: str, state: FlagState = FlagState.OPEN, due: datetime | None = None) -> Flag:
    return Flag(kind, Severity.HIGH, subject, "", state, due=due)


FLAGS = [
    flag("upload-late", "recording:R3", FlagState.RESOLVED_LATE),
    flag("upload-late", "recording:R4"),
    flag("upload-late", "recording:R2", FlagState.RESOLVED),  # cleared by a clock correction: not late
    flag("footage-missing", "action:A3:officer:0103", FlagState.ACKNOWLEDGED),
    flag("coverage-gap", "action:A1", FlagState.RESOLVED),
    flag("camera-not-docked", "device:CAM-0109:checkout:20261127T000000Z"),
    flag("case-file-overdue", "case:C1"),
    flag("integrity-failure", "recording:R-elsewhere", due=t(11, 30, 12)),
]


def build(**kw: object) -> Report:
    return build_report(
        NOW,
        RECORDINGS,
        ACTIONS,
        LINKS,
        FLAGS,
        DEFAULT_POLICY,
        SETTINGS,
        checkouts=[Checkout("CAM-0109", "0109", t(11, 27, 8), t(11, 27, 18))],
        **kw,  # type: ignore[arg-type]
    )


def test_total_timeliness() -> None:
    total = build().total.timeliness
    assert (total.recordings, total.verified, total.within_deadline) == (5, 3, 2)
    assert (total.late_verified, total.late_pending, total.late, total.pending) == (1, 1, 2, 1)
    assert total.pct_within == 50.0  # 2 of the 4 whose outcome is decided
    assert total.median_delay == timedelta(hours=10)
    assert total.worst_delay == timedelta(hours=30)


def test_flag_counts_and_late_flags() -> None:
    total = build().total
    assert total.late_flags == 2  # open + resolved-late; a plain 'resolved' one is not late
    assert total.flags_raised == {
        "upload-late": 3,
        "footage-missing": 1,
        "coverage-gap": 1,
        "camera-not-docked": 1,
        "case-file-overdue": 1,
        "integrity-failure": 1,
    }
    assert total.flags_open == {
        "upload-late": 1,
        "footage-missing": 1,
        "camera-not-docked": 1,
        "case-file-overdue": 1,
        "integrity-failure": 1,
    }
    assert (total.actions, total.full_actions, total.full_actions_missing_footage) == (3, 2, 1)
    assert total.missing_footage_rate == 50.0
    assert total.actions_with_gaps == 1


def test_groups_per_unit_officer_action_type_and_month() -> None:
    report = build()
    assert [g.key for g in report.groups["unit"]] == [UNLINKED, "Squad 1", "Squad 2"]
    squad2 = group(report, "unit", "Squad 2")
    assert (squad2.timeliness.recordings, squad2.timeliness.late) == (2, 2)
    assert squad2.timeliness.pct_within == 0.0
    assert (squad2.full_actions, squad2.full_actions_missing_footage) == (1, 1)

    o103 = group(report, "officer", "0103")
    assert o103.flags_raised == {"upload-late": 2, "footage-missing": 1}
    assert o103.late_flags == 2
    assert group(report, "officer", "0101").flags_raised == {"coverage-gap": 1, "case-file-overdue": 1}
    assert group(report, "officer", "0109").flags_raised == {"camera-not-docked": 1}  # via the ledger

    seizure = group(report, "action_type", "seizure")
    assert seizure.timeliness.recordings == 3 and seizure.actions == 2
    assert group(report, "action_type", "inspection").timeliness.late_verified == 1

    months = {g.key: g for g in report.groups["month"]}
    assert set(months) == {"2026-11", "2026-12"}
    assert months["2026-11"].timeliness.recordings == 3 and months["2026-12"].timeliness.recordings == 2
    assert months["2026-12"].flags_raised == {"upload-late": 1, "footage-missing": 1}


def test_unlinked_recordings_and_unknown_subjects() -> None:
    report = build()
    unlinked = group(report, "unit", UNLINKED)
    assert unlinked.timeliness.recordings == 1 and unlinked.timeliness.pending == 1
    # A flag about something not in the inputs is dated by its due time.
    assert group(report, "month", "2026-11").flags_raised["integrity-failure"] == 1


def test_year_filter_cuts_in_the_agency_time_zone() -> None:
    # 05:00 on 1 January 2027 in Shanghai is still 31 December 2026 in UTC.
    new_year = rec("R9", "0101", t(1, 1, 5, year=2027), timedelta(hours=1))
    report = build_report(
        NOW.replace(year=2027),
        [*RECORDINGS, new_year],
        ACTIONS,
        LINKS,
        [],
        DEFAULT_POLICY,
        SETTINGS,
        year=2027,
    )
    assert report.total.timeliness.recordings == 1 and report.year == 2027
    assert [g.key for g in report.groups["month"]] == ["2027-01"]
    in_utc = build_report(
        NOW.replace(year=2027),
        [*RECORDINGS, new_year],
        ACTIONS,
        LINKS,
        [],
        DEFAULT_POLICY,
        SETTINGS,
        year=2027,
        tz=UTC,
    )
    assert in_utc.total.timeliness.recordings == 0
    year_2026 = build(year=2026)
    assert year_2026.total.timeliness.recordings == 5
    assert build(year=2025).total.timeliness.recordings == 0


def test_median_of_an_even_count_and_empty_groups() -> None:
    recordings = [
        rec("R1", "0101", t(11, 27, 10), timedelta(hours=1)),
        rec("R2", "0101", t(11, 27, 11), timedelta(hours=4)),
    ]
    report = build_report(NOW, recordings, [], [], [], DEFAULT_POLICY, SETTINGS)
    assert report.total.timeliness.median_delay == timedelta(hours=2, minutes=30)
    empty = build_report(NOW, [], [], [], [], DEFAULT_POLICY, SETTINGS)
    assert empty.total.timeliness.pct_within is None and empty.total.timeliness.median_delay is None
    assert empty.total.missing_footage_rate is None


def test_report_json_is_serialisable() -> None:
    data = build(year=2026).as_json()
    text = json.dumps(data, ensure_ascii=False)
    assert json.loads(text)["total"]["timeliness"]["worst_delay_s"] == 30 * 3600
    assert data["timezone"] == "Asia/Shanghai" and data["year"] == 2026
    assert {"by_unit", "by_officer", "by_action_type", "by_month"} <= set(data)
    assert data["total"]["missing_footage_rate_pct"] == 50.0


def test_report_over_flags_from_the_engine() -> None:
    """The engine's flags, stored and later resolved, feed the report."""
    specs = evaluate(NOW, RECORDINGS, ACTIONS, LINKS, [], {}, DEFAULT_POLICY, SETTINGS)
    stored = [replace(s.to_flag(NOW), state=FlagState.OPEN) for s in specs]
    # R1/R2 cover only the second half of A1, R4 only part of A3, and R4 was never stored.
    assert sorted((f.kind, f.subject) for f in stored) == [
        ("coverage-gap", "action:A1"),
        ("coverage-gap", "action:A3"),
        ("upload-late", "recording:R4"),
    ]
    report = build_report(NOW, RECORDINGS, ACTIONS, LINKS, stored, DEFAULT_POLICY, SETTINGS)
    assert report.total.late_flags == sum(1 for f in stored if f.kind == "upload-late")
    assert report.total.actions_with_gaps == 2
    assert group(report, "unit", "Squad 2").flags_raised == {"coverage-gap": 1, "upload-late": 1}


def test_report_from_aggregates_equals_build_report_with_medians_to_the_histogram() -> None:
    from recorder_sync.domain.report_builder import build_report_from_aggregates
    from recorder_sync.domain.report_tallies import ReportAggregates, action_contribution, contribution, tally

    # R3 is verified 30 h late, R6 five days late (an hour bucket), R7 one second after its end
    recordings = [
        *RECORDINGS,
        rec("R6", "0101", t(11, 28, 10), timedelta(days=5, seconds=7)),
        rec("R7", "0102", t(12, 1, 10), timedelta(seconds=1)),
    ]
    live = build_report(NOW, recordings, ACTIONS, LINKS, FLAGS, DEFAULT_POLICY, SETTINGS, year=2026)
    group_of = {a.action_id: (a.unit, a.action_type) for a in ACTIONS}
    aids = {r: [a for rr, a in LINKS if rr == r] for r, _ in LINKS}
    parts = [contribution(r, aids.get(r.id), group_of, SHANGHAI, NOW) for r in recordings]
    verified = [c for c in parts if c is not None]
    assert {c.recording_id for c in verified} == {"R1", "R2", "R3", "R6", "R7"}
    counted = [action_contribution(a, a.action_type == "seizure", SHANGHAI) for a in ACTIONS]
    aggregates = ReportAggregates(
        tallies=tally(verified, SETTINGS.upload_deadline, counted),
        recordings=[r for r in recordings if r.id in ("R4", "R5")],
        actions=ACTIONS,
        links=[p for p in LINKS if p[0] in ("R4", "R5")],
        flags=FLAGS,
        checkouts=[],
        signatures={c.recording_id: c.signature for c in verified},
    )
    fast = build_report_from_aggregates(NOW, aggregates, DEFAULT_POLICY, SETTINGS, year=2026)
    for a, b in zip(
        [fast.total, *sum(fast.groups.values(), ())],
        [live.total, *sum(live.groups.values(), ())],
        strict=True,
    ):
        assert replace(a, timeliness=replace(a.timeliness, median_delay=None)) == replace(
            b, timeliness=replace(b.timeliness, median_delay=None)
        )
        fm, lm = a.timeliness.median_delay, b.timeliness.median_delay
        assert (fm is None) == (lm is None)
        if fm is not None and lm is not None:
            limit = 30 if b.timeliness.worst_delay and b.timeliness.worst_delay < timedelta(days=4) else 1800
            assert abs((fm - lm).total_seconds()) <= limit
    # 1-second delay: the middle of its minute bucket, clamped to the exact worst (1 s)
    assert group(fast, "month", "2026-12").timeliness.median_delay == timedelta(seconds=1)
    assert fast.total.timeliness.worst_delay == timedelta(days=5, seconds=7)


def test_a_report_over_times_at_the_end_of_the_calendar_does_not_overflow() -> None:
    """A year-9999 action or recording stored before imports were bounded: the Shanghai
    month of 9999-12-31T23:00Z is past datetime's range; it is counted, not a crash."""
    far = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    action = Action("C9", "A9", "seizure", "U1", ("001",), t(11, 27, 9), far)
    recording = RecordingFacts("R9", "CAM", "001", far, far, None)
    now = t(11, 30, 9)
    report = build_report(now, [recording], [action], [("R9", "A9")], [], DEFAULT_POLICY, SETTINGS)
    assert report.total.actions == 1 and report.total.timeliness.recordings == 1
    assert [g.key for g in report.groups["month"]] == ["9999-12"]


def test_csv_cells_that_a_spreadsheet_would_run_or_renumber_are_written_as_text() -> None:
    for hostile in (
        '=HYPERLINK("http://x")',
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        "\tab",
        "\rcr",
        "=cmd|' /C calc'!A0",
    ):
        assert spreadsheet_cell(hostile) == "'" + hostile
    for number_like in ("007", "0101", "12345678901234567890", "1e5", " 42 "):
        assert spreadsheet_cell(number_like) == "'" + number_like
    for plain in ("Unit 1", "seizure", "2026-11", "(unlinked)", "张三", "all", ""):
        assert spreadsheet_cell(plain) == plain
    for value in (3, -1.5, 99.5, None):  # real numbers stay numbers
        assert spreadsheet_cell(value) == value


def test_the_tallies_are_rebuilt_only_when_missing_or_cut_with_other_settings() -> None:
    from recorder_sync.domain.report_tallies import rebuild_reason

    at = datetime(2026, 12, 20, tzinfo=UTC)
    assert rebuild_reason(None, None, "Asia/Shanghai|86400|seizure") == "missing"
    assert rebuild_reason(None, "Asia/Shanghai|86400|seizure", "Asia/Shanghai|86400|seizure") == "missing"
    assert rebuild_reason(at, None, "Asia/Shanghai|86400|seizure") == "missing"
    assert rebuild_reason(at, "UTC|86400|seizure", "Asia/Shanghai|86400|seizure") == "cut with other settings"
    # cut alike: brought up to date from the custody log, whatever the sweep (full or not)
    assert rebuild_reason(at, "Asia/Shanghai|86400|seizure", "Asia/Shanghai|86400|seizure") is None
