"""The deadline engine: which flags should be open as of ``now``.

``evaluate`` is a pure function of its inputs; it returns the *desired* set of
open flags, each keyed by (kind, subject).  The service diffs that against the
stored flags with ``flags.reconcile``: desired-but-absent flags are raised, open flags
no longer desired are resolved (``upload-late`` resolves as ``resolved-late``:
the upload arrived, but late).  Running it twice changes nothing; the order of
its inputs does not matter.

Rules (the flags are described in ``domain.flags``, their subjects in ``domain.subjects``):

- ``upload-at-risk`` / ``upload-late``: a recording not stored and verified by
  ``end + lead`` before / after its deadline ``end + upload_deadline``; one step
  more severe when it is linked to a ``full`` action.  Late replaces at-risk
  (same subject).
- ``footage-missing``: a ``full`` action, after ``end + grace``, with no linked
  footage attributable to one of its officers (per officer).
- ``footage-recommended-missing``: a ``recommended`` action, after ``end + grace``,
  with no linked footage at all.
- ``coverage-gap``: a ``full`` action, after ``end + grace``, with linked footage
  whose union leaves gaps longer than the tolerance (each gap listed).
- ``camera-not-docked``: a checkout that ended ``undocked_after`` ago while the
  device has not been docked since the checkout started.
- ``case-file-overdue``: ``case_file_days`` after an action of the case ended,
  some of its linked footage is not stored and verified, or a ``full`` action
  lacks an officer's footage.

Recording times are clock-corrected (``start - clock_offset``); a flag whose
decision rests on a camera clock marked uncertain says so.

Incremental sweeps.  Every flag depends only on its own subject's neighbourhood:
``recording:R`` on R and the types of the actions R is linked to;
``action:A…`` on A, its linked recordings and the ledger rows of their devices;
``case:C`` on C's actions and their linked recordings; a checkout subject on the
checkout and its device's last docking.  So a sweep need not load everything:
pass the unverified recordings (with their links and actions) and the actions,
cases and checkouts that changed or crossed a threshold (end + grace, end +
``case_file_days``, checkout end + ``undocked_after``) since the last sweep, with
their linked recordings; then give ``flags.reconcile`` only the stored flags of the
subjects that were evaluated, so nothing outside them is resolved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo

from recorder_sync.domain.cases import Action, Checkout, require_aware
from recorder_sync.domain.flags import (
    SEVERITY_AT_RISK,
    SEVERITY_CASE_FILE,
    SEVERITY_LATE,
    SEVERITY_NOT_DOCKED,
    FlagKind,
    FlagSpec,
    Gap,
    raise_severity,
)
from recorder_sync.domain.linking import Ledger, RecordingFacts, attributed_officers
from recorder_sync.domain.policy import ActionPolicy, DeadlineSettings, Requirement
from recorder_sync.domain.subjects import (
    action_subject,
    case_subject,
    checkout_subject,
    officer_subject,
    recording_subject,
)
from recorder_sync.domain.timebounds import shift
from recorder_sync.domain.times import display

Links = Mapping[str, Iterable[str]] | Iterable[tuple[str, str]]
"""Confirmed links (automatic or manual; not mere suggestions): recording_id → action_ids,
or (recording_id, action_id) pairs."""


def upload_anchor(recording: RecordingFacts) -> tuple[datetime, bool] | None:
    """The time the upload deadline counts from, and whether it comes from the camera
    clock: the corrected end (or start), else when the station first saw the file."""
    window = recording.window
    if window is not None:
        return window[1], True
    if recording.ingested_at is not None:
        return recording.ingested_at, False
    return None


def upload_due(recording: RecordingFacts, settings: DeadlineSettings) -> datetime | None:
    anchor = upload_anchor(recording)
    return None if anchor is None else shift(anchor[0], settings.upload_deadline)


def was_late(recording: RecordingFacts, settings: DeadlineSettings) -> bool | None:
    """Whether the stored copy was verified after the deadline; None while unknown."""
    if upload_anchor(recording) is None or recording.stored_verified_at is None:
        return None
    return verified_late(recording, settings.upload_deadline)


def verified_late(recording: RecordingFacts, upload_deadline: timedelta) -> bool:
    """Stored and verified, after its deadline (what a late arrival is)."""
    anchor, verified = upload_anchor(recording), recording.stored_verified_at
    return anchor is not None and verified is not None and verified > shift(anchor[0], upload_deadline)


def evaluate(
    now: datetime,
    recordings: Iterable[RecordingFacts],
    actions: Iterable[Action],
    links: Links,
    checkouts: Iterable[Checkout],
    docked_devices: Mapping[str, datetime],
    policy: Mapping[str, ActionPolicy],
    settings: DeadlineSettings | None = None,
) -> list[FlagSpec]:
    """The flags that should be open as of ``now``, sorted by (kind, subject).

    ``docked_devices`` maps a device serial to the last time it was docked.  Action
    types missing from ``policy`` are treated as requirement 'none'.
    """
    require_aware("now", now)
    settings = settings or DeadlineSettings()
    ctx = _Context(now, recordings, actions, links, checkouts, policy, settings)
    flags: list[FlagSpec] = []
    flags.extend(_upload_flags(ctx))
    flags.extend(_footage_flags(ctx))
    flags.extend(_undocked_flags(ctx, docked_devices))
    flags.extend(_case_file_flags(ctx))
    flags.sort(key=lambda f: f.key)
    return flags


class _Context:
    """Inputs indexed once per sweep."""

    def __init__(
        self,
        now: datetime,
        recordings: Iterable[RecordingFacts],
        actions: Iterable[Action],
        links: Links,
        checkouts: Iterable[Checkout],
        policy: Mapping[str, ActionPolicy],
        settings: DeadlineSettings,
    ) -> None:
        self.now = now
        self.settings = settings
        self.policy = policy
        self.tz: tzinfo = settings.display_tz
        self.recordings = {r.id: r for r in recordings}
        self.actions = {a.action_id: a for a in actions}
        self.checkouts = list(checkouts)
        self.ledger = Ledger(self.checkouts)
        # Only recordings that may get an upload flag need their actions; only actions
        # need their recordings.  Lists may hold duplicates until ``linked`` is asked.
        at_risk_from = shift(shift(now, -settings.upload_deadline), settings.at_risk_lead)
        self.unverified = {
            r.id
            for r in self.recordings.values()
            if r.stored_verified_at is None or r.stored_verified_at > now
        }
        recordings_known = self.recordings
        self.pending = {rid for rid in self.unverified if _maybe_due(recordings_known[rid], at_risk_from)}
        self._actions_of: dict[str, list[str]] = defaultdict(list)
        self._recordings_of: dict[str, list[str]] = defaultdict(list)
        pairs: Iterable[tuple[str, str]]
        if isinstance(links, Mapping):
            pairs = ((rid, aid) for rid, aids in links.items() for aid in aids)
        else:
            pairs = links
        actions_known, pending = self.actions, self.pending
        for rid, aid in pairs:
            if aid in actions_known and rid in recordings_known:
                self._recordings_of[aid].append(rid)
                if rid in pending:
                    self._actions_of[rid].append(aid)
        self._officers: dict[str, frozenset[str]] = {}
        self._tidy: set[str] = set()  # actions whose recording list is sorted and unique

    def linked_recordings(self, action_id: str) -> list[str]:
        ids = self._recordings_of.get(action_id)
        if not ids:
            return []
        if action_id not in self._tidy:
            ids[:] = sorted(set(ids))
            self._tidy.add(action_id)
        return ids

    def linked_actions(self, recording_id: str) -> list[str]:
        """Actions of a recording in ``pending`` (the only ones asked about)."""
        ids = self._actions_of.get(recording_id)
        return sorted(set(ids)) if ids else []

    def requirement(self, action: Action) -> Requirement:
        entry = self.policy.get(action.action_type)
        return Requirement.NONE if entry is None else entry.requirement

    def officers_of(self, recording: RecordingFacts) -> frozenset[str]:
        cached = self._officers.get(recording.id)
        if cached is None:
            cached = frozenset(attributed_officers(recording, self.ledger, self.settings.link_slack))
            self._officers[recording.id] = cached
        return cached

    def missing_officers(self, action: Action, linked: Sequence[str]) -> tuple[list[str], list[str]]:
        """Officers of ``action`` with no linked footage attributable to them, and the
        linked recordings attributable to nobody."""
        # Fast path: the recordings' own officer numbers usually settle it without the ledger.
        if named_in_footage(action, (self.recordings[rid] for rid in linked)):
            return [], []
        covered: set[str] = set()
        unattributed: list[str] = []
        for rid in linked:
            officers = self.officers_of(self.recordings[rid])
            if officers:
                covered |= officers
            else:
                unattributed.append(rid)
        return [o for o in action.officers if o not in covered], unattributed

    def t(self, time: datetime) -> str:
        return display(time, self.tz)

    def describe(self, action: Action) -> str:
        entry = self.policy.get(action.action_type)
        label = entry.label if entry else action.action_type
        target = (
            f", target {action.target_name or action.target_id}"
            if (action.target_name or action.target_id)
            else ""
        )
        place = f", at {action.place}" if action.place else ""
        return (
            f"{label} {action.action_id} of case {action.case_id} ({action.unit}), "
            f"{self.t(action.start)} to {self.t(action.end)}{target}{place}"
        )


def named_in_footage(action: Action, linked: Iterable[RecordingFacts]) -> bool:
    """Every officer of ``action`` is the officer of one of its linked recordings: who
    made the footage is settled without the device ledger."""
    named = {recording.officer for recording in linked}
    return all(officer in named for officer in action.officers)


def ledger_devices(
    actions: Iterable[Action], links: Iterable[tuple[str, str]], recordings: Iterable[RecordingFacts]
) -> set[str]:
    """The devices whose ledger lines (checkouts) ``evaluate`` may read to attribute
    footage: those of the recordings linked to an action their officer numbers do not
    settle (``named_in_footage``).  A sweep loads only these, not the whole ledger of every
    device in play."""
    by_id = {r.id: r for r in recordings}
    linked: dict[str, list[RecordingFacts]] = defaultdict(list)
    for rid, aid in links:
        recording = by_id.get(rid)
        if recording is not None:
            linked[aid].append(recording)
    devices: set[str] = set()
    for action in actions:
        footage = linked.get(action.action_id, [])
        if not named_in_footage(action, footage):
            devices.update(r.device for r in footage if r.device)
    return devices


def _maybe_due(recording: RecordingFacts, at_risk_from: datetime) -> bool:
    """Cheap pre-filter: could the recording's upload flag be due (anchor <= at_risk_from)?"""
    anchor = upload_anchor(recording)
    return anchor is not None and anchor[0] <= at_risk_from


