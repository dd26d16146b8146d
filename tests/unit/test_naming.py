from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from recorder_sync.domain import naming
from recorder_sync.domain.model import Kind, ProbeResult, Sourced

SH = ZoneInfo("Asia/Shanghai")


def test_default_profile_reads_device_officer_local_start() -> None:
    got = naming.from_filename(
        [naming.BUILTIN_PROFILES["default"]], "DSJ-A1B2C3_031245_20261127083015_0001.MP4", SH
    ).values
    assert got["device"] == Sourced("DSJ-A1B2C3", "filename:default")
    assert got["officer"].value == "031245" and got["seq"].value == "0001"
    assert got["start"].value == datetime(2026, 11, 27, 0, 30, 15, tzinfo=UTC)  # 08:30:15 +08:00
    assert got["important"].value is False


def test_important_mark_and_subfolder() -> None:
    got = naming.from_filename(
        [naming.BUILTIN_PROFILES["default"]], "DCIM/DSJ-A1B2C3_031245_20261127083015_0002_IMP.MP4", SH
    ).values
    assert got["important"].value is True


def test_folders_profile_crosses_midnight_utc() -> None:
    got = naming.from_filename(
        [naming.BUILTIN_PROFILES["folders"]], "DSJ-77Q1/20261127/031246_075840_0003.MP4", SH
    ).values
    assert got["device"].value == "DSJ-77Q1" and got["officer"].value == "031246"
    assert got["start"].value == datetime(2026, 11, 26, 23, 58, 40, tzinfo=UTC)


def test_non_matching_and_invalid_dates_give_nothing_wrong() -> None:
    assert naming.from_filename([naming.BUILTIN_PROFILES["default"]], "holiday.mp4", SH) == naming.Layer()
    bad = naming.from_filename([naming.BUILTIN_PROFILES["default"]], "D_1_20261399083015_0001.MP4", SH)
    assert "start" not in bad.values and bad.values["device"].value == "D" and bad.bad == ()


def test_sidecar_wins_over_filename_and_container() -> None:
    side = naming.from_sidecar('{"officer": "999", "start": "2026-11-27T08:30:20+08:00"}', SH)
    assert side.problem is None and side.bad == ()
    name = naming.from_filename([naming.BUILTIN_PROFILES["default"]], "D1_031245_20261127083015_0001.MP4", SH)
    probe = ProbeResult(
        kind=Kind.VIDEO, readable=True, creation_time=datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
    )
    result = naming.merge(side, name, naming.from_container(probe), duration_ms=5000)
    assert result.bad == ()
    merged = result.values
    assert merged["officer"] == Sourced("999", "sidecar")
    assert merged["device"].source == "filename:default"
    assert merged["start"].value == datetime(2026, 11, 27, 0, 30, 20, tzinfo=UTC)
    assert merged["end"].value == datetime(2026, 11, 27, 0, 30, 25, tzinfo=UTC)
    assert merged["end"].source == "sidecar+duration"


def test_bad_sidecar_reports_problem() -> None:
    assert naming.from_sidecar("{nope", SH).problem is not None
    assert naming.from_sidecar("[1]", SH).problem == "sidecar is not a JSON object"


def test_fallback_start_from_mtime_and_naive_sidecar_time_is_local() -> None:
    mtime = datetime(2026, 1, 1, tzinfo=UTC)
    fb = naming.from_mtime(int(mtime.timestamp()) * 10**9)
    assert naming.merge(duration_ms=None, fallback=fb).values["start"] == Sourced(mtime, "file-mtime")
    side = naming.from_sidecar('{"start": "2026-11-27T08:00:00"}', SH).values
    assert side["start"].value == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)


def test_auto_takes_the_first_profile_that_matches() -> None:
    both = list(naming.BUILTIN_PROFILES.values())
    got = naming.from_filename(both, "DSJ-77Q1/20261127/031246_075840_0003.MP4", SH).values
    assert got["device"] == Sourced("DSJ-77Q1", "filename:folders")
    got = naming.from_filename(both, "DSJ-A1_031245_20261127083015_0001.MP4", SH).values
    assert got["device"] == Sourced("DSJ-A1", "filename:default")
