"""Composition for cases, linking, deadlines, reports and alerts (issue 4).

The daemon calls ``CasesRuntime.tick(now)`` every ``run --sweep-seconds`` from its loop:
it links recordings probed since the last tick, then runs one deadline sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from recorder_sync.adapters.alerts import AlertDispatcher, AlertSettings
from recorder_sync.adapters.db.casebook import CaseBook
from recorder_sync.adapters.db.repository import Catalog
from recorder_sync.adapters.dockfs import DockFolder
from recorder_sync.apps.config import DockConfig, Settings
from recorder_sync.apps.wiring import utcnow
from recorder_sync.domain.clock import CLOCK_FILE, parse_clock_file
from recorder_sync.domain.errors import Error
from recorder_sync.domain.model import Severity
from recorder_sync.domain.policy import (
    ActionPolicy,
    DeadlineSettings,
    policy_from_config,
    settings_from_config,
)
from recorder_sync.services.cases import CaseService, LinkRun
from recorder_sync.services.deadlines import DeadlineService, SweepResult
from recorder_sync.services.reports import ReportService

log = logging.getLogger(__name__)


def load_policy(settings: Settings) -> tuple[dict[str, ActionPolicy], DeadlineSettings]:
    policy = policy_from_config(settings.policy, source=settings.source)
    deadlines = dict(settings.deadlines)
    deadlines.setdefault("timezone", settings.timezone)
    return policy, settings_from_config(deadlines, source=settings.source)


def alert_dispatcher(settings: Settings) -> AlertDispatcher:
    a = settings.alerts
    return AlertDispatcher(
        AlertSettings(
            webhooks=a.webhooks,
            smtp_host=a.smtp_host,
            smtp_port=a.smtp_port,
            smtp_from=a.smtp_from,
            smtp_to=a.smtp_to,
            smtp_starttls=a.smtp_starttls,
            smtp_user=a.smtp_user,
            smtp_password=a.smtp_password,
            min_severity=Severity(a.min_severity),
            attempts=a.attempts,
            backoff=a.backoff_seconds,
        )
    )


@dataclass
class CasesRuntime:
    book: CaseBook
    cases: CaseService
    deadlines: DeadlineService
    reports: ReportService
    alerts: AlertDispatcher

    def tick(self, now: datetime | None = None) -> tuple[LinkRun, SweepResult]:
        """Link new recordings, then sweep as of ``now`` (default: the current time).
        Alerts are queued, never awaited: the daemon's loop is not held up."""
        run = self.cases.link_new_recordings()
        # the daemon's clock is the present: its sweeps always write
        result = self.deadlines.sweep(now or utcnow(), dry_run=False)
        return run, result

    def read_dock_clocks(self, docks: Sequence[DockConfig]) -> int:
        """Record the camera clock of each dock that holds a ``clock.json`` (call at scan
        time, before ingesting, so the docking precedes the recordings it brings)."""
        recorded = 0
        for dock in docks:
            folder = DockFolder(dock.name, dock.path)
            try:
                f, ident = folder.open(CLOCK_FILE)
            except (Error, OSError):
                continue  # no time file: the camera does not expose its clock
            with f:
                data = f.read(4096)
            station_time = datetime.fromtimestamp(ident.mtime_ns / 1e9, tz=UTC)
            reading = parse_clock_file(data, station_time, ZoneInfo(dock.timezone))
            if isinstance(reading, str):
                log.warning("dock %s: %s", dock.name, reading)
                continue
            self.book.record_docking(
                reading.device,
                dock.name,
                reading.station_time,
                reading.camera_time,
                f"{dock.name}/{CLOCK_FILE}",
            )
            recorded += 1
        return recorded

    def close(self) -> None:
        self.alerts.close()


def cases_runtime(settings: Settings, catalog: Catalog, *, alerts: bool = True) -> CasesRuntime:
    policy, deadline_settings = load_policy(settings)
    book = CaseBook(catalog)
    dispatcher = alert_dispatcher(settings)
    sink: Any = dispatcher if alerts else None
    return CasesRuntime(
        book=book,
        cases=CaseService(book, policy, deadline_settings, utcnow),
        deadlines=DeadlineService(book, policy, deadline_settings, sink),
        reports=ReportService(book, policy, deadline_settings),
        alerts=dispatcher,
    )