def _clock_note(recording: RecordingFacts) -> str:
    notes = []
    if recording.clock_offset is not None:
        notes.append(f"camera clock corrected by {recording.clock_offset.total_seconds():+.0f} s")
    if recording.clock_uncertain:
        notes.append("decided on an uncertain camera clock")
    return f" ({'; '.join(notes)})" if notes else ""


def _upload_flags(ctx: _Context) -> Iterable[FlagSpec]:
    deadline, lead, now = ctx.settings.upload_deadline, ctx.settings.at_risk_lead, ctx.now
    hours = deadline.total_seconds() / 3600
    for rid in ctx.pending:
        recording = ctx.recordings[rid]
        due = upload_due(recording, ctx.settings)
        if due is None or now < shift(due, -lead):
            continue  # not yet at risk, or neither a time nor an ingest time: cannot be dated
        late = now >= due
        full = [
            aid
            for aid in ctx.linked_actions(recording.id)
            if ctx.requirement(ctx.actions[aid]) is Requirement.FULL
        ]
        verdict = "missed its" if late else "is at risk of missing its"
        yield _upload_spec(
            FlagKind.UPLOAD_LATE if late else FlagKind.UPLOAD_AT_RISK,
            recording,
            due,
            f"not stored and verified; {verdict} {hours:g} h deadline {ctx.t(due)}",
            full,
            ctx.t,
        )


