"""Reports for a year or a period: the repository loads, ``domain.report_builder`` computes.

The verified recordings and the actions come from the tallies the deadline sweep keeps
(brought up to ``now`` first); without them (no sweep yet, other settings, or ``now``
earlier than they are) every row is loaded and counted, as before."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from recorder_sync.domain.access_figures import access_by_unit
from recorder_sync.domain.access_report import AccessLimits
from recorder_sync.domain.cases import require_aware
from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.policy import ActionPolicy, DeadlineSettings, full_action_types
from recorder_sync.domain.ports import AccessSource, ReportSource
from recorder_sync.domain.report_builder import build_report, build_report_from_aggregates
from recorder_sync.domain.reports import Report
from recorder_sync.domain.timebounds import check_year


class ReportService:
    def __init__(
        self,
        repo: ReportSource,
        policy: Mapping[str, ActionPolicy],
        settings: DeadlineSettings,
        access: AccessSource | None = None,
        limits: AccessLimits | None = None,
    ) -> None:
        self.repo = repo
        self.policy = policy
        self.settings = settings
        self.access = access  # None: the report has no access figures
        self.limits = limits or AccessLimits()

    def report(self, now: datetime, year: int | None = None, *, live: bool = False) -> Report:
        """Statistics as of ``now``; a year is cut in the agency's time zone.  ``live``
        computes from the rows even when the tallies could be used.  With an access source,
        the access figures per unit too (always counted from the events)."""
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
        report = self._report(now, year, since, until, live)
        if self.access is None:
            return report
        # accesses after ``now`` are not known as of ``now``
        inputs = self.access.access_inputs(since, now if until is None else min(until, now))
        return replace(report, access=access_by_unit(inputs, self.limits, self.settings.display_tz, year))

    def _report(
        self, now: datetime, year: int | None, since: datetime | None, until: datetime | None, live: bool
    ) -> Report:
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
