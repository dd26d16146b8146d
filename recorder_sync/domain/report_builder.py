"""Builds the report.

Pure: the caller loads recordings, actions, links and flags; ``build_report`` counts
them for the whole period and per unit, officer, action type and month.  Months and
years are cut in the agency's time zone (``tz``): a recording at 05:00 on 1 January in
Shanghai is a January recording even though it is still 31 December in UTC.

``build_report_from_aggregates`` gives the same report from the tallies of the verified
recordings and of the actions (``domain.report_tallies``), plus the few rows computed
live; its medians come from the delay histogram.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from itertools import accumulate, chain

from recorder_sync.domain.cases import Action, Checkout, require_aware
from recorder_sync.domain.deadlines import Links
from recorder_sync.domain.flags import FlagKind
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.model import FlagState
from recorder_sync.domain.policy import ActionPolicy, DeadlineSettings, Requirement
from recorder_sync.domain.report_tallies import (
    GroupTally,
    ReportAggregates,
    Signature,
    action_contribution,
    bucket_width,
    delay_bucket,
    month_of,
    recording_signature,
    tally,
)
from recorder_sync.domain.reports import (
    DIMENSIONS,
    UNKNOWN,
    FlagRecord,
    GroupStats,
    Report,
    Timeliness,
)
from recorder_sync.domain.subjects import parse_subject
from recorder_sync.domain.timebounds import shift
from recorder_sync.domain.times import compact_utc, parse_compact_utc

_Keys = list[tuple[str, str]]


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
            return min(timedelta(seconds=bucket + bucket_width(bucket) / 2), worst)

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
        checkout_officer = {(c.device, compact_utc(c.start)): c.officer for c in checkouts}
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
                started = parse_compact_utc(parts[3])
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
