"""Camera-controlled metadata that used to crash ingestion (issue 7, item 4): pure parsers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from recorder_sync.domain import naming
from recorder_sync.domain.clock import parse_clock_file
from recorder_sync.domain.model import Kind, ProbeResult, Sourced
from recorder_sync.domain.timebounds import DEFAULT_BOUNDS, TimeBounds
from recorder_sync.domain.untrusted import (
    escape,
    load_json,
    storable_text,
    text_problem,
)

SH = ZoneInfo("Asia/Shanghai")
DEFAULT = [naming.BUILTIN_PROFILES["default"]]


def test_filename_in_year_one_is_absent_and_reported() -> None:
    got = naming.from_filename(DEFAULT, "DSJ-A1_031245_00010101000000_0001.MP4", SH)
    assert "start" not in got.values
    assert got.values["device"].value == "DSJ-A1"  # the rest of the name is still read
    (bad,) = got.bad
    assert (bad.field, bad.source, bad.value) == ("start", "filename:default", "'00010101000000'")
    assert "2000-01-01 to 2100-01-01" in bad.why


@pytest.mark.parametrize(
    "raw",
    ["0001-01-01T00:00:00", "9999-12-31T23:59:59-10:00", "9999-12-31T23:00:00Z", "1970-01-01T08:00:00"],
)
def test_sidecar_times_outside_the_range_are_absent_and_reported(raw: str) -> None:
    got = naming.from_sidecar(f'{{"start": "{raw}", "end": "{raw}", "officer": "7"}}', SH)
    assert got.problem is None
    assert set(got.values) == {"officer"}
    assert [(b.field, b.source, b.value) for b in got.bad] == [
        ("start", "sidecar", repr(raw)),
        ("end", "sidecar", repr(raw)),
    ]


def test_sidecar_time_that_is_no_time_is_reported() -> None:
    got = naming.from_sidecar('{"start": 12, "end": "yesterday"}', SH)
    assert got.values == {}
    assert [(b.field, b.why) for b in got.bad] == [
        ("start", "not an ISO 8601 time"),
        ("end", "not an ISO 8601 time"),
    ]


def test_start_near_the_end_of_the_calendar_plus_a_duration_does_not_overflow() -> None:
    wide = TimeBounds(datetime(1, 1, 1, tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
    side = naming.from_sidecar('{"start": "9999-12-31T23:00:00Z"}', SH, wide)
    assert side.bad == () and side.values["start"].value.year == 9999
    merged = naming.merge(side, duration_ms=2 * 3600 * 1000, bounds=wide)
    assert "end" not in merged.values
    (bad,) = merged.bad
    assert (bad.field, bad.source) == ("end", "sidecar+duration")


def test_sidecar_end_before_its_start_is_absent_and_reported() -> None:
    side = naming.from_sidecar('{"start": "2026-11-27T08:00:00", "end": "2026-11-27T07:00:00"}', SH)
    merged = naming.merge(side, duration_ms=5000)
    assert merged.values["end"] == Sourced(datetime(2026, 11, 27, 0, 0, 5, tzinfo=UTC), "sidecar+duration")
    (bad,) = merged.bad
    assert (bad.field, bad.source) == ("end", "sidecar") and bad.why.startswith("before the start")


def test_deeply_nested_sidecar_is_a_bad_sidecar_not_a_recursion_error() -> None:
    got = naming.from_sidecar("[" * 100_000 + "]" * 100_000, SH)
    assert got.values == {} and got.problem == "sidecar is not valid JSON: nested too deeply"
    with pytest.raises(ValueError, match="nested too deeply"):
        load_json('{"a":' * 50_000 + "1" + "}" * 50_000)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("12\u0000", "contains a NUL character"),
        ("12\nWARNING ALERT fake", "contains control character U+000A"),
        ("\x1b[31mred", "contains control character U+001B"),
        ("abc\u202edef", "contains control character U+202E"),
        ("9" * 101, "longer than 100 characters (101)"),
        ("12\ufffd", "contains U+FFFD (bytes that are not UTF-8, or NUL, in the source)"),
    ],
)
def test_text_with_nul_or_control_characters_is_refused(value: str, why: str) -> None:
    assert text_problem(value) == why
    got = naming.from_sidecar(json.dumps({"officer": value, "device": "DSJ-1"}), SH)
    assert "officer" not in got.values and got.values["device"].value == "DSJ-1"
    (bad,) = got.bad
    assert (bad.field, bad.source, bad.why) == ("officer", "sidecar", why)
    assert "\x00" not in bad.value and "\n" not in bad.value and "\x1b" not in bad.value


def test_container_creation_time_of_1904_is_absent_and_reported() -> None:
    probe = ProbeResult(kind=Kind.VIDEO, readable=True, creation_time=datetime(1904, 1, 1, tzinfo=UTC))
    got = naming.from_container(probe)
    assert got.values == {}
    assert [(b.field, b.source) for b in got.bad] == [("start", "container:creation_time")]


def test_mtime_off_the_calendar_is_absent_and_reported_only_when_it_would_be_used() -> None:
    fallback = naming.from_mtime(2**62)  # 2116: a stat time is int64 ns, never off the calendar
    assert naming.from_mtime(-(2**62)).values == {}
    assert fallback.values == {} and fallback.bad[0].source == "file-mtime"
    name = naming.from_filename(DEFAULT, "D1_031245_20261127083015_0001.MP4", SH)
    used = naming.merge(name, duration_ms=None, fallback=fallback)
    assert used.bad == () and used.values["start"].source == "filename:default"
    unused = naming.merge(duration_ms=None, fallback=fallback)
    assert "start" not in unused.values and "end" not in unused.values and unused.bad == fallback.bad


def test_bounds_are_configurable() -> None:
    late = TimeBounds(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert "start" in naming.from_sidecar('{"start": "2026-11-27T08:00:00"}', SH, late).values
    assert "start" not in naming.from_sidecar('{"start": "2025-11-27T08:00:00"}', SH, late).values
    assert str(DEFAULT_BOUNDS) == "2000-01-01 to 2100-01-01"
    with pytest.raises(ValueError):
        TimeBounds(late.latest, late.earliest)


def test_escape_shows_control_characters() -> None:
    assert escape("a\nWARNING ALERT fake\x1b[2J\u202e") == "a\\nWARNING ALERT fake\\x1b[2J\\u202e"
    assert escape("031245 某某") == "031245 某某"


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 100_000,
        b'{"device": "D1", "camera_time": "0001-01-01T00:00:00"}',
        b'{"device": "D1", "camera_time": "9999-12-31T23:59:59-10:00"}',
        b'{"device": "D1\\u0000", "camera_time": "2026-11-27T08:00:00"}',
    ],
)
def test_clock_file_that_cannot_be_believed_is_a_reason_not_an_exception(data: bytes) -> None:
    reading = parse_clock_file(data, datetime(2026, 11, 27, tzinfo=UTC), SH)
    assert isinstance(reading, str) and "clock.json" in reading


def test_a_raw_nul_byte_in_a_sidecar_is_stored_as_u_fffd_and_its_value_refused() -> None:
    text = storable_text('{"officer": "12\x00", "device": "D1"}')
    assert "\x00" not in text
    got = naming.from_sidecar(text, SH)
    assert got.values["device"].value == "D1" and "officer" not in got.values
    assert got.bad[0].why.startswith("contains U+FFFD")
