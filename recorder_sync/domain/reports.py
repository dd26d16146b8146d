"""The period and yearly statistics report (the regulation asks for them by 31 January):
upload timeliness (share within the deadline, median and worst delay), late counts,
missing-footage and coverage-gap counts, for the whole period and per unit, officer,
action type and month; and its cells for spreadsheets.

``domain.report_builder`` computes it; ``domain.report_tallies`` are the running sums
the sweep keeps so that a year's report need not load every row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from recorder_sync.domain.model import FlagState
from recorder_sync.domain.times import utc_iso

if TYPE_CHECKING:
    from recorder_sync.domain.access_figures import UnitAccess

DIMENSIONS = ("unit", "officer", "action_type", "month")
UNLINKED = "(unlinked)"
UNKNOWN = "(unknown)"


class FlagRecord(Protocol):
    """A stored flag as the report needs it (``model.Flag`` fits)."""

    @property
    def kind(self) -> str: ...
    @property
    def state(self) -> FlagState: ...
    @property
    def subject(self) -> str: ...
    @property
    def due(self) -> datetime | None: ...


@dataclass(frozen=True)
class Timeliness:
    """Upload timeliness of recordings: ``verified`` ones split into within/late the
    deadline; unverified ones are ``late_pending`` once their deadline passed, else
    ``pending``.  Delays are from the recording's end to its verified stored copy."""

    recordings: int = 0
    verified: int = 0
    within_deadline: int = 0
    late_verified: int = 0
    late_pending: int = 0
    pending: int = 0
    undated: int = 0  # no time at all: cannot be judged
    median_delay: timedelta | None = None
    worst_delay: timedelta | None = None

    @property
    def late(self) -> int:
        return self.late_verified + self.late_pending

    @property
    def pct_within(self) -> float | None:
        """Share of decided recordings (verified, or overdue) stored within the deadline."""
        decided = self.verified + self.late_pending
        return None if decided == 0 else round(100.0 * self.within_deadline / decided, 2)

    def as_json(self) -> dict[str, Any]:
        return {
            "recordings": self.recordings,
            "verified": self.verified,
            "within_deadline": self.within_deadline,
            "late": self.late,
            "late_verified": self.late_verified,
            "late_pending": self.late_pending,
            "pending": self.pending,
            "undated": self.undated,
            "pct_within_deadline": self.pct_within,
            "median_delay_s": _seconds(self.median_delay),
            "worst_delay_s": _seconds(self.worst_delay),
        }


@dataclass(frozen=True)
class GroupStats:
    dimension: str  # 'total' or one of DIMENSIONS
    key: str
    timeliness: Timeliness
    actions: int = 0
    full_actions: int = 0
    full_actions_missing_footage: int = 0
    actions_with_gaps: int = 0
    late_flags: int = 0  # upload-late flags, open or resolved-late
    flags_raised: Mapping[str, int] = field(default_factory=dict)  # every state
    flags_open: Mapping[str, int] = field(default_factory=dict)  # open or acknowledged

    @property
    def missing_footage_rate(self) -> float | None:
        if self.full_actions == 0:
            return None
        return round(100.0 * self.full_actions_missing_footage / self.full_actions, 2)

    def as_json(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "key": self.key,
            "timeliness": self.timeliness.as_json(),
            "actions": self.actions,
            "full_actions": self.full_actions,
            "full_actions_missing_footage": self.full_actions_missing_footage,
            "missing_footage_rate_pct": self.missing_footage_rate,
            "actions_with_coverage_gaps": self.actions_with_gaps,
            "late_flags": self.late_flags,
            "flags_raised": dict(sorted(self.flags_raised.items())),
            "flags_open": dict(sorted(self.flags_open.items())),
        }


@dataclass(frozen=True)
class Report:
    generated_at: datetime
    year: int | None
    tz: str
    total: GroupStats
    groups: Mapping[str, tuple[GroupStats, ...]]  # dimension → groups sorted by key
    access: tuple[UnitAccess, ...] = ()  # per unit of the accessor (domain.access_figures)

    def as_json(self) -> dict[str, Any]:
        return {
            "generated_at": utc_iso(self.generated_at),
            "year": self.year,
            "timezone": self.tz,
            "total": self.total.as_json(),
            **{f"by_{dim}": [g.as_json() for g in self.groups.get(dim, ())] for dim in DIMENSIONS},
            "access_by_unit": [u.as_json() for u in self.access],
        }


def _seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


# --- CSV for spreadsheets -------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def spreadsheet_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as the text it is.  Text that would be read as
    a formula (``=``, ``+``, ``-``, ``@``, TAB, CR: CSV injection) or as a number (officer
    ``007`` would lose its zeros, a long id its digits) gets a leading apostrophe, the
    spreadsheet convention for text.  Numbers and None are written as they are."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(_FORMULA_START) or _NUMBER.fullmatch(value):
        return "'" + value
    return value