def late_arrivals(
    now: datetime,
    recordings: Iterable[RecordingFacts],
    links: Iterable[tuple[str, str]],
    full_actions: Collection[str],
    settings: DeadlineSettings,
    already_flagged: Collection[str] = (),
) -> list[FlagSpec]:
    """``upload-late`` flags for recordings stored and verified after their deadline that
    no sweep saw while they were late (a camera docked after the deadline is stored before
    the next sweep). The caller raises and resolves them at once, as ``resolved-late``, so
    that they count as late like any other. ``full_actions``: the linked actions that the
    policy wants filmed in full; ``already_flagged``: recordings with an upload-late flag."""
    full_of: dict[str, list[str]] = defaultdict(list)
    for rid, aid in links:
        if aid in full_actions:
            full_of[rid].append(aid)
    hours = settings.upload_deadline.total_seconds() / 3600

    def t(time: datetime) -> str:
        return display(time, settings.display_tz)

    out: list[FlagSpec] = []
    for recording in recordings:
        verified, due = recording.stored_verified_at, upload_due(recording, settings)
        if recording.id in already_flagged or verified is None or verified > now or due is None:
            continue
        if verified <= due:
            continue
        status = (
            f"stored and verified {t(verified)}, {format_length(verified - due)} after its "
            f"{hours:g} h deadline {t(due)}"
        )
        full = sorted(set(full_of.get(recording.id, ())))
        out.append(_upload_spec(FlagKind.UPLOAD_LATE, recording, due, status, full, t))
    return out


