"""Reports for a year or a period: the repository loads, ``domain.report_builder`` computes.

The verified recordings and the actions come from the tallies the deadline sweep keeps
(brought up to ``now`` first); without them (no sweep yet, other settings, or ``now``
earlier than they are) every row is loaded and counted, as before."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from recorder_sync.domain.cases import require_aware
from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.policy import ActionPolicy, DeadlineSettings, full_action_types
from recorder_sync.domain.ports import ReportSource
from recorder_sync.domain.report_builder import build_report, build_report_from_aggregates
from recorder_sync.domain.reports import Report
from recorder_sync.domain.timebounds import check_year


class ReportService:
    def __init__(
        self, repo: ReportSource, policy: Mapping[str, ActionPolicy], settings: DeadlineSettings
    ) -> None:
        self.repo = repo
        self.policy = policy
        self.settings = settings

    def report(self, now: datetime, year: int | None = None, *, live: bool = False) -> Report:
        """Statistics as of ``now``; a year is cut in the agency's time zone.  ``live``
        computes from the rows even when the tallies could be used."""
        require_aware("now", now)
        since = until = None
        if year is not None:
            why = check_year(year)
            if why is not None:  # the local year's first and last days must be datetimes
                raise UsageError(f"year {year}: {why}")
            tz = self.settings.display_tz
            # a day of margin each side: build_report cuts exactly in the local zone
            since = datetime(year, 1, 1, tzinfo=tz) - timedelta(days=1)
            until = datetime(year + 1, 1, 1, tzinfo=tz) + timedelta(days=1)
        if not live:
            full_types = full_action_types(self.policy)
            aggregates = self.repo.report_aggregates(now, year, since, until, self.settings, full_types)
            if aggregates is not None:
                return build_report_from_aggregates(now, aggregates, self.policy, self.settings, year=year)
        recordings, actions, links, flags, checkouts = self.repo.report_inputs(since, until)
        return build_report(
            now,
            recordings,
            actions,
            links,
            flags,
            self.policy,
            self.settings,
            checkouts=checkouts,
            year=year,
        )
