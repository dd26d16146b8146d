"""Property tests: whatever a camera, a dock or an import file holds, the pure parsers raise
nothing but our own ``Error`` types, and every value they keep is one we can store and show."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from strategies import JSON_VALUES, KEYS, TEXT, TIMES, sidecar_docs

from recorder_sync.adapters.probe import interpret
from recorder_sync.domain import naming
from recorder_sync.domain.clock import ClockReading, parse_clock_file
from recorder_sync.domain.model import Kind, ProbeResult, Sourced
from recorder_sync.domain.timebounds import DEFAULT_BOUNDS
from recorder_sync.domain.untrusted import (
    MAX_MEDIA_DURATION_MS,
    escape,
    media_problem,
)

PURE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ZONES = st.sampled_from([ZoneInfo("Asia/Shanghai"), ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Etc/GMT+12")])
PROFILES = list(naming.BUILTIN_PROFILES.values())


def _names() -> st.SearchStrategy[str]:
    digits = st.text(alphabet=string.digits, min_size=1, max_size=16)
    shaped = st.builds(
        lambda device, officer, start, seq, imp, ext: f"{device}_{officer}_{start}_{seq}{imp}.{ext}",
        st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=12),
        digits,
        st.one_of(
            st.sampled_from(["00010101000000", "99991231235959", "19700101000000", "20261127083015"]),
            st.text(alphabet=string.digits, min_size=14, max_size=14),
        ),
        digits,
        st.sampled_from(["", "_IMP"]),
        st.sampled_from(["MP4", "wav", "jpg", "json", "bin"]),
    )
    folders = st.builds(
        lambda device, date, officer, time: f"{device}/{date}/{officer}_{time}_0001.MP4",
        st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=8),
        st.text(alphabet=string.digits, min_size=8, max_size=8),
        digits,
        st.text(alphabet=string.digits, min_size=6, max_size=6),
    )
    return st.one_of(shaped, folders, st.text(max_size=80))


def _kept_values_are_clean(values: dict[str, Sourced]) -> None:
    for name, v in values.items():
        if isinstance(v.value, str):
            # storable anywhere (UTF-8, PostgreSQL text) and shown as it is
            v.value.encode("utf-8")
            assert "\x00" not in v.value and escape(v.value) == v.value, (name, v)
            assert len(v.value) <= 100
        if isinstance(v.value, datetime):
            assert v.value.tzinfo is not None and v.value.utcoffset() == UTC.utcoffset(None)
            assert DEFAULT_BOUNDS.earliest <= v.value <= DEFAULT_BOUNDS.latest, (name, v)


def _bad_values_are_shown_escaped(layer: naming.Layer | naming.Merged) -> None:
    for bad in layer.bad:
        assert escape(str(bad)) == str(bad)


@PURE
@given(relpath=_names(), tz=ZONES)
def test_file_names_never_raise_and_keep_only_clean_values(relpath: str, tz: ZoneInfo) -> None:
    layer = naming.from_filename(PROFILES, relpath, tz)
    _kept_values_are_clean(layer.values)
    _bad_values_are_shown_escaped(layer)


@PURE
@given(text=sidecar_docs(), tz=ZONES)
def test_sidecars_never_raise_and_keep_only_clean_values(text: str, tz: ZoneInfo) -> None:
    layer = naming.from_sidecar(text, tz)
    _kept_values_are_clean(layer.values)
    _bad_values_are_shown_escaped(layer)
    assert layer.problem is None or escape(layer.problem) == layer.problem or not layer.values


@PURE
@given(
    sidecar=sidecar_docs(),
    relpath=_names(),
    creation=st.datetimes(timezones=st.just(UTC)) | st.none(),
    duration_ms=st.integers(min_value=0, max_value=2**63) | st.none(),
    mtime_ns=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    tz=ZONES,
)
def test_merged_metadata_never_raises_and_keeps_only_clean_values(
    sidecar: str,
    relpath: str,
    creation: datetime | None,
    duration_ms: int | None,
    mtime_ns: int,
    tz: ZoneInfo,
) -> None:
    merged = naming.merge(
        naming.from_sidecar(sidecar, tz),
        naming.from_filename(PROFILES, relpath, tz),
        naming.from_container(ProbeResult(kind=Kind.VIDEO, readable=True, creation_time=creation)),
        duration_ms=duration_ms,
        fallback=naming.from_mtime(mtime_ns),
    )
    _kept_values_are_clean(merged.values)
    _bad_values_are_shown_escaped(merged)
    if "end" in merged.values and "start" in merged.values:
        assert merged.values["end"].value >= merged.values["start"].value


@PURE
@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.dictionaries(KEYS, st.one_of(JSON_VALUES, TIMES), max_size=4).map(
            lambda d: json.dumps(d).encode()
        ),
        st.builds(
            lambda device, t: json.dumps({"device": device, "camera_time": t}).encode(),
            TEXT,
            TIMES,
        ),
        st.integers(min_value=1, max_value=200_000).map(lambda n: b"{" + b'"a":{' * n + b"}" * n),
    ),
    mtime=st.datetimes(timezones=st.just(UTC)),
    tz=ZONES,
)
def test_clock_files_never_raise(data: bytes, mtime: datetime, tz: ZoneInfo) -> None:
    reading = parse_clock_file(data, mtime, tz)
    if isinstance(reading, ClockReading):
        reading.device.encode("utf-8")
        assert escape(reading.device) == reading.device
        assert reading.camera_time.utcoffset() == UTC.utcoffset(None)
    else:
        assert escape(reading) == reading


FFPROBE_INFO = st.fixed_dictionaries(
    {
        "format": st.fixed_dictionaries(
            {},
            optional={
                "format_name": TEXT,
                "duration": st.one_of(TEXT, st.floats().map(str)),
                "bit_rate": st.one_of(TEXT, st.integers().map(str)),
                "tags": st.dictionaries(st.sampled_from(["creation_time", "x"]), TIMES | TEXT, max_size=2),
            },
        ),
        "streams": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "codec_type": st.sampled_from(["video", "audio", "subtitle", "data"]),
                    "codec_name": TEXT,
                    "width": st.integers() | TEXT,
                    "height": st.integers() | TEXT,
                    "duration": st.floats().map(str) | TEXT,
                    "disposition": st.dictionaries(
                        st.sampled_from(["attached_pic", "still_image"]), st.integers(0, 1)
                    ),
                    "tags": st.dictionaries(
                        st.sampled_from(["creation_time", "x"]), TIMES | TEXT, max_size=2
                    ),
                },
            ),
            max_size=3,
        ),
    }
)


@PURE
@given(info=FFPROBE_INFO, size=st.integers(min_value=1, max_value=2**40))
# found by this test: a finite duration whose milliseconds overflow to infinity
@example(info={"format": {}, "streams": [{"duration": "1.797693134862316e+305"}]}, size=1)
def test_ffprobe_reports_never_raise_and_durations_are_bounded(info: dict[str, Any], size: int) -> None:
    result = interpret(info)
    if result.creation_time is not None:
        assert result.creation_time.utcoffset() == UTC.utcoffset(None)
    bit_rate = info["format"].get("bit_rate")
    problem = media_problem(size, result.duration_ms, int(bit_rate) if str(bit_rate).isdigit() else None)
    if problem is None and result.duration_ms:
        assert result.duration_ms <= MAX_MEDIA_DURATION_MS
        assert size >= result.duration_ms / 1000 * 100
