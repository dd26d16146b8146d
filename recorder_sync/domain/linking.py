"""Automatic linking of recordings to enforcement actions.

A recording belongs to an action when an officer who took part in the action
made it: the officer named in the recording's metadata, or the officer who had
the device checked out at the time according to the device-use ledger.  The
action's window, widened by a slack on each side, must overlap the recording's
(clock-corrected) window.  A proposal is ``auto`` only when the evidence points
one way (one officer, one action); anything ambiguous becomes a ``suggested``
link for a person to confirm, because footage linked to the wrong event is as bad
as footage linked to none.

Everything is indexed (actions by officer, checkouts by device, sorted by start)
so that a run over a million recordings stays O(n log n).
"""

from __future__ import annotations

import enum
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from recorder_sync.domain.cases import Action, Checkout, require_aware
from recorder_sync.domain.timebounds import shift
from recorder_sync.domain.times import utc_iso


@dataclass(frozen=True)
class RecordingFacts:
    """What linking and deadlines need to know about a recording.

    ``start``/``end`` are the camera's times; ``clock_offset`` is how far the camera
    clock ran ahead of the station clock when it was docked (camera − station), when
    the device exposed its clock.  ``clock_uncertain`` says the camera times cannot be
    trusted to the second (no clock evidence, or a large or drifting offset).
    ``ingested_at`` (station clock) stands in for the end when the recording has no
    time at all: it cannot have ended later than it was first seen.
    """

    id: str
    device: str | None
    officer: str | None
    start: datetime | None
    end: datetime | None
    stored_verified_at: datetime | None = None
    clock_uncertain: bool = False
    clock_offset: timedelta | None = None
    ingested_at: datetime | None = None

    def __post_init__(self) -> None:
        # Inline rather than a loop of calls: a sweep builds a million of these.
        if (
            (self.start is not None and self.start.tzinfo is None)
            or (self.end is not None and self.end.tzinfo is None)
            or (self.stored_verified_at is not None and self.stored_verified_at.tzinfo is None)
            or (self.ingested_at is not None and self.ingested_at.tzinfo is None)
        ):
            for name in ("start", "end", "stored_verified_at", "ingested_at"):
                require_aware(name, getattr(self, name))

    @property
    def corrected_start(self) -> datetime | None:
        if self.start is None or self.clock_offset is None:
            return self.start
        return shift(self.start, -self.clock_offset)  # a wild camera clock must not overflow

    @property
    def corrected_end(self) -> datetime | None:
        if self.end is None or self.clock_offset is None:
            return self.end
        return shift(self.end, -self.clock_offset)

    @property
    def window(self) -> tuple[datetime, datetime] | None:
        """The corrected [start, end]; a single instant when only one of them is known
        (a photo, or a file whose duration could not be probed); None without times."""
        start, end = self.corrected_start, self.corrected_end
        if start is None and end is None:
            return None
        if start is None:
            assert end is not None
            return (end, end)
        if end is None or end < start:
            return (start, start)
        return (start, end)

    def verified_by(self, now: datetime) -> bool:
        """Stored and verified as of ``now`` (a later verification has not happened yet)."""
        return self.stored_verified_at is not None and self.stored_verified_at <= now


class Basis(enum.StrEnum):
    OFFICER = "officer"  # the recording's own officer metadata
    CHECKOUT = "checkout"  # the device-use ledger


class Confidence(enum.StrEnum):
    AUTO = "auto"
    SUGGESTED = "suggested"


