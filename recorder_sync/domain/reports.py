"""Period and yearly statistics (the regulation asks for them by 31 January).

Pure: the caller loads recordings, actions, links and flags; ``build_report``
computes upload timeliness (share within the deadline, median and worst delay),
late counts, missing-footage and coverage-gap counts, for the whole period and
per unit, officer, action type and month.  Months and years are cut in the
agency's time zone (``tz``): a recording at 05:00 on 1 January in Shanghai is a
January recording even though it is still 31 December in UTC.

``build_report_from_aggregates`` gives the same report from tallies of the verified
recordings (``contribution`` and ``tally``, kept by the sweep) and counts of actions,
plus the few rows computed live; its medians come from a delay histogram
(``delay_bucket``): within 30 s below four days, within 30 min above.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import accumulate, chain
from typing import Any, Protocol

from recorder_sync.domain.cases import Action, Checkout, require_aware
from recorder_sync.domain.deadlines import Links, upload_anchor
from recorder_sync.domain.flags import FlagKind
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.model import FlagState
from recorder_sync.domain.policy import ActionPolicy, DeadlineSettings, Requirement
from recorder_sync.domain.subjects import compact_time, parse_subject
from recorder_sync.domain.timebounds import local, shift

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

    def as_json(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "year": self.year,
            "timezone": self.tz,
            "total": self.total.as_json(),
            **{f"by_{dim}": [g.as_json() for g in self.groups.get(dim, ())] for dim in DIMENSIONS},
        }


def _seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


class _Counts:
    """Recording counts of one signature (a light object: there can be many)."""

    __slots__ = ("delays", "late_pending", "late_verified", "pending", "recordings", "undated", "within")

    def __init__(self) -> None:
        self.recordings = 0
        self.within = 0
        self.late_verified = 0
        self.late_pending = 0
        self.pending = 0
        self.undated = 0
        self.delays: list[timedelta] = []


class _Acc:
    def __init__(self) -> None:
        self.recordings = 0
        self.within = 0
        self.late_verified = 0
        self.late_pending = 0
        self.pending = 0
        self.undated = 0
        self.delays: list[timedelta] = []  # exact, of recordings counted live
        self.histograms: list[Sequence[int]] = []  # of tallies: flat [bucket, count, …]
        self.worst_us: int | None = None  # of tallied recordings
        self.actions = 0
        self.full_actions = 0
        self.missing_actions: set[str] = set()  # full actions of this group with footage missing
        self.gap_actions: set[str] = set()
        self.late_flags = 0
        self.raised: dict[str, int] = defaultdict(int)
        self.open: dict[str, int] = defaultdict(int)

    def add_recordings(self, other: _Counts) -> None:
        self.recordings += other.recordings
        self.within += other.within
        self.late_verified += other.late_verified
        self.late_pending += other.late_pending
        self.pending += other.pending
        self.undated += other.undated
        self.delays.extend(other.delays)

    def add_tally(self, tally: GroupTally) -> None:
        self.recordings += tally.recordings
        self.within += tally.within
        self.late_verified += tally.late_verified
        if tally.histogram:
            self.histograms.append(tally.histogram)
        self.actions += tally.actions
        self.full_actions += tally.full_actions
        if tally.worst_us is not None and (self.worst_us is None or tally.worst_us > self.worst_us):
            self.worst_us = tally.worst_us

    def _delays(self) -> tuple[int, timedelta | None, timedelta | None]:
        """(verified, median, worst): exact from the delays, or from the histograms when
        tallies were added (the delays counted live go into them too)."""
        if not self.histograms:
            delays = sorted(self.delays)
            if not delays:
                return 0, None, None
            mid = len(delays) // 2
            median = delays[mid] if len(delays) % 2 else (delays[mid - 1] + delays[mid]) / 2
            return len(delays), median, delays[-1]
        # the histograms are concatenated, not merged: sorting and cumulative sums then run
        # in C, which matters at hundreds of thousands of buckets per report
        live = [delay // timedelta(microseconds=1) for delay in self.delays]
        buckets = list(chain.from_iterable(h[0::2] for h in self.histograms))
        counts = list(chain.from_iterable(h[1::2] for h in self.histograms))
        buckets.extend(delay_bucket(us) for us in live)
        counts.extend([1] * len(live))
        worst_us = max(w for w in (self.worst_us, *live) if w is not None)
        worst = timedelta(microseconds=worst_us)
        order = sorted(range(len(buckets)), key=buckets.__getitem__)
        cumulative = list(accumulate(map(counts.__getitem__, order)))
        n = cumulative[-1]

        def value(rank: int) -> timedelta:  # the delay of rank ``rank`` (from 0), to its bucket
            bucket = buckets[order[bisect_right(cumulative, rank)]]
            return min(timedelta(seconds=bucket + _bucket_width(bucket) / 2), worst)

        median = value(n // 2) if n % 2 else (value(n // 2 - 1) + value(n // 2)) / 2
        return n, median, worst

    def stats(self, dimension: str, key: str) -> GroupStats:
        verified, median, worst = self._delays()
        timeliness = Timeliness(
            recordings=self.recordings,
            verified=verified,
            within_deadline=self.within,
            late_verified=self.late_verified,
            late_pending=self.late_pending,
            pending=self.pending,
            undated=self.undated,
            median_delay=median,
            worst_delay=worst,
        )
        return GroupStats(
            dimension,
            key,
            timeliness,
            actions=self.actions,
            full_actions=self.full_actions,
            full_actions_missing_footage=len(self.missing_actions),
            actions_with_gaps=len(self.gap_actions),
            late_flags=self.late_flags,
            flags_raised=dict(self.raised),
            flags_open=dict(self.open),
        )


_Keys = list[tuple[str, str]]
Signature = tuple[str | None, str, tuple[str, ...], tuple[str, ...]]
"""(month of the recording's end, officer, units, action types of its linked actions)."""

# Delay histogram: 1-minute buckets below FINE_LIMIT, 1-hour buckets above.  A median
# read from it is the middle of its bucket (clamped to the exact worst delay): within
# 30 s below FINE_LIMIT, within 30 min above it.
FINE_BUCKET_S = 60
COARSE_BUCKET_S = 3600
FINE_LIMIT = timedelta(days=4)
_US = 1_000_000


def delay_bucket(delay_us: int) -> int:
    """The lower bound, in seconds, of the histogram bucket of a delay in microseconds."""
    width = FINE_BUCKET_S if delay_us < FINE_LIMIT // timedelta(microseconds=1) else COARSE_BUCKET_S
    return delay_us // (width * _US) * width


def _bucket_width(lower_s: int) -> int:
    return FINE_BUCKET_S if lower_s < FINE_LIMIT.total_seconds() else COARSE_BUCKET_S


@dataclass(frozen=True)
class Contribution:
    """What one stored and verified recording adds to the report: final until its links,
    its actions' unit or type, or its camera clock evidence change."""

    recording_id: str
    month: str
    officer: str
    units: tuple[str, ...]
    types: tuple[str, ...]
    delay_us: int

    @property
    def signature(self) -> Signature:
        return (self.month, self.officer, self.units, self.types)


@dataclass
class GroupTally:
    """Verified recordings of one group (``total``/``officer``/``unit``/``action_type``)
    in one month: counts, a delay histogram and the exact worst delay.  The histogram is
    flat, ``[bucket, count, bucket, count, …]`` by bucket (a bucket is its lower bound in s)."""

    month: str
    dimension: str
    key: str
    recordings: int = 0
    within: int = 0
    late_verified: int = 0
    worst_us: int | None = None
    histogram: list[int] = field(default_factory=list)
    actions: int = 0
    full_actions: int = 0


@dataclass(frozen=True)
class ActionContribution:
    """What one action adds to the report (its counts), until it is imported again."""

    action_id: str
    month: str
    officers: tuple[str, ...]
    unit: str
    action_type: str
    full: bool


def action_contribution(action: Action, full: bool, zone: tzinfo) -> ActionContribution:
    """``full``: the policy requires full recording of the action's type."""
    month = month_of(action.end, zone)
    assert month is not None
    officers = tuple(dict.fromkeys(action.officers))
    return ActionContribution(action.action_id, month, officers, action.unit, action.action_type, full)


@dataclass(frozen=True)
class ReportAggregates:
    """Inputs of a report read from aggregates: tallies of verified recordings and of
    actions, and the few rows computed live (recordings not verified as of ``now`` with their
    links and actions; flags with the actions, cases, checkouts and recording signatures
    they are about)."""

    tallies: Sequence[GroupTally]
    recordings: Sequence[RecordingFacts]
    actions: Sequence[Action]
    links: Links
    flags: Sequence[FlagRecord]
    checkouts: Sequence[Checkout]
    signatures: Mapping[str, Signature]  # of verified recordings that flags are about


def month_of(time: datetime | None, zone: tzinfo) -> str | None:
    if time is None:
        return None
    there = local(time, zone)
    return f"{there.year:04d}-{there.month:02d}"


def recording_signature(
    rec: RecordingFacts, aids: Sequence[str] | None, group_of: Mapping[str, tuple[str, str]], zone: tzinfo
) -> tuple[Signature, datetime | None]:
    """A recording's signature and the time its upload deadline counts from."""
    anchor = upload_anchor(rec)
    ended = anchor[0] if anchor else None
    units: tuple[str, ...]
    types: tuple[str, ...]
    if not aids:
        units, types = (UNLINKED,), (UNLINKED,)
    elif len(aids) == 1:
        unit, kind = group_of[aids[0]]
        units, types = (unit,), (kind,)
    else:
        units = tuple(sorted({group_of[aid][0] for aid in aids}))
        types = tuple(sorted({group_of[aid][1] for aid in aids}))
    return (month_of(ended, zone), rec.officer or UNKNOWN, units, types), ended


def contribution(
    rec: RecordingFacts,
    aids: Sequence[str] | None,
    group_of: Mapping[str, tuple[str, str]],
    zone: tzinfo,
    now: datetime,
) -> Contribution | None:
    """The recording's final contribution, or None while it is not verified as of ``now``."""
    if not rec.verified_by(now):
        return None
    (month, officer, units, types), ended = recording_signature(rec, aids, group_of, zone)
    if month is None or ended is None or rec.stored_verified_at is None:
        return None
    delay = rec.stored_verified_at - ended
    return Contribution(rec.id, month, officer, units, types, delay // timedelta(microseconds=1))


def tally(
    contributions: Iterable[Contribution],
    deadline: timedelta,
    actions: Iterable[ActionContribution] = (),
) -> list[GroupTally]:
    """Group tallies per month of verified recordings and of actions (counted as
    ``build_report`` does)."""
    limit_us = deadline // timedelta(microseconds=1)
    out: dict[tuple[str, str, str], GroupTally] = {}
    histograms: dict[tuple[str, str, str], dict[int, int]] = defaultdict(dict)

    def group_of(month: str, dim: str, key: str) -> GroupTally:
        group = out.get((month, dim, key))
        if group is None:
            group = out[(month, dim, key)] = GroupTally(month, dim, key)
        return group

    for a in actions:
        keys = [("total", "all"), ("unit", a.unit), ("action_type", a.action_type)]
        keys.extend(("officer", o) for o in a.officers)
        for dim, key in keys:
            group = group_of(a.month, dim, key)
            group.actions += 1
            group.full_actions += int(a.full)
    for c in contributions:
        groups = [("total", "all"), ("officer", c.officer)]
        groups.extend(("unit", u) for u in c.units)
        groups.extend(("action_type", t) for t in c.types)
        bucket = delay_bucket(c.delay_us)
        for dim, key in groups:
            group = group_of(c.month, dim, key)
            group.recordings += 1
            if c.delay_us <= limit_us:
                group.within += 1
            else:
                group.late_verified += 1
            histogram = histograms[(c.month, dim, key)]
            histogram[bucket] = histogram.get(bucket, 0) + 1
            if group.worst_us is None or c.delay_us > group.worst_us:
                group.worst_us = c.delay_us
    for where, group in out.items():
        group.histogram = _flat(histograms.get(where, {}))
    return list(out.values())


def merge_tallies(a: GroupTally, b: GroupTally) -> GroupTally:
    """The tally of the recordings of both (same month and group)."""
    histogram = dict(zip(a.histogram[0::2], a.histogram[1::2], strict=True))
    for bucket, count in zip(b.histogram[0::2], b.histogram[1::2], strict=True):
        histogram[bucket] = histogram.get(bucket, 0) + count
    worsts = [w for w in (a.worst_us, b.worst_us) if w is not None]
    return GroupTally(
        a.month,
        a.dimension,
        a.key,
        a.recordings + b.recordings,
        a.within + b.within,
        a.late_verified + b.late_verified,
        max(worsts) if worsts else None,
        _flat(histogram),
        a.actions + b.actions,
        a.full_actions + b.full_actions,
    )


def _flat(histogram: Mapping[int, int]) -> list[int]:
    return [x for item in sorted(histogram.items()) for x in item]


class _Builder:
    """Accumulates a report's groups from live rows and from aggregates."""

    def __init__(self, now: datetime, settings: DeadlineSettings, zone: tzinfo, year: int | None) -> None:
        self.now = now
        self.settings = settings
        self.zone = zone
        self.year = year
        self.year_prefix = None if year is None else f"{year:04d}-"
        self.accs: dict[tuple[str, str], _Acc] = defaultdict(_Acc)
        self.signature_of: dict[str, Signature] = {}
        self.signature_keys: dict[Signature, _Keys] = {}
        self.months: dict[datetime, str | None] = {}  # month_of, cached: flags share times

    def month(self, time: datetime | None) -> str | None:
        if time is None:
            return None
        m = self.months.get(time)
        if m is None:
            m = self.months[time] = month_of(time, self.zone)
        return m

    def in_year(self, m: str | None) -> bool:
        return self.year_prefix is None or (m is not None and m.startswith(self.year_prefix))

    @staticmethod
    def keys(m: str | None, officers: Iterable[str], units: Iterable[str], types: Iterable[str]) -> _Keys:
        out: _Keys = [("total", "all"), ("month", m or UNKNOWN)]
        out.extend(("officer", o) for o in dict.fromkeys(officers))
        out.extend(("unit", u) for u in dict.fromkeys(units))
        out.extend(("action_type", t) for t in dict.fromkeys(types))
        return out

    def action_keys(self, action: Action) -> _Keys:
        return self.keys(self.month(action.end), action.officers, [action.unit], [action.action_type])

    def add_recordings(
        self, recordings: Iterable[RecordingFacts], action_by_id: Mapping[str, Action], links: Links
    ) -> None:
        """Recordings counted live: first per signature (far fewer than recordings), then
        spread over the groups."""
        actions_of: dict[str, list[str]] = defaultdict(list)  # may repeat an action: deduplicated
        pairs = (
            ((rid, aid) for rid, aids in links.items() for aid in aids)
            if isinstance(links, Mapping)
            else links
        )
        for rid, aid in pairs:
            if aid in action_by_id:
                actions_of[rid].append(aid)
        group_of = {aid: (a.unit, a.action_type) for aid, a in action_by_id.items()}
        per_signature: dict[Signature, _Counts] = {}
        deadline = self.settings.upload_deadline
        now = self.now
        for rec in recordings:
            signature, ended = recording_signature(rec, actions_of.get(rec.id), group_of, self.zone)
            self.signature_of[rec.id] = signature
            if not self.in_year(signature[0]):
                continue
            acc = per_signature.get(signature)
            if acc is None:
                acc = per_signature[signature] = _Counts()
            acc.recordings += 1
            verified = rec.stored_verified_at
            if ended is None:
                acc.undated += 1
            elif verified is not None and verified <= now:
                delay = verified - ended
                acc.delays.append(delay)
                if delay <= deadline:
                    acc.within += 1
                else:
                    acc.late_verified += 1
            elif now >= shift(ended, deadline):
                acc.late_pending += 1
            else:
                acc.pending += 1
        for signature, part in per_signature.items():
            for key in self._signature_keys(signature):
                self.accs[key].add_recordings(part)

    def _signature_keys(self, sig: Signature) -> _Keys:
        keys = self.signature_keys.get(sig)
        if keys is None:
            keys = self.signature_keys[sig] = self.keys(sig[0], [sig[1]], sig[2], sig[3])
        return keys

    def add_tallies(self, tallies: Iterable[GroupTally]) -> None:
        for t in tallies:
            if not self.in_year(t.month):
                continue
            targets = [(t.dimension, t.key)]
            if t.dimension == "total":
                targets.append(("month", t.month))
            for key in targets:
                self.accs[key].add_tally(t)

    def add_actions(self, actions: Iterable[Action], policy: Mapping[str, ActionPolicy]) -> None:
        counted = (action_contribution(a, _is_full(a, policy), self.zone) for a in actions)
        self.add_tallies(tally((), self.settings.upload_deadline, counted))

    def add_flags(
        self,
        flags: Iterable[FlagRecord],
        actions: Iterable[Action],
        policy: Mapping[str, ActionPolicy],
        checkouts: Iterable[Checkout],
        signatures: Mapping[str, Signature] | None = None,
    ) -> None:
        action_by_id = {a.action_id: a for a in actions}
        case_actions: dict[str, list[Action]] = defaultdict(list)
        for act in action_by_id.values():
            case_actions[act.case_id].append(act)
        checkout_officer = {(c.device, compact_time(c.start)): c.officer for c in checkouts}
        keys, month, in_year, accs = self.keys, self.month, self.in_year, self.accs
        for flag in flags:
            parts = parse_subject(flag.subject)
            fkeys: _Keys | None = None
            action: Action | None = None
            if parts[0] == "recording" and len(parts) == 2:
                about = self.signature_of.get(parts[1]) or (signatures or {}).get(parts[1])
                if about is not None:
                    if not in_year(about[0]):
                        continue
                    fkeys = self._signature_keys(about)
            elif parts[0] == "action" and parts[1] in action_by_id:
                action = action_by_id[parts[1]]
                fkeys = self.action_keys(action)
                if len(parts) == 4 and parts[2] == "officer":
                    fkeys = keys(month(action.end), [parts[3]], [action.unit], [action.action_type])
                if not in_year(month(action.end)):
                    continue
            elif parts[0] == "case" and parts[1] in case_actions:
                acts = case_actions[parts[1]]
                first_end = min(a.end for a in acts)
                if not in_year(month(first_end)):
                    continue
                fkeys = keys(
                    month(first_end),
                    [o for a in acts for o in a.officers],
                    [a.unit for a in acts],
                    [a.action_type for a in acts],
                )
            elif parts[0] == "device" and len(parts) == 4:
                started = _parse_compact(parts[3])
                officer = checkout_officer.get((parts[1], parts[3]), UNKNOWN)
                if not in_year(month(started)):
                    continue
                fkeys = keys(month(started), [officer], [], [])
            if fkeys is None:  # about something not in the inputs: date it by its due time
                if not in_year(month(flag.due)):
                    continue
                fkeys = keys(month(flag.due), [], [], [])
            kind, state = flag.kind, FlagState(flag.state)
            is_open = state in (FlagState.OPEN, FlagState.ACKNOWLEDGED)
            late = kind == FlagKind.UPLOAD_LATE and state is not FlagState.RESOLVED
            # a footage-missing flag counts for a group that counts its action as full
            missing_in = (
                set(self.action_keys(action))
                if action is not None and kind == FlagKind.FOOTAGE_MISSING and _is_full(action, policy)
                else None
            )
            gap = action is not None and kind == FlagKind.COVERAGE_GAP
            for key in fkeys:
                group = accs[key]
                group.raised[kind] += 1
                if is_open:
                    group.open[kind] += 1
                if late:
                    group.late_flags += 1
                if missing_in is not None and action is not None and key in missing_in:
                    group.missing_actions.add(action.action_id)
                if gap and action is not None:
                    group.gap_actions.add(action.action_id)

    def report(self) -> Report:
        accs = self.accs
        total = accs[("total", "all")].stats("total", "all")
        groups: dict[str, tuple[GroupStats, ...]] = {}
        for dim in DIMENSIONS:
            groups[dim] = tuple(
                accs[(d, k)].stats(d, k) for d, k in sorted(key for key in accs if key[0] == dim)
            )
        return Report(self.now, self.year, str(self.zone), total, groups)


def _is_full(action: Action, policy: Mapping[str, ActionPolicy]) -> bool:
    entry = policy.get(action.action_type)
    return entry is not None and entry.requirement is Requirement.FULL


def build_report(
    now: datetime,
    recordings: Iterable[RecordingFacts],
    actions: Iterable[Action],
    links: Links,
    flags: Iterable[FlagRecord],
    policy: Mapping[str, ActionPolicy],
    settings: DeadlineSettings | None = None,
    *,
    checkouts: Iterable[Checkout] = (),
    year: int | None = None,
    tz: tzinfo | None = None,
) -> Report:
    """Statistics as of ``now``, restricted to ``year`` (local to ``tz``) when given.

    A recording counts in the month its upload deadline counts from (its end), an
    action in the month it ended, a flag in the month of what it is about.  A
    recording linked to several actions counts under each of their units and types.
    ``checkouts`` (optional) attribute camera-not-docked flags to officers.
    """
    require_aware("now", now)
    settings = settings or DeadlineSettings()
    builder = _Builder(now, settings, tz or settings.display_tz, year)
    action_by_id = {a.action_id: a for a in actions}
    builder.add_recordings(recordings, action_by_id, links)
    builder.add_actions(action_by_id.values(), policy)
    builder.add_flags(flags, action_by_id.values(), policy, checkouts)
    return builder.report()


def build_report_from_aggregates(
    now: datetime,
    aggregates: ReportAggregates,
    policy: Mapping[str, ActionPolicy],
    settings: DeadlineSettings,
    *,
    year: int | None = None,
) -> Report:
    """The same report as ``build_report``, from tallies of the verified recordings and
    of the actions; medians of groups with tallies have the histogram's resolution."""
    require_aware("now", now)
    builder = _Builder(now, settings, settings.display_tz, year)
    action_by_id = {a.action_id: a for a in aggregates.actions}
    builder.add_tallies(aggregates.tallies)
    builder.add_recordings(aggregates.recordings, action_by_id, aggregates.links)
    builder.add_flags(
        aggregates.flags, action_by_id.values(), policy, aggregates.checkouts, aggregates.signatures
    )
    return builder.report()


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


def _parse_compact(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