def _upload_spec(
    kind: FlagKind,
    recording: RecordingFacts,
    due: datetime,
    status: str,
    full: Sequence[str],
    t: Callable[[datetime], str],
) -> FlagSpec:
    """An upload flag: who and when the recording is, ``status``, the full-recording
    actions it belongs to (one step more severe), and its camera clock."""
    anchor = upload_anchor(recording)
    assert anchor is not None  # ``due`` came from it
    ended, from_camera = anchor
    severity = SEVERITY_LATE if kind is FlagKind.UPLOAD_LATE else SEVERITY_AT_RISK
    if full:
        severity = raise_severity(severity)
    what = f"recording {recording.id}"
    who = [
        f"device {recording.device}" if recording.device else "",
        f"officer {recording.officer}" if recording.officer else "",
    ]
    who_text = ", ".join(w for w in who if w)
    if who_text:
        what += f" ({who_text})"
    when = f"ended {t(ended)}" if from_camera else f"time unknown, first seen {t(ended)}"
    detail = f"{what} {when}; {status}"
    if full:
        detail += f"; belongs to full-recording action(s) {', '.join(full)}"
    if from_camera:
        detail += _clock_note(recording)
    return FlagSpec(
        kind,
        severity,
        recording_subject(recording.id),
        detail,
        due=due,
        recording_id=recording.id,
        device=recording.device,
        officer=recording.officer,
        clock_uncertain=from_camera and recording.clock_uncertain,
    )


def coverage_gaps(
    window: tuple[datetime, datetime], footage: Iterable[tuple[datetime, datetime]], tolerance: timedelta
) -> list[Gap]:
    """Parts of ``window`` not covered by the union of ``footage`` that last longer than
    ``tolerance``, including before the first and after the last file."""
    start, end = window
    clipped = sorted((max(s, start), min(e, end)) for s, e in footage if s <= end and e >= start)
    gaps: list[Gap] = []
    cursor = start
    for s, e in clipped:
        if s - cursor > tolerance:
            gaps.append(Gap(cursor, s))
        cursor = max(cursor, e)
    if end - cursor > tolerance:
        gaps.append(Gap(cursor, end))
    return gaps


