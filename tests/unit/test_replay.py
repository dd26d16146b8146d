"""Replay's pure decisions: clip ranges, the scope of an officer's search, time windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.replay import (
    ClipRange,
    FindQuery,
    clip_range,
    clip_time_text,
    correction_text,
    parse_clip_time,
    require_reason,
)

T = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:01:30", 90), ("1:30", 90), ("45", 45), ("01:00:00.5", 3600.5), ("100:00:00", 360000)],
)
def test_clip_times_are_read_from_the_recordings_start(text: str, seconds: float) -> None:
    assert parse_clip_time(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1:61", "a", "-5", "1:2:3:4", "00:00:01,5"])
def test_a_clip_time_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM:SS"):
        parse_clip_time(text)


def test_a_clip_range_must_not_be_empty_and_is_recorded_as_asked() -> None:
    with pytest.raises(UsageError, match="not after --from"):
        clip_range("00:02:00", "00:01:00")
    with pytest.raises(UsageError, match="--from/--to"):
        clip_range("later", None)
    assert clip_range(None, None).as_json() is None
    assert clip_range("5", None).as_json() == {"from": "00:00:05", "to": "end"}
    assert clip_time_text(timedelta(seconds=90.25)) == "00:01:30.25"
    assert ClipRange(None, timedelta(seconds=1)).as_json() == {"from": "start", "to": "00:00:01"}


def test_a_reason_must_say_something() -> None:
    assert require_reason("  review  ", "play") == "review"
    for empty in (None, "", " \t"):
        with pytest.raises(UsageError, match="--reason"):
            require_reason(empty, "play")


def test_an_officers_search_is_limited_to_their_own_footage() -> None:
    assert FindQuery(case_id="C1").scoped(None) == FindQuery(case_id="C1")
    assert FindQuery(case_id="C1").scoped("031245") == FindQuery(case_id="C1", officer="031245")
    assert FindQuery(officer="031245").scoped("031245") == FindQuery(officer="031245")
    assert FindQuery(officer="099999").scoped("031245") is None


def test_the_time_filter_keeps_recordings_whose_window_overlaps() -> None:
    q = FindQuery(since=T, until=T + timedelta(minutes=10))
    assert q.in_window((T - timedelta(minutes=5), T))  # ends at the start: overlaps
    assert not q.in_window((T - timedelta(minutes=5), T - timedelta(seconds=1)))
    assert not q.in_window(None)
    assert FindQuery().in_window(None)
    assert q.as_json() == {"since": "2026-11-27T00:30:00+00:00", "until": "2026-11-27T00:40:00+00:00"}


def test_the_correction_is_shown_as_what_was_added_to_the_camera_time() -> None:
    assert correction_text(timedelta(seconds=90)) == "-90 s"
    assert correction_text(timedelta(seconds=-2.5)) == "+2.5 s"
    assert correction_text(None) == ""
