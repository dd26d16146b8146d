"""Access figures per unit for the yearly report: how often each unit's people viewed
(``accessed``), handed out (``exported``) and searched footage, and the access-report
findings (``domain.access_report``) their accesses gave.

The unit is the accessor's, from the roster: as logged with the access (events since the
roster's unit was recorded with them), else as the roster says now; a user the roster does
not know, or who has no unit, counts under ``(unknown)``. An access counts in the month it
happened, in the agency's time zone, like everything else in the report.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import tzinfo
from typing import Any

from recorder_sync.domain.access_report import (
    AccessLimits,
    AccessRecord,
    accesses_from_events,
    find_problems,
    usage_problems,
)
from recorder_sync.domain.cases import Action
from recorder_sync.domain.report_tallies import month_of
from recorder_sync.domain.reports import UNKNOWN
from recorder_sync.domain.roster import RosterEntry, entry_for
from recorder_sync.domain.times import parse_lenient

# finding kind -> the figure it counts in
FINDING_FIGURES = {
    "self-access": "self_access",
    "no-link-access": "no_link_access",
    "bulk-access": "bulk_access",
    "out-of-hours-access": "out_of_hours_access",
}


@dataclass(frozen=True)
class UnitAccess:
    unit: str
    accessed: int = 0  # viewings (play, url, frames): the access events, not their outcomes
    exported: int = 0
    searches: int = 0
    self_access: int = 0
    no_link_access: int = 0
    bulk_access: int = 0
    out_of_hours_access: int = 0

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def figures(self) -> dict[str, int]:
        """The counts alone (every field but ``unit``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "unit"}


FIGURES: tuple[str, ...] = tuple(f.name for f in fields(UnitAccess) if f.name != "unit")


@dataclass(frozen=True)
class AccessInputs:
    """What the figures are computed from: the access, export and search events' fields of
    the period, the roster, and the links and actions of the recordings accessed."""

    events: Sequence[Mapping[str, Any]]
    roster: Collection[RosterEntry]
    links: Mapping[str, Sequence[str]]
    actions: Mapping[str, Action]


def unit_of(event: Mapping[str, Any], roster: Collection[RosterEntry]) -> str:
    details = event.get("details") or {}
    logged = details.get("unit")
    if isinstance(logged, str) and logged:
        return logged
    entry = entry_for(str(event.get("actor", "")), roster)
    return entry.unit if entry is not None and entry.unit else UNKNOWN


def access_by_unit(
    inputs: AccessInputs, limits: AccessLimits, zone: tzinfo, year: int | None = None
) -> tuple[UnitAccess, ...]:
    """One row per unit that accessed or searched in the period (``year`` local to
    ``zone``), sorted by unit."""
    prefix = None if year is None else f"{year:04d}-"

    def in_period(event: Mapping[str, Any]) -> bool:
        if prefix is None:
            return True
        month = month_of(parse_lenient(str(event["at"])), zone)
        return month is not None and month.startswith(prefix)

    events = [e for e in inputs.events if in_period(e)]
    counts: dict[str, dict[str, int]] = {}

    def add(unit: str, figure: str) -> None:
        row = counts.setdefault(unit, dict.fromkeys(FIGURES, 0))
        row[figure] += 1

    unit_by_seq: dict[int, str] = {}
    for event in events:
        action = event.get("action")
        details = event.get("details") or {}
        if action == "searched":
            add(unit_of(event, inputs.roster), "searches")
        elif action in ("accessed", "exported") and "access_seq" not in details:
            unit = unit_by_seq[int(event["seq"])] = unit_of(event, inputs.roster)
            add(unit, str(action))
    accesses: list[AccessRecord] = accesses_from_events(events)
    findings = find_problems(accesses, inputs.roster, inputs.links, inputs.actions)
    findings += usage_problems(accesses, limits, zone)
    for finding in findings:
        add(unit_by_seq.get(finding.access_seq, UNKNOWN), FINDING_FIGURES[finding.kind])
    return tuple(UnitAccess(unit, **row) for unit, row in sorted(counts.items()))


def access_total(units: Iterable[UnitAccess]) -> UnitAccess:
    total = dict.fromkeys(FIGURES, 0)
    for u in units:
        for name, value in u.figures().items():
            total[name] += value
    return UnitAccess("all", **total)
