"""Report tallies: what each verified recording and each action adds to the report
(``contribution``, ``action_contribution``), and their sums per month and group
(``tally``, ``merge_tallies``), kept by the sweep.  Delays are binned in a histogram
(``delay_bucket``): a median read from it is within 30 s below four days, within
30 min above.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from recorder_sync.domain.cases import Action, Checkout
from recorder_sync.domain.deadlines import Links, upload_anchor
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.reports import UNKNOWN, UNLINKED, FlagRecord
from recorder_sync.domain.timebounds import local

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


def bucket_width(lower_s: int) -> int:
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


def rebuild_reason(stored_at: datetime | None, stored_cut: str | None, cut: str) -> str | None:
    """Why the report tallies must be rebuilt from every row, or None when bringing them up
    to date from the custody log is enough: they are missing, or were cut with other
    settings (``cut``: the zone, deadline and full-recording types they are cut with now).

    A full sweep does not rebuild them by itself: a tally changes only through what the
    custody log records (verifications, links, imports, dockings, probes), which the
    refresh reads, so a rebuild would write the same rows again (the longest part of a
    full sweep on a year of footage)."""
    if stored_at is None or stored_cut is None:
        return "missing"
    if stored_cut != cut:
        return "cut with other settings"
    return None


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

    for a in actions:  # a hundred thousand in a year: kept to plain dictionary work
        month, full = a.month, int(a.full)
        for where in (
            (month, "total", "all"),
            (month, "unit", a.unit),
            (month, "action_type", a.action_type),
            *((month, "officer", o) for o in a.officers),
        ):
            group = out.get(where)
            if group is None:
                group = out[where] = GroupTally(*where)
            group.actions += 1
            group.full_actions += full
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


def month_bounds(zone: tzinfo, first: datetime, last: datetime) -> list[tuple[datetime, str | None]]:
    """The months of ``zone`` from the one holding ``first`` to the one holding ``last`` as
    (UTC instant from which on, month ``YYYY-MM`` or None), sorted: what a database
    assigns months with by comparing instants (before the first bound there is none either).
    None: the span is left to ``month_of``, after the last month and for two days around a
    month boundary where the zone's offset changes (a change at midnight can make the
    month of an instant go back)."""
    start, end = local(first, zone), local(last, zone)
    year, month = start.year, start.month
    out: list[tuple[datetime, str | None]] = []
    while (year, month) <= (end.year, end.month):
        bound = datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
        label = f"{year:04d}-{month:02d}"
        if zone.utcoffset(bound - _UNSAFE) != zone.utcoffset(bound + _UNSAFE):
            out.extend([(bound - _UNSAFE, None), (bound + _UNSAFE, label)])
        else:
            out.append((bound, label))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    out.append((datetime(year, month, 1, tzinfo=zone).astimezone(UTC), None))
    return out


_UNSAFE = timedelta(days=2)


Bin = tuple[str, str, Sequence[str], Mapping[int, int], int, int, int]
"""Verified recordings counted together by a database: (month, dimension, the keys of the
group (several for the units or types of a recording of several actions), histogram (bucket
→ count), count, how many within the deadline, worst delay in µs)."""


def tally_bins(bins: Iterable[Bin], actions: Iterable[ActionContribution] = ()) -> list[GroupTally]:
    """The tallies ``tally`` gives, from recordings already counted per group, and actions."""
    out: dict[tuple[str, str, str], GroupTally] = {}
    histograms: dict[tuple[str, str, str], dict[int, int]] = {}
    for month, dimension, keys, histogram, count, within, worst in bins:
        for key in keys:
            where = (month, dimension, key)
            group = out.get(where)
            if group is None:
                out[where] = GroupTally(month, dimension, key, count, within, count - within, worst)
                histograms[where] = dict(histogram)
                continue
            group.recordings += count
            group.within += within
            group.late_verified += count - within
            if group.worst_us is None or worst > group.worst_us:
                group.worst_us = worst
            merged = histograms[where]
            for bucket, n in histogram.items():
                merged[bucket] = merged.get(bucket, 0) + n
    for where, group in out.items():
        group.histogram = _flat(histograms[where])
    for part in tally((), timedelta(0), actions):
        where = (part.month, part.dimension, part.key)
        out[where] = merge_tallies(out[where], part) if where in out else part
    return list(out.values())