def format_length(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min {secs} s"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _footage_flags(ctx: _Context) -> Iterable[FlagSpec]:
    for action in ctx.actions.values():
        requirement = ctx.requirement(action)
        if requirement is Requirement.NONE:
            continue
        entry = ctx.policy[action.action_type]
        due = shift(action.end, entry.grace)
        if ctx.now < due:
            continue
        linked = ctx.linked_recordings(action.action_id)
        if requirement is Requirement.RECOMMENDED:
            if not linked:
                yield FlagSpec(
                    FlagKind.FOOTAGE_RECOMMENDED_MISSING,
                    entry.severity,
                    action_subject(action.action_id),
                    f"{ctx.describe(action)}: recording recommended, no footage linked",
                    due=due,
                    action_id=action.action_id,
                    case_id=action.case_id,
                )
            continue
        missing, unattributed = ctx.missing_officers(action, linked)
        for officer in missing:
            detail = (
                f"{ctx.describe(action)}: full recording required, no footage linked for officer {officer}"
            )
            if unattributed:
                detail += (
                    f"; {len(unattributed)} linked recording(s) could not be attributed to an officer: "
                    f"{_ids(unattributed)}"
                )
            yield FlagSpec(
                FlagKind.FOOTAGE_MISSING,
                entry.severity,
                officer_subject(action.action_id, officer),
                detail,
                due=due,
                action_id=action.action_id,
                case_id=action.case_id,
                officer=officer,
            )
        if linked:
            gap_flag = _coverage_flag(ctx, action, entry, due, linked)
            if gap_flag is not None:
                yield gap_flag


def _coverage_flag(
    ctx: _Context, action: Action, entry: ActionPolicy, due: datetime, linked: Sequence[str]
) -> FlagSpec | None:
    footage: list[tuple[datetime, datetime]] = []
    uncertain: list[str] = []
    corrected: list[str] = []
    untimed: list[str] = []
    for rid in linked:
        recording = ctx.recordings[rid]
        start, end = recording.corrected_start, recording.corrected_end
        if start is None or end is None:
            untimed.append(rid)
            continue
        footage.append((start, end))
        if end >= action.start and start <= action.end:
            if recording.clock_uncertain:
                uncertain.append(rid)
            if recording.clock_offset is not None:
                corrected.append(rid)
    gaps = coverage_gaps((action.start, action.end), footage, ctx.settings.coverage_tolerance)
    if not gaps:
        return None
    listed = "; ".join(
        f"gap {n}: {ctx.t(g.start)} to {ctx.t(g.end)} ({format_length(g.length)})"
        for n, g in enumerate(gaps, 1)
    )
    tolerance = format_length(ctx.settings.coverage_tolerance)
    detail = (
        f"{ctx.describe(action)}: linked footage ({len(linked)} recording(s)) leaves {len(gaps)} gap(s) "
        f"longer than {tolerance}: {listed}"
    )
    if untimed:
        detail += f"; without start/end times, not counted: {_ids(untimed)}"
    if corrected:
        detail += f"; camera clocks corrected for {_ids(corrected)}"
    if uncertain:
        detail += f"; decided on uncertain camera clocks of {_ids(uncertain)}"
    return FlagSpec(
        FlagKind.COVERAGE_GAP,
        entry.severity,
        action_subject(action.action_id),
        detail,
        due=due,
        action_id=action.action_id,
        case_id=action.case_id,
        clock_uncertain=bool(uncertain),
        gaps=tuple(gaps),
    )


def _undocked_flags(ctx: _Context, docked_devices: Mapping[str, datetime]) -> Iterable[FlagSpec]:
    after = ctx.settings.undocked_after
    for checkout in ctx.checkouts:
        if checkout.end is None:
            continue  # still out: not due yet
        due = shift(checkout.end, after)
        if ctx.now < due:
            continue
        last = docked_devices.get(checkout.device)
        if last is not None and last >= checkout.start:
            continue
        since = "never docked" if last is None else f"last docked {ctx.t(last)}, before the checkout"
        yield FlagSpec(
            FlagKind.CAMERA_NOT_DOCKED,
            SEVERITY_NOT_DOCKED,
            checkout_subject(checkout.device, checkout.start),
            (
                f"device {checkout.device} checked out to officer {checkout.officer} "
                f"{ctx.t(checkout.start)} to {ctx.t(checkout.end)}; not docked within "
                f"{format_length(after)} after the checkout ended ({since})"
            ),
            due=due,
            officer=checkout.officer,
            device=checkout.device,
        )


def _case_file_flags(ctx: _Context) -> Iterable[FlagSpec]:
    period = ctx.settings.case_file_period
    by_case: dict[str, list[Action]] = defaultdict(list)
    for action in ctx.actions.values():
        if ctx.now >= shift(action.end, period):
            by_case[action.case_id].append(action)
    for case_id, actions in by_case.items():
        problems: list[str] = []
        due: datetime | None = None
        for action in sorted(actions, key=lambda a: (a.end, a.action_id)):
            linked = ctx.linked_recordings(action.action_id)
            unverified = [rid for rid in linked if rid in ctx.unverified]
            missing: list[str] = []
            if ctx.requirement(action) is Requirement.FULL:
                missing, _ = ctx.missing_officers(action, linked)
            if not unverified and not missing:
                continue
            parts = []
            if unverified:
                parts.append(
                    f"{len(unverified)} linked recording(s) not stored and verified: {_ids(unverified)}"
                )
            if missing:
                parts.append(f"required footage missing for officer(s) {', '.join(missing)}")
            problems.append(f"action {action.action_id} ended {ctx.t(action.end)}: {'; '.join(parts)}")
            action_due = shift(action.end, period)
            due = action_due if due is None else min(due, action_due)
        if problems:
            yield FlagSpec(
                FlagKind.CASE_FILE_OVERDUE,
                SEVERITY_CASE_FILE,
                case_subject(case_id),
                f"case {case_id} file not complete {ctx.settings.case_file_days} days "
                f"after its action(s) ended: {' | '.join(problems)}",
                due=due,
                case_id=case_id,
            )


def _ids(ids: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown if len(ids) <= limit else f"{shown} and {len(ids) - limit} more"
