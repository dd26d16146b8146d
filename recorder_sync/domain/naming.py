"""Camera metadata from file names, sidecars and container tags — each value keeps its source.

Naming profiles are regular expressions with named groups, matched against the
dock-relative POSIX path. Groups understood: ``device``, ``officer``, ``start``
(``YYYYMMDDhhmmss``) or ``date`` (``YYYYMMDD``) + ``time`` (``hhmmss``), ``seq``,
``important`` (present and non-empty = marked important). Naive camera times are
read in the dock's time zone and kept in UTC.

Every value here is camera-controlled: a time outside the plausible range, or text
with NUL or control characters, is left out and comes back as a ``BadValue`` naming
the source and the value (the pipeline flags it ``bad-metadata``); nothing a camera
writes can make these functions raise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from recorder_sync.domain.model import ProbeResult, Sourced
from recorder_sync.domain.timebounds import DEFAULT_BOUNDS, TimeBounds
from recorder_sync.domain.times import parse_lenient
from recorder_sync.domain.untrusted import (
    BadValue,
    add_duration,
    from_timestamp_ns,
    load_json,
    shown,
    text_problem,
    to_utc,
)


@dataclass(frozen=True)
class NamingProfile:
    name: str
    pattern: str

    def compiled(self) -> re.Pattern[str]:
        return _compile(self.pattern)


_CACHE: dict[str, re.Pattern[str]] = {}


def _compile(pattern: str) -> re.Pattern[str]:
    if pattern not in _CACHE:
        _CACHE[pattern] = re.compile(pattern)
    return _CACHE[pattern]


BUILTIN_PROFILES: dict[str, NamingProfile] = {
    # DSJ-A1B2C3_031245_20261127083015_0001.MP4 (optionally ..._0001_IMP.MP4)
    "default": NamingProfile(
        "default",
        r"(?:.*/)?(?P<device>[A-Za-z0-9-]+)_(?P<officer>\d+)_(?P<start>\d{14})_(?P<seq>\d+)"
        r"(?P<important>_IMP)?\.[A-Za-z0-9]+",
    ),
    # DSJ-77Q1/20261127/031246_091500_0003.MP4 — one folder per device, one per day
    "folders": NamingProfile(
        "folders",
        r"(?:.*/)?(?P<device>[A-Za-z0-9-]+)/(?P<date>\d{8})/(?P<officer>\d+)_(?P<time>\d{6})_(?P<seq>\d+)"
        r"(?P<important>_IMP)?\.[A-Za-z0-9]+",
    ),
}


@dataclass(frozen=True)
class Layer:
    """What one source says: the values kept, the values refused, and (for a sidecar) why
    the whole source is unusable."""

    values: dict[str, Sourced] = field(default_factory=dict)
    bad: tuple[BadValue, ...] = ()
    problem: str | None = None


class _Collect:
    """Values of one source, screened as they are added."""

    def __init__(self, source: str, bounds: TimeBounds) -> None:
        self.source, self.bounds = source, bounds
        self.values: dict[str, Sourced] = {}
        self.bad: list[BadValue] = []

    def text(self, name: str, value: str) -> None:
        why = text_problem(value)
        if why is None:
            self.values[name] = Sourced(value, self.source)
        else:
            self.bad.append(BadValue(name, self.source, shown(value), why))

    def time(self, name: str, raw: str, t: datetime | None) -> None:
        """``t`` is ``raw`` in UTC, None when it falls off the calendar."""
        why = self.bounds.problem(t)
        if why is None:
            self.values[name] = Sourced(t, self.source)
        else:
            self.bad.append(BadValue(name, self.source, shown(raw), why))

    def layer(self, problem: str | None = None) -> Layer:
        return Layer(self.values, tuple(self.bad), problem)


def _local(text: str, fmt: str, tz: ZoneInfo) -> tuple[datetime | None, bool]:
    """(the time in UTC or None off the calendar, whether ``text`` is a date at all)."""
    try:
        naive = datetime.strptime(text, fmt)
    except ValueError:
        return None, False
    return to_utc(naive, tz), True


def from_filename(
    profiles: Sequence[NamingProfile], relpath: str, tz: ZoneInfo, bounds: TimeBounds = DEFAULT_BOUNDS
) -> Layer:
    """Values from the first profile (in order) whose pattern matches the whole path."""
    for profile in profiles:
        m = profile.compiled().fullmatch(relpath)
        if m:
            return _values(profile, m, tz, bounds)
    return Layer()


def _values(profile: NamingProfile, m: re.Match[str], tz: ZoneInfo, bounds: TimeBounds) -> Layer:
    out = _Collect(f"filename:{profile.name}", bounds)
    groups = {k: v for k, v in m.groupdict().items() if v is not None}
    for name in ("device", "officer", "seq"):
        if groups.get(name):
            out.text(name, groups[name])
    raw = groups.get("start") or (
        groups["date"] + groups["time"] if "date" in groups and "time" in groups else None
    )
    if raw is not None:
        start, is_date = _local(raw, "%Y%m%d%H%M%S", tz)
        if is_date:  # digits that are no date at all (month 13) are not a time: nothing to report
            out.time("start", raw, start)
    out.values["important"] = Sourced(bool(groups.get("important")), out.source)
    return out.layer()


def from_sidecar(text: str, tz: ZoneInfo, bounds: TimeBounds = DEFAULT_BOUNDS) -> Layer:
    """Values from a JSON sidecar; ``problem`` says why it is unusable as a whole."""
    try:
        doc = load_json(text)
    except ValueError as e:
        return Layer(problem=f"sidecar is not valid JSON: {e}")
    if not isinstance(doc, dict):
        return Layer(problem="sidecar is not a JSON object")
    out = _Collect("sidecar", bounds)
    for name in ("device", "officer", "seq"):
        value = doc.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            out.text(name, str(value).strip())
    for name in ("start", "end"):
        raw = doc.get(name)
        if raw is None:
            continue
        try:
            t = parse_lenient(raw) if isinstance(raw, str) else None
        except ValueError:
            t = None
        if t is None:
            out.bad.append(BadValue(name, out.source, shown(raw), "not an ISO 8601 time"))
        else:
            out.time(name, raw, to_utc(t, tz))
    if isinstance(doc.get("important"), bool):
        out.values["important"] = Sourced(doc["important"], "sidecar")
    return out.layer()


def from_container(probe: ProbeResult, bounds: TimeBounds = DEFAULT_BOUNDS) -> Layer:
    out = _Collect("container:creation_time", bounds)
    if probe.creation_time is not None:
        t = probe.creation_time
        out.time("start", t.isoformat(), to_utc(t, UTC))
    return out.layer()


def from_mtime(mtime_ns: int, bounds: TimeBounds = DEFAULT_BOUNDS) -> Layer:
    """The file's mtime as the start of last resort (a camera with a reset clock stamps 1970)."""
    out = _Collect("file-mtime", bounds)
    out.time("start", str(mtime_ns), from_timestamp_ns(mtime_ns))
    return out.layer()


