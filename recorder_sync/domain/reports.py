"""Period and yearly statistics (the regulation asks for them by 31 January).

Pure: the caller loads recordings, actions, links and flags; ``build_report``
computes upload timeliness (share within the deadline, median and worst delay),
late counts, missing-footage and coverage-gap counts, for the whole period and
per unit, officer, action type and month.  Months and years are cut in the
agency's time zone (``tz``): a recording at 05:00 on 1 January in Shanghai is a
January recording even though it is still 31 December in UTC.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol

from recorder_sync.domain.cases import Action, Checkout, require_aware
from recorder_sync.domain.deadlines import FlagKind, Links, compact_time, parse_subject, upload_anchor
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.model import FlagState
from recorder_sync.domain.policy import ActionPolicy, DeadlineSettings, Requirement

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
        self.delays: list[timedelta] = []
        self.actions: set[str] = set()
        self.full_actions: set[str] = set()
        self.missing_actions: set[str] = set()
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

    def stats(self, dimension: str, key: str) -> GroupStats:
        delays = sorted(self.delays)
        median: timedelta | None = None
        if delays:
            mid = len(delays) // 2
            median = delays[mid] if len(delays) % 2 else (delays[mid - 1] + delays[mid]) / 2
        timeliness = Timeliness(
            recordings=self.recordings,
            verified=len(delays),
            within_deadline=self.within,
            late_verified=self.late_verified,
            late_pending=self.late_pending,
            pending=self.pending,
            undated=self.undated,
            median_delay=median,
            worst_delay=delays[-1] if delays else None,
        )
        return GroupStats(
            dimension,
            key,
            timeliness,
            actions=len(self.actions),
            full_actions=len(self.full_actions),
            full_actions_missing_footage=len(self.missing_actions & self.full_actions),
            actions_with_gaps=len(self.gap_actions),
            late_flags=self.late_flags,
            flags_raised=dict(self.raised),
            flags_open=dict(self.open),
        )


_Keys = list[tuple[str, str]]
_Signature = tuple[str | None, str, tuple[str, ...], tuple[str, ...]]


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
    zone = tz or settings.display_tz
    accs: dict[tuple[str, str], _Acc] = defaultdict(_Acc)

    action_by_id = {a.action_id: a for a in actions}
    case_actions: dict[str, list[Action]] = defaultdict(list)
    for action in action_by_id.values():
        case_actions[action.case_id].append(action)
    actions_of: dict[str, list[str]] = defaultdict(list)  # may repeat an action; deduplicated below
    pairs = (
        ((rid, aid) for rid, aids in links.items() for aid in aids) if isinstance(links, Mapping) else links
    )
    for rid, aid in pairs:
        if aid in action_by_id:
            actions_of[rid].append(aid)

    def month(time: datetime | None) -> str | None:
        if time is None:
            return None
        local = time.astimezone(zone)
        return f"{local.year:04d}-{local.month:02d}"

    year_prefix = None if year is None else f"{year:04d}-"

    def in_year(m: str | None) -> bool:
        return year_prefix is None or (m is not None and m.startswith(year_prefix))

    def keys(m: str | None, officers: Iterable[str], units: Iterable[str], types: Iterable[str]) -> _Keys:
        out: _Keys = [("total", "all"), ("month", m or UNKNOWN)]
        out.extend(("officer", o) for o in dict.fromkeys(officers))
        out.extend(("unit", u) for u in dict.fromkeys(units))
        out.extend(("action_type", t) for t in dict.fromkeys(types))
        return out

    # Recordings are first counted per signature (month, officer, units, types), of which
    # there are far fewer than recordings, then spread over the groups.
    group_of = {aid: (a.unit, a.action_type) for aid, a in action_by_id.items()}
    unlinked: tuple[tuple[str, ...], tuple[str, ...]] = ((UNLINKED,), (UNLINKED,))
    signature_of: dict[str, _Signature] = {}
    per_signature: dict[_Signature, _Counts] = {}
    deadline = settings.upload_deadline
    for rec in recordings:
        anchor = upload_anchor(rec)
        ended = anchor[0] if anchor else None
        m = month(ended)
        aids = actions_of.get(rec.id)
        units: tuple[str, ...]
        types: tuple[str, ...]
        if not aids:
            units, types = unlinked
        elif len(aids) == 1:
            unit, kind = group_of[aids[0]]
            units, types = (unit,), (kind,)
        else:
            units = tuple(sorted({group_of[aid][0] for aid in aids}))
            types = tuple(sorted({group_of[aid][1] for aid in aids}))
        signature: _Signature = (m, rec.officer or UNKNOWN, units, types)
        signature_of[rec.id] = signature
        if not in_year(m):
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
        elif now >= ended + deadline:
            acc.late_pending += 1
        else:
            acc.pending += 1

    signature_keys: dict[_Signature, _Keys] = {
        sig: keys(sig[0], [sig[1]], sig[2], sig[3]) for sig in per_signature
    }
    for signature, part in per_signature.items():
        for key in signature_keys[signature]:
            accs[key].add_recordings(part)

    def action_keys(action: Action) -> _Keys:
        return keys(month(action.end), action.officers, [action.unit], [action.action_type])

    for action in action_by_id.values():
        if not in_year(month(action.end)):
            continue
        entry = policy.get(action.action_type)
        for key in action_keys(action):
            accs[key].actions.add(action.action_id)
            if entry is not None and entry.requirement is Requirement.FULL:
                accs[key].full_actions.add(action.action_id)

    checkout_officer = {(c.device, compact_time(c.start)): c.officer for c in checkouts}
    for flag in flags:
        parts = parse_subject(flag.subject)
        fkeys: _Keys | None = None
        action_id: str | None = None
        if parts[0] == "recording" and len(parts) == 2:
            about = signature_of.get(parts[1])
            if about is not None:
                if not in_year(about[0]):
                    continue
                fkeys = signature_keys.get(about) or keys(about[0], [about[1]], about[2], about[3])
        elif parts[0] == "action" and parts[1] in action_by_id:
            action_id = parts[1]
            action = action_by_id[action_id]
            fkeys = action_keys(action)
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
        state = FlagState(flag.state)
        is_open = state in (FlagState.OPEN, FlagState.ACKNOWLEDGED)
        for key in fkeys:
            group = accs[key]
            group.raised[flag.kind] += 1
            if is_open:
                group.open[flag.kind] += 1
            if flag.kind == FlagKind.UPLOAD_LATE and state is not FlagState.RESOLVED:
                group.late_flags += 1
            if action_id is not None and flag.kind == FlagKind.FOOTAGE_MISSING:
                group.missing_actions.add(action_id)
            if action_id is not None and flag.kind == FlagKind.COVERAGE_GAP:
                group.gap_actions.add(action_id)

    total = accs[("total", "all")].stats("total", "all")
    groups: dict[str, tuple[GroupStats, ...]] = {}
    for dim in DIMENSIONS:
        groups[dim] = tuple(accs[(d, k)].stats(d, k) for d, k in sorted(key for key in accs if key[0] == dim))
    return Report(now, year, str(zone), total, groups)


def _parse_compact(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
