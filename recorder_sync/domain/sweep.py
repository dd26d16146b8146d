"""What one deadline sweep reads, and the time thresholds it crosses.

The case book chooses the inputs (everything on a full sweep; on an incremental one
what changed or crossed a threshold since the last); ``domain.deadlines.evaluate``
decides on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from recorder_sync.domain.cases import Action, Checkout
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.model import Flag


@dataclass(frozen=True)
class SweepInputs:
    """What one deadline sweep evaluates, and the flag subjects it may raise or resolve:
    ``recordings``/``actions``/``links``/``checkouts`` feed the footage, gap, docking and
    case-file rules; the ``upload_*`` fields feed the upload rules."""

    recordings: list[RecordingFacts]
    actions: list[Action]
    links: list[tuple[str, str]]
    checkouts: list[Checkout]
    docked: dict[str, datetime]
    open_flags: list[Flag]
    subjects: set[str]
    full: bool
    cursor: int
    late_flagged: frozenset[str] = frozenset()  # recordings that already have an upload-late flag
    # the upload rules run on their own inputs: every unverified recording, those verified
    # since the last sweep, and the actions they are linked to (for severity only)
    upload_recordings: list[RecordingFacts] = field(default_factory=list)
    upload_actions: list[Action] = field(default_factory=list)
    upload_links: list[tuple[str, str]] = field(default_factory=list)
    upload_subjects: set[str] = field(default_factory=set)
    last_sweep: datetime | None = None  # the time the last sweep that wrote ran as of


@dataclass(frozen=True)
class SweepLimits:
    """The time thresholds the sweep crosses (from the policy and the settings)."""

    min_grace: timedelta
    max_grace: timedelta
    upload_deadline: timedelta
    at_risk_lead: timedelta
    undocked_after: timedelta
    case_file_period: timedelta
    fingerprint: str  # policy + settings; a change forces a full sweep
    # the report tallies the sweep keeps: months cut in this zone, timeliness by this deadline
    report_tz: tzinfo = UTC
    report_full_types: frozenset[str] = frozenset()  # action types the policy wants filmed in full
    coverage_tolerance: timedelta = timedelta(0)  # a full sweep's SQL looks for gaps longer than this
