"""Camera metadata from file names, sidecars and container tags — each value keeps its source.

Naming profiles are regular expressions with named groups, matched against the
dock-relative POSIX path. Groups understood: ``device``, ``officer``, ``start``
(``YYYYMMDDhhmmss``) or ``date`` (``YYYYMMDD``) + ``time`` (``hhmmss``), ``seq``,
``important`` (present and non-empty = marked important). Naive camera times are
read in the dock's time zone and kept in UTC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from recorder_sync.domain.model import ProbeResult, Sourced


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


def _local(text: str, fmt: str, tz: ZoneInfo) -> datetime | None:
    try:
        return datetime.strptime(text, fmt).replace(tzinfo=tz).astimezone(UTC)
    except ValueError:
        return None


def from_filename(profiles: Sequence[NamingProfile], relpath: str, tz: ZoneInfo) -> dict[str, Sourced]:
    """Values from the first profile (in order) whose pattern matches the whole path."""
    for profile in profiles:
        m = profile.compiled().fullmatch(relpath)
        if m:
            return _values(profile, m, tz)
    return {}


def _values(profile: NamingProfile, m: re.Match[str], tz: ZoneInfo) -> dict[str, Sourced]:
    source = f"filename:{profile.name}"
    groups = {k: v for k, v in m.groupdict().items() if v is not None}
    out: dict[str, Sourced] = {}
    for name in ("device", "officer", "seq"):
        if groups.get(name):
            out[name] = Sourced(groups[name], source)
    start: datetime | None = None
    if "start" in groups:
        start = _local(groups["start"], "%Y%m%d%H%M%S", tz)
    elif "date" in groups and "time" in groups:
        start = _local(groups["date"] + groups["time"], "%Y%m%d%H%M%S", tz)
    if start is not None:
        out["start"] = Sourced(start, source)
    out["important"] = Sourced(bool(groups.get("important")), source)
    return out


def parse_time(value: Any, tz: ZoneInfo) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    return t.astimezone(UTC)


def from_sidecar(text: str, tz: ZoneInfo) -> tuple[dict[str, Sourced], str | None]:
    """Values from a JSON sidecar, and a problem description when it is unusable."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        return {}, f"sidecar is not valid JSON: {e}"
    if not isinstance(doc, dict):
        return {}, "sidecar is not a JSON object"
    out: dict[str, Sourced] = {}
    for name in ("device", "officer", "seq"):
        if isinstance(doc.get(name), (str, int)) and str(doc[name]).strip():
            out[name] = Sourced(str(doc[name]).strip(), "sidecar")
    for name in ("start", "end"):
        t = parse_time(doc.get(name), tz)
        if t is not None:
            out[name] = Sourced(t, "sidecar")
    if isinstance(doc.get("important"), bool):
        out["important"] = Sourced(doc["important"], "sidecar")
    return out, None


def from_container(probe: ProbeResult) -> dict[str, Sourced]:
    out: dict[str, Sourced] = {}
    if probe.creation_time is not None:
        out["start"] = Sourced(probe.creation_time.astimezone(UTC), "container:creation_time")
    return out


def merge(
    *layers: Mapping[str, Sourced], duration_ms: int | None, fallback_start: Sourced | None
) -> dict[str, Sourced]:
    """Earlier layers win. ``end`` is derived from start + duration when nothing states it."""
    merged: dict[str, Sourced] = {}
    for layer in layers:
        for k, v in layer.items():
            merged.setdefault(k, v)
    if "start" not in merged and fallback_start is not None:
        merged["start"] = fallback_start
    start = merged.get("start")
    if "end" not in merged and start is not None:
        length = timedelta(milliseconds=duration_ms or 0)
        merged["end"] = Sourced(
            start.value + length, f"{start.source}+duration" if duration_ms else start.source
        )
    merged.setdefault("important", Sourced(False, "default"))
    return merged