@dataclass(frozen=True)
class Merged:
    values: dict[str, Sourced]
    bad: tuple[BadValue, ...]


def merge(
    *layers: Layer,
    duration_ms: int | None,
    fallback: Layer | None = None,
    bounds: TimeBounds = DEFAULT_BOUNDS,
) -> Merged:
    """Earlier layers win. ``end`` is derived from start + duration when nothing states it.

    ``fallback`` (the mtime) gives the start only when no layer does, and only then is a
    refused fallback worth reporting."""
    merged: dict[str, Sourced] = {}
    bad: list[BadValue] = []
    for layer in layers:
        bad.extend(layer.bad)
        for k, v in layer.values.items():
            merged.setdefault(k, v)
    if "start" not in merged and fallback is not None:
        bad.extend(fallback.bad)
        if "start" in fallback.values:
            merged["start"] = fallback.values["start"]
    start, stated = merged.get("start"), merged.get("end")
    if start is not None and stated is not None and stated.value < start.value:
        before = f"before the start ({start.value.isoformat()} from {start.source})"
        bad.append(BadValue("end", stated.source, shown(stated.value.isoformat()), before))
        del merged["end"]
    if "end" not in merged and start is not None:
        if not duration_ms:
            merged["end"] = Sourced(start.value, start.source)
        else:
            source = f"{start.source}+duration"
            end = add_duration(start.value, duration_ms)
            why = bounds.problem(end)
            if why is None:
                merged["end"] = Sourced(end, source)
            else:
                shown_end = f"{start.value.isoformat()} + {duration_ms} ms"
                bad.append(BadValue("end", source, shown(shown_end), why))
    merged.setdefault("important", Sourced(False, "default"))
    return Merged(merged, tuple(bad))