@dataclass(frozen=True)
class LinkProposal:
    recording_id: str
    action_id: str
    basis: Basis
    confidence: Confidence
    officer: str  # through whom the recording matched the action
    candidates: tuple[str, ...] = ()  # every officer who may have made the recording
    overlapping: int = 1  # how many actions matched the recording
    device: str | None = None
    slack: timedelta = timedelta(0)
    clock_offset: timedelta | None = None
    clock_uncertain: bool = False

    @property
    def reason(self) -> str:
        """Why, in words, for the custody event (built on demand: most proposals are
        for links that already exist and are never written)."""
        how = (
            f"recording officer {self.officer}"
            if self.basis is Basis.OFFICER
            else f"device {self.device} checked out to {self.officer} (ledger)"
        )
        parts = [f"{how} took part; windows overlap (slack {self.slack.total_seconds():g} s)"]
        if len(self.candidates) > 1:
            parts.append(f"ambiguous officer: {', '.join(self.candidates)} may have made it")
        if self.overlapping > 1:
            parts.append(f"ambiguous: {self.overlapping} actions overlap")
        if self.clock_offset is not None:
            parts.append(f"camera clock corrected by {self.clock_offset.total_seconds():+.0f} s")
        if self.clock_uncertain:
            parts.append("camera clock uncertain")
        return "; ".join(parts)


T = TypeVar("T")


class IntervalIndex(Generic[T]):
    """Closed intervals [start, end] (end None = still open) answering "which overlap
    [lo, hi]?" in O(log n + k).

    Sorted by start; an interval that overlaps [lo, hi] starts at or after
    ``lo - longest``, so a bisect bounds the scan.  Times are kept as POSIX seconds
    (floats compare far faster than aware datetimes; sub-microsecond rounding is
    irrelevant to minutes of slack).
    """

    def __init__(self, intervals: Iterable[tuple[datetime, datetime | None, T]]) -> None:
        closed: list[tuple[float, float, T]] = []
        self._open: list[tuple[float, T]] = []
        for start, end, item in intervals:
            if end is None:
                self._open.append((start.timestamp(), item))
            else:
                closed.append((start.timestamp(), end.timestamp(), item))
        closed.sort(key=lambda iv: (iv[0], iv[1]))
        self._starts = [iv[0] for iv in closed]
        self._ends = [iv[1] for iv in closed]
        self._items = [iv[2] for iv in closed]
        self._longest = max((e - s for s, e, _ in closed), default=0.0)

    def overlapping(self, lo: datetime, hi: datetime) -> list[T]:
        low, high = lo.timestamp(), hi.timestamp()
        ends, items = self._ends, self._items
        first = bisect_left(self._starts, low - self._longest)
        last = bisect_right(self._starts, high)
        found = [items[k] for k in range(first, last) if ends[k] >= low]
        if self._open:
            found.extend(item for start, item in self._open if start <= high)
        return found


def index_actions_by_officer(actions: Iterable[Action]) -> dict[str, IntervalIndex[str]]:
    """officer → index of the action_ids they took part in."""
    per_officer: dict[str, list[tuple[datetime, datetime | None, str]]] = defaultdict(list)
    for action in actions:
        for officer in action.officers:
            per_officer[officer].append((action.start, action.end, action.action_id))
    return {officer: IntervalIndex(ivs) for officer, ivs in per_officer.items()}


class Ledger:
    """The device-use ledger indexed by device."""

    def __init__(self, checkouts: Iterable[Checkout]) -> None:
        per_device: dict[str, list[tuple[datetime, datetime | None, Checkout]]] = defaultdict(list)
        for checkout in checkouts:
            per_device[checkout.device].append((checkout.start, checkout.end, checkout))
        self._by_device = {device: IntervalIndex(ivs) for device, ivs in per_device.items()}

    def officers(self, device: str | None, lo: datetime, hi: datetime) -> set[str]:
        """Officers who had ``device`` checked out at some time in [lo, hi]."""
        index = self._by_device.get(device) if device else None
        if index is None:
            return set()
        return {checkout.officer for checkout in index.overlapping(lo, hi)}


