"""The report service's decisions through a fake report source: how a year is cut in the
station's time zone, when the sweep's tallies are asked for, and what a bad year is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fakes import MemoryReportSource

from recorder_sync.domain.access_figures import AccessInputs, UnitAccess
from recorder_sync.domain.cases import Action
from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.policy import DEFAULT_POLICY, DeadlineSettings
from recorder_sync.domain.roster import Role, RosterEntry
from recorder_sync.services.reports import ReportService

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2027, 3, 1, tzinfo=UTC)


def action(aid: str, end_local: str) -> Action:
    end = datetime.fromisoformat(end_local).replace(tzinfo=SH)
    return Action(f"C-{aid}", aid, "inspection", "Unit 1", ("P-1",), end - timedelta(hours=1), end)


@pytest.fixture
def source() -> MemoryReportSource:
    return MemoryReportSource(
        [
            action("new-year-eve-local", "2025-12-31T23:30:00"),  # 15:30 UTC on 31 Dec 2025
            action("new-year-local", "2026-01-01T07:30:00"),  # 23:30 UTC on 31 Dec 2025
            action("new-year-morning-local", "2026-01-01T01:00:00"),  # 17:00 UTC on 31 Dec 2025
            action("last-local", "2026-12-31T23:30:00"),
            action("next-year-local", "2027-01-01T00:30:00"),
        ]
    )


def test_a_year_is_cut_in_the_station_time_zone(source: MemoryReportSource) -> None:
    service = ReportService(source, DEFAULT_POLICY, DeadlineSettings(display_tz=SH))
    report = service.report(NOW, year=2026)
    assert report.total.actions == 3  # 1 Jan 01:00 and 07:30 and 31 Dec 23:30, Suzhou time
    # the source is asked with a day of margin each side of the local year
    [(now, year, since, until)] = source.asked
    assert (now, year) == (NOW, 2026)
    assert since == datetime(2026, 1, 1, tzinfo=SH) - timedelta(days=1)
    assert until == datetime(2027, 1, 1, tzinfo=SH) + timedelta(days=1)


def test_the_same_actions_cut_in_utc(source: MemoryReportSource) -> None:
    report = ReportService(source, DEFAULT_POLICY, DeadlineSettings(display_tz=UTC)).report(NOW, year=2026)
    # 1 Jan 01:00 and 07:30 Suzhou are still 2025 in UTC; 1 Jan 2027 00:30 Suzhou is not
    assert report.total.actions == 2


def test_live_never_asks_for_the_tallies(source: MemoryReportSource) -> None:
    service = ReportService(source, DEFAULT_POLICY, DeadlineSettings(display_tz=SH))
    assert service.report(NOW, year=2026, live=True).total.actions == 3
    assert source.asked == []
    assert service.report(NOW).total.actions == 5  # no year: every action
    assert source.asked == [(NOW, None, None, None)]


@pytest.mark.parametrize("year", [0, 10_000])
def test_a_year_off_the_calendar_is_a_usage_error(source: MemoryReportSource, year: int) -> None:
    service = ReportService(source, DEFAULT_POLICY, DeadlineSettings(display_tz=SH))
    with pytest.raises(UsageError, match=f"year {year}"):
        service.report(NOW, year=year)
    assert source.asked == []


def test_a_time_without_zone_is_refused(source: MemoryReportSource) -> None:
    service = ReportService(source, DEFAULT_POLICY, DeadlineSettings(display_tz=SH))
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        service.report(NOW.replace(tzinfo=None), year=2026)


class AccessEvents:
    """``AccessSource``: a list of events, and the periods it was asked for."""

    def __init__(self, events: list[dict[str, object]]) -> None:
        self.events = events
        self.asked: list[tuple[datetime | None, datetime | None]] = []

    def access_inputs(self, since: datetime | None, until: datetime | None) -> AccessInputs:
        self.asked.append((since, until))
        roster = [RosterEntry("li", Role.SUPERVISOR, "", "Unit 2")]
        return AccessInputs(self.events, roster, {}, {})


def test_the_report_counts_accesses_per_unit_up_to_now(source: MemoryReportSource) -> None:
    viewed = {
        "seq": 1,
        "action": "accessed",
        "actor": "li@host",
        "at": "2026-06-01T02:00:00+00:00",  # 10:00 in Suzhou: office hours
        "details": {"how": "play", "recordings": [{"id": "rec-a", "sha256": "0" * 64}]},
    }
    access = AccessEvents([viewed])
    settings = DeadlineSettings(display_tz=SH)
    report = ReportService(source, DEFAULT_POLICY, settings, access).report(NOW, year=2026)
    assert report.access == (UnitAccess("Unit 2", accessed=1, no_link_access=1),)
    assert report.as_json()["access_by_unit"][0]["accessed"] == 1
    # the same local year as the rest of the report, and nothing after ``now``
    year_start = datetime(2026, 1, 1, tzinfo=SH) - timedelta(days=1)
    assert access.asked == [(year_start, datetime(2027, 1, 1, tzinfo=SH) + timedelta(days=1))]
    mid_year = datetime(2026, 7, 1, tzinfo=UTC)
    ReportService(source, DEFAULT_POLICY, settings, access).report(mid_year, year=2026)
    assert access.asked[-1] == (year_start, mid_year)
    ReportService(source, DEFAULT_POLICY, settings, access).report(NOW)
    assert access.asked[-1] == (None, NOW)
    # without an access source the report has no access figures (and asks nothing)
    assert ReportService(source, DEFAULT_POLICY, settings).report(NOW, year=2026).access == ()
