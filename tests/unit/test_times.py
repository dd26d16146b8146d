"""The one module for times: strict and lenient parsing, the UTC forms, the display form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from recorder_sync.domain.manifest import ManifestInput, build_manifest
from recorder_sync.domain.model import Sourced
from recorder_sync.domain.times import (
    compact_utc,
    display,
    parse_compact_utc,
    parse_lenient,
    parse_strict,
    utc_iso,
    utc_z,
)

SH = ZoneInfo("Asia/Shanghai")
FILMED = datetime(2026, 11, 27, 8, 30, 15, tzinfo=SH)  # a seizure filmed at 08:30 in Suzhou


def test_utc_iso_is_the_manifest_form_with_plus_zero() -> None:
    assert utc_iso(FILMED) == "2026-11-27T00:30:15+00:00"
    assert utc_iso(FILMED.replace(microsecond=120)) == "2026-11-27T00:30:15.000120+00:00"
    with pytest.raises(ValueError, match="naive"):
        utc_iso(datetime(2026, 11, 27, 8, 30))


def test_manifest_bytes_keep_their_form() -> None:
    """Signed bytes of existing recordings must not change: the exact bytes of one."""
    doc = build_manifest(
        ManifestInput(
            recording_id="r1",
            sha256="00" * 32,
            size=1,
            original_name="a.MP4",
            station="st",
            dock="d",
            ingested_at=datetime(2026, 11, 27, 2, 0, 0, 500, tzinfo=UTC),
            software="test",
            key_id="k",
            media={},
            metadata={"start": Sourced(FILMED, "filename:default")},
        )
    )
    assert b'"ingested_at":"2026-11-27T02:00:00.000500+00:00"' in doc
    assert b'"start":{"source":"filename:default","value":"2026-11-27T00:30:15+00:00"}' in doc


def test_utc_z_is_the_import_record_form() -> None:
    assert utc_z(FILMED) == "2026-11-27T00:30:15Z"


def test_display_is_the_station_zone_with_its_offset_to_the_second() -> None:
    assert display(FILMED.astimezone(UTC).replace(microsecond=999), SH) == "2026-11-27 08:30:15+08:00"
    assert display(FILMED, UTC) == "2026-11-27 00:30:15+00:00"
    # a stored time at the end of the calendar is shown, not an OverflowError
    assert display(datetime.max.replace(tzinfo=UTC), SH).startswith("9999-12-")


@pytest.mark.parametrize(
    "text",
    ["2026-11-27T08:30:15+08:00", " 2026-11-27T00:30:15Z ", "2026-11-27 00:30:15+00:00"],
)
def test_parse_strict_gives_utc(text: str) -> None:
    parsed = parse_strict(text)
    assert parsed == FILMED and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2026-11-27T08:30:15", "no UTC offset"),
        ("2026-11-27", "not an ISO 8601 date and time"),
        ("yesterday at noon", "not an ISO 8601 date and time"),
    ],
)
def test_parse_strict_refuses_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_strict(text)


def test_parse_strict_plausible_refuses_absurd_years() -> None:
    assert parse_strict("1999-01-01T00:00:00Z") == datetime(1999, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="plausible range"):
        parse_strict("1999-01-01T00:00:00Z", plausible=True)


def test_parse_lenient_keeps_what_the_camera_wrote() -> None:
    naive = parse_lenient("2026-11-27T08:30:15")
    assert naive.tzinfo is None and naive == datetime(2026, 11, 27, 8, 30, 15)
    assert parse_lenient("2026-11-27T00:30:15Z") == FILMED
    assert parse_lenient(" 2026-11-27T08:30:15+08:00\n").utcoffset() == timedelta(hours=8)
    assert parse_lenient("2026-11-27T08:30:15-05:00").tzinfo == timezone(timedelta(hours=-5))
    with pytest.raises(ValueError):
        parse_lenient("27/11/2026 08:30")


def test_compact_utc_is_the_checkout_subject_form_and_reads_back() -> None:
    assert compact_utc(FILMED) == "20261127T003015Z"
    assert parse_compact_utc("20261127T003015Z") == FILMED
    assert parse_compact_utc("2026-11-27T00:30:15Z") is None