def attributed_officers(
    recording: RecordingFacts,
    ledger: Ledger,
    slack: timedelta,
    window: tuple[datetime, datetime] | None = None,
) -> dict[str, Basis]:
    """Who may have made ``recording``: its officer metadata and the ledger's officers
    for its device at the time (the metadata wins the basis when both agree).
    ``window`` is ``recording.window`` when the caller already has it."""
    officers: dict[str, Basis] = {}
    if window is None:
        window = recording.window
    if window is not None and recording.device:
        for officer in ledger.officers(recording.device, window[0] - slack, window[1] + slack):
            officers[officer] = Basis.CHECKOUT
    if recording.officer:
        officers[recording.officer] = Basis.OFFICER
    return officers


def propose_links(
    recordings: Iterable[RecordingFacts],
    actions: Iterable[Action],
    checkouts: Iterable[Checkout],
    slack: timedelta,
) -> list[LinkProposal]:
    """Proposed recording ↔ action links, sorted by (recording_id, action_id).

    ``auto`` when exactly one officer can have made the recording and exactly one
    action of theirs overlaps its window ± ``slack``; otherwise every match is
    ``suggested`` (several actions overlap, overlapping checkouts of the device, or
    the recording's officer metadata disagrees with the ledger).  Recordings with
    no time at all are not proposed.  Existing, manual or rejected links are the
    caller's business: this says what the evidence supports.
    """
    by_officer = index_actions_by_officer(actions)
    ledger = Ledger(checkouts)
    proposals: list[LinkProposal] = []
    for recording in recordings:
        window = recording.window
        if window is None:
            continue
        lo, hi = window[0] - slack, window[1] + slack
        officers = attributed_officers(recording, ledger, slack, window)
        matches: dict[str, tuple[str, Basis]] = {}
        # The recording's own officer first, so that it names the basis when both match.
        ordered = (
            officers.items()
            if len(officers) == 1
            else sorted(officers.items(), key=lambda kv: (kv[1] is not Basis.OFFICER, kv[0]))
        )
        for officer, basis in ordered:
            index = by_officer.get(officer)
            if index is None:
                continue
            for action_id in index.overlapping(lo, hi):
                matches.setdefault(action_id, (officer, basis))
        if not matches:
            continue
        candidates = tuple(sorted(officers))
        confidence = Confidence.AUTO if len(matches) == 1 and len(candidates) == 1 else Confidence.SUGGESTED
        for action_id, (officer, basis) in matches.items():
            proposals.append(
                LinkProposal(
                    recording.id,
                    action_id,
                    basis,
                    confidence,
                    officer,
                    candidates,
                    len(matches),
                    recording.device,
                    slack,
                    recording.clock_offset,
                    recording.clock_uncertain,
                )
            )
    proposals.sort(key=lambda p: (p.recording_id, p.action_id))
    return proposals


@dataclass(frozen=True)
class StoredLink:
    """A recording ↔ action link as stored; ``confidence`` is auto, suggested, manual or
    confirmed (a suggestion a person confirmed). Removed links stay, with who and why."""

    recording_id: str
    action_id: str
    basis: str
    confidence: str
    officer: str | None
    created_by: str
    reason: str
    created_at: datetime
    removed_at: datetime | None = None
    removed_by: str | None = None
    removed_reason: str | None = None

    @property
    def counts(self) -> bool:
        """Whether the deadline engine treats it as a link (suggestions do not count)."""
        return self.removed_at is None and self.confidence != "suggested"

    def as_json(self) -> dict[str, Any]:
        """Every field, times in UTC ISO form: ``--json`` output and bundles' ``case.json``."""
        return {
            "recording_id": self.recording_id,
            "action_id": self.action_id,
            "basis": self.basis,
            "confidence": self.confidence,
            "officer": self.officer,
            "created_by": self.created_by,
            "reason": self.reason,
            "created_at": utc_iso(self.created_at),
            "removed_at": utc_iso(self.removed_at) if self.removed_at else None,
            "removed_by": self.removed_by,
            "removed_reason": self.removed_reason,
        }
