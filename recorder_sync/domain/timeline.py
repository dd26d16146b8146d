"""The multi-camera timeline of an action (or of an officer's time window), the pure part.

One lane per officer and device, each recording a bar at its clock-corrected times inside
the window; gaps and officers without footage are the deadline engine's own facts: the
gaps are ``deadlines.coverage_gaps`` over the footage it counts (links auto, manual or
confirmed), the missing officers those to whom no counted footage is attributable
(``linking.attributed_officers``: the recording's officer, or the ledger's for its device).
A merely suggested link is drawn, marked, and not counted, as the engine does not count it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from recorder_sync.domain.cases import Action, Checkout
from recorder_sync.domain.deadlines import coverage_gaps
from recorder_sync.domain.flags import Gap
from recorder_sync.domain.linking import Ledger, attributed_officers
from recorder_sync.domain.replay import FindQuery, FoundRecording
from recorder_sync.domain.times import utc_iso

COUNTED = ("auto", "manual", "confirmed")  # link confidences the deadline engine counts


@dataclass(frozen=True)
class Bar:
    recording_id: str
    start: datetime  # clock-corrected, clipped to the window
    end: datetime
    counted: bool = True  # False: only a suggested link, which the deadline engine does not count
    clock_correction_s: float | None = None
    flags: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "recording_id": self.recording_id,
            "start": utc_iso(self.start),
            "end": utc_iso(self.end),
            "counted": self.counted,
            "clock_correction_s": self.clock_correction_s,
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class Lane:
    officer: str | None
    device: str | None
    bars: tuple[Bar, ...] = ()
    missing: bool = False  # an officer of the action with no footage attributable to them

    @property
    def label(self) -> str:
        if self.missing:
            return f"officer {self.officer} (no footage)"
        return f"officer {self.officer or '?'} / {self.device or '?'}"

    def as_json(self) -> dict[str, Any]:
        return {
            "officer": self.officer,
            "device": self.device,
            "missing": self.missing,
            "bars": [b.as_json() for b in self.bars],
        }


@dataclass(frozen=True)
class Timeline:
    title: str
    start: datetime
    end: datetime
    lanes: tuple[Lane, ...]
    gaps: tuple[Gap, ...]
    missing_officers: tuple[str, ...] = ()
    action_id: str | None = None
    untimed: tuple[str, ...] = ()  # recordings without times: listed, not drawn

    def fraction(self, t: datetime) -> float:
        """Where ``t`` lies in the window, 0 at its start and 1 at its end."""
        span = (self.end - self.start).total_seconds()
        return 0.0 if span <= 0 else min(1.0, max(0.0, (t - self.start).total_seconds() / span))

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "action_id": self.action_id,
            "start": utc_iso(self.start),
            "end": utc_iso(self.end),
            "lanes": [lane.as_json() for lane in self.lanes],
            "gaps": [{"start": utc_iso(g.start), "end": utc_iso(g.end)} for g in self.gaps],
            "missing_officers": list(self.missing_officers),
            "untimed": list(self.untimed),
        }


def _counted(found: FoundRecording, action_id: str | None) -> bool:
    if action_id is None:
        return True
    return any(link.action_id == action_id and link.confidence in COUNTED for link in found.links)


def build_timeline(
    title: str,
    window: tuple[datetime, datetime],
    found: Iterable[FoundRecording],
    tolerance: timedelta,
    *,
    action: Action | None = None,
    checkouts: Sequence[Checkout] = (),
    slack: timedelta = timedelta(0),
) -> Timeline:
    """The timeline of ``found`` over ``window``; with ``action``, its officers without footage."""
    start, end = window
    action_id = action.action_id if action else None
    lanes: dict[tuple[str | None, str | None], list[Bar]] = {}
    counted_windows: list[tuple[datetime, datetime]] = []
    covered: set[str] = set()
    untimed: list[str] = []
    ledger = Ledger(checkouts)
    for f in found:
        counted = _counted(f, action_id)
        w = f.facts.window
        if counted:
            covered |= set(attributed_officers(f.facts, ledger, slack))
        if w is None:
            untimed.append(f.recording.id)
            continue
        if counted:
            counted_windows.append(w)
        if w[1] < start or w[0] > end:
            continue
        offset = f.correction
        bar = Bar(
            f.recording.id,
            max(w[0], start),
            min(w[1], end),
            counted,
            None if offset is None else -offset.total_seconds(),
            f.flags,
        )
        lanes.setdefault((f.recording.officer, f.recording.device), []).append(bar)
    shown = [
        Lane(officer, device, tuple(sorted(bars, key=lambda b: (b.start, b.recording_id))))
        for (officer, device), bars in sorted(lanes.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or ""))
    ]
    missing = [o for o in action.officers if o not in covered] if action else []
    shown += [Lane(o, None, (), missing=True) for o in missing]
    gaps = coverage_gaps(window, counted_windows, tolerance)
    return Timeline(title, start, end, tuple(shown), tuple(gaps), tuple(missing), action_id, tuple(untimed))


def action_title(action: Action) -> str:
    target = action.target_name or action.target_id
    return (
        f"{action.action_type} {action.action_id} of case {action.case_id} ({action.unit})"
        + (f", target {target}" if target else "")
        + (f", at {action.place}" if action.place else "")
    )


def timeline_selection(query: FindQuery) -> str | None:
    """Why ``query`` does not say which timeline to draw, or None."""
    by_officer = query.officer is not None
    chosen = sum(1 for given in (query.action_id, query.case_id) if given is not None) + by_officer
    if chosen != 1:
        return "timeline: give one of --action A, --case C, or --officer O with --from and --to"
    if by_officer and (query.since is None or query.until is None):
        return "timeline --officer needs the window: --from ISO --to ISO"
    if query.since is not None and query.until is not None and query.until <= query.since:
        return "timeline: --to must be after --from"
    return None


def own_part(timeline: Timeline, officer: str) -> Timeline:
    """An officer's view of a timeline built from their own footage only: the gaps are in
    their own coverage, and of the officers it names without footage only they can be one
    (the others' footage was not looked at, so saying they have none would be false)."""
    return replace(
        timeline,
        lanes=tuple(lane for lane in timeline.lanes if not lane.missing or lane.officer == officer),
        missing_officers=tuple(o for o in timeline.missing_officers if o == officer),
    )
