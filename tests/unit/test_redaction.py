"""Redactions and still frames, the pure part: specs read from the command line, checked
against the recording, and moved onto the clip's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.model import Kind, ProbeResult, Recording, RecordingState
from recorder_sync.domain.redaction import (
    MediaShape,
    Region,
    Span,
    check_redactions,
    parse_blur,
    parse_mute,
    parse_span,
    plan_edits,
    redactions,
    watermark_lines,
)
from recorder_sync.domain.replay import ClipRange, clip_time_text
from recorder_sync.domain.stills import (
    MAX_FRAMES,
    frame_name,
    frame_times,
    frames_set_name,
    parse_every,
)

S = timedelta(seconds=1)
VIDEO = MediaShape(picture=True, sound=None, width=320, height=240, duration=60 * S)
WHOLE = ClipRange()


def recording(kind: Kind = Kind.VIDEO, **media: object) -> Recording:
    return Recording(
        id="rec-1",
        sha256="a" * 64,
        size=1,
        kind=kind,
        state=RecordingState.VERIFIED,
        station="st",
        dock="d",
        original_name="x.mp4",
        ingested_at=datetime(2026, 11, 27, tzinfo=UTC),
        duration_ms=6000,
        media=dict(media),
    )


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("00:00:02-00:00:04", Span(2 * S, 4 * S)),
        ("2-4", Span(2 * S, 4 * S)),
        ("1:30-90.5", Span(90 * S, timedelta(seconds=90.5))),
        ("100-01:00:00", Span(100 * S, 3600 * S)),
    ],
)
def test_spans_are_hh_mm_ss_or_seconds_from_the_recordings_start(text: str, span: Span) -> None:
    assert parse_span(text, f"--mute {text}") == span


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("4-2", "FROM must be before TO"),
        ("3-3", "FROM must be before TO"),
        ("3", "expected FROM-TO"),
        ("a-b", "HH:MM:SS"),
        ("1:61-2:00", "HH:MM:SS"),
        ("-1-3", "HH:MM:SS"),
    ],
)
def test_a_span_that_is_not_one_names_the_flag(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as e:
        parse_mute(text)
    assert e.value.get_message().startswith(f"--mute {text}")


def test_a_blur_is_a_region_and_an_optional_span() -> None:
    blur = parse_blur("10,20,100,80@00:00:05-00:00:09")
    assert (blur.region, blur.span) == (Region(10, 20, 100, 80), Span(5 * S, 9 * S))
    assert parse_blur("0,0,8,8").span is None  # all along
    for bad, message in [
        ("10,20,100", "expected X,Y,W,H@FROM-TO"),
        ("10,20,-5,80@1-2", "expected X,Y,W,H@FROM-TO"),
        ("10,20,4,80@1-2", "at least 8x8"),
        ("10,20,100,80@2-1", "FROM must be before TO"),
        ("10,20,100,80@", "expected X,Y,W,H@FROM-TO"),
        ("10,20,100,80@1", "expected FROM-TO"),
    ]:
        with pytest.raises(UsageError, match=message) as e:
            redactions([bad], [], False)
        assert e.value.get_message().startswith(f"--blur {bad}")


def test_a_region_must_lie_inside_the_picture() -> None:
    check_redactions(redactions(["312,232,8,8@1-2"], [], False), VIDEO, WHOLE)
    for bad in ("313,0,8,8@1-2", "0,233,8,8@1-2", "0,0,321,240@1-2"):
        with pytest.raises(UsageError, match="not inside the 320x240 picture") as e:
            check_redactions(redactions([bad], [], False), VIDEO, WHOLE)
        assert e.value.get_message().startswith(f"--blur {bad}")


def test_times_must_lie_within_the_recording_and_the_exported_range() -> None:
    with pytest.raises(UsageError, match=r"--mute 50-61: 00:01:01 is past the recording's end \(00:01:00\)"):
        check_redactions(redactions([], ["50-61"], False), VIDEO, WHOLE)
    trimmed = ClipRange(10 * S, 20 * S)
    check_redactions(redactions(["0,0,8,8@5-11"], ["19-30"], False), VIDEO, trimmed)  # overlapping
    for blur in ("0,0,8,8@1-10", "0,0,8,8@20-30"):
        with pytest.raises(
            UsageError, match=r"outside the exported range 00:00:10-00:00:20.*recording's start"
        ):
            check_redactions(redactions([blur], [], False), VIDEO, trimmed)


def test_what_the_recording_lacks_cannot_be_redacted() -> None:
    audio = MediaShape.of_recording(recording(Kind.AUDIO))
    with pytest.raises(UsageError, match="--blur: this recording has no moving picture"):
        check_redactions(redactions(["0,0,8,8"], [], False), audio, WHOLE)
    with pytest.raises(UsageError, match="--watermark: this recording has no moving picture"):
        check_redactions(redactions([], [], True), audio, WHOLE)
    check_redactions(redactions([], ["1-2"], False), audio, WHOLE)
    silent = MediaShape.of_probe(ProbeResult(Kind.VIDEO, True, 6000, width=320, height=240))
    with pytest.raises(UsageError, match="--mute 1-2: this recording has no sound track"):
        check_redactions(redactions([], ["1-2"], False), silent, WHOLE)


def test_the_stored_probe_metadata_gives_the_shape_when_it_is_sound() -> None:
    shape = MediaShape.of_recording(recording(width=320, height=240))
    assert shape == MediaShape(picture=True, sound=None, width=320, height=240, duration=6 * S)
    odd = MediaShape.of_recording(recording(width="320", height=-1))
    assert (odd.width, odd.height) == (None, None)  # checked on the fetched copy instead
    check_redactions(redactions(["1000,1000,8,8@1-2"], [], False), odd, WHOLE)


def test_a_trimmed_exports_graph_runs_on_the_clips_clock() -> None:
    asked = redactions(["0,0,100,40@2-4", "10,10,20,20"], ["00:00:04.5-9"], True)
    marks = watermark_lines("chen@station-1", datetime(2026, 11, 30, 5, 6, 7, 890000, tzinfo=UTC), 12)
    plan = plan_edits(asked, ClipRange(1 * S, 5 * S), marks)
    assert [b.window_ms for b in plan.blurs] == [(1000, 3000), None]
    assert [b.radius for b in plan.blurs] == [20, 10]  # half the smaller side: the widest boxblur takes
    assert [m.window_ms for m in plan.mutes] == [(3500, 4000)]  # cut at --to
    assert plan.watermark == ("exported by chen@station-1", "2026-11-30 05:06:07 UTC, access event 12")
    assert [dict(op) for op in plan.operations] == [
        {
            "op": "blur",
            "region": {"x": 0, "y": 0, "width": 100, "height": 40},
            "from": "00:00:02",
            "to": "00:00:04",
            "output_window_ms": [1000, 3000],
            "filter": "boxblur",
            "radius": 20,
            "power": 2,
        },
        {
            "op": "blur",
            "region": {"x": 10, "y": 10, "width": 20, "height": 20},
            "from": "start",
            "to": "end",
            "filter": "boxblur",
            "radius": 10,
            "power": 2,
        },
        {
            "op": "mute",
            "from": "00:00:04.5",
            "to": "00:00:09",
            "output_window_ms": [3500, 4000],
            "filter": "volume=0",
        },
        {"op": "watermark", "text": "\n".join(plan.watermark), "filter": "drawtext"},
    ]
    assert not redactions(None, None, False).any and plan_edits(asked, WHOLE, ()).watermark == ()


@given(
    start=st.integers(0, 3_600_000),
    length=st.integers(1, 3_600_000),
    clip_from=st.integers(0, 3_600_000),
    clip_length=st.integers(1, 3_600_000),
)
def test_a_window_on_the_clips_clock_is_the_span_shifted_and_cut(
    start: int, length: int, clip_from: int, clip_length: int
) -> None:
    ms = timedelta(milliseconds=1)
    span = Span(start * ms, (start + length) * ms)
    clip = ClipRange(clip_from * ms, (clip_from + clip_length) * ms)
    shape = MediaShape(picture=True, sound=True, width=320, height=240, duration=None)
    asked = redactions([], [f"{clip_time_text(span.start)}-{clip_time_text(span.end)}"], False)
    overlaps = start < clip_from + clip_length and start + length > clip_from
    if not overlaps:
        with pytest.raises(UsageError, match="outside the exported range"):
            check_redactions(asked, shape, clip)
        return
    check_redactions(asked, shape, clip)
    [mute] = plan_edits(asked, clip).mutes
    lo, hi = mute.window_ms
    assert 0 <= lo < hi <= clip_length
    # the same instants: a time on the clip's clock plus --from is the recording's time
    assert lo + clip_from == max(start, clip_from) and hi + clip_from == min(
        start + length, clip_from + clip_length
    )


# --- still frames --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("10s", 10), ("10", 10), ("2.5s", 2.5), ("2m", 120), ("1h", 3600), ("00:00:30", 30)]
)
def test_every_is_a_duration(text: str, seconds: float) -> None:
    assert parse_every(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "message"), [("0s", "at least 0.1 s"), ("ten", "expected a duration"), ("-1s", "expected")]
)
def test_a_bad_every_names_the_flag(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as e:
        parse_every(text)
    assert e.value.get_message().startswith(f"--every {text}")


def test_frames_are_taken_from_the_start_every_step_before_the_end() -> None:
    assert frame_times(WHOLE, 25 * S, 10 * S) == (0 * S, 10 * S, 20 * S)
    assert frame_times(WHOLE, 20 * S, 10 * S) == (0 * S, 10 * S)  # no frame at the very end
    assert frame_times(ClipRange(5 * S, 16 * S), 60 * S, 5 * S) == (5 * S, 10 * S, 15 * S)
    assert frame_times(ClipRange(5 * S, 99 * S), 12 * S, 5 * S) == (5 * S, 10 * S)  # --to past the end
    assert frame_times(ClipRange(None, 3 * S), None, S) == (0 * S, 1 * S, 2 * S)
    with pytest.raises(UsageError, match="length is not known; give --to"):
        frame_times(WHOLE, None, S)
    with pytest.raises(UsageError, match="not before the recording's end"):
        frame_times(ClipRange(70 * S, None), 60 * S, S)
    with pytest.raises(UsageError, match=f"{MAX_FRAMES + 1} frames"):
        frame_times(WHOLE, (MAX_FRAMES + 1) * S, S)
    assert len(frame_times(WHOLE, MAX_FRAMES * S, S)) == MAX_FRAMES


def test_frames_are_named_by_their_time() -> None:
    assert frame_name("rec-1", timedelta(seconds=90.5)) == "rec-1_frame_00-01-30_5.png"
    assert frames_set_name("rec-1", None) == "rec-1_frames"
    assert frames_set_name("rec-1", ["00:00:05", "end"]) == "rec-1_frames_00-00-05_end"


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        ("blur", "nan,0,10,10@1-2"),
        ("blur", "0,0,1e999,10@1-2"),
        ("blur", "0,0,10,10@nan-2"),
        ("blur", "0,0,10,10@1\x00-2"),
        ("mute", "inf-5"),
        ("mute", "1e999-1e1000"),
        ("mute", "99999999999999999999:00:00-1"),
        ("every", "1e999s"),
        ("every", "nans"),
        ("every", "99999999999999999999h"),
    ],
)
def test_absurd_numbers_are_refused_naming_the_flag(parse: str, text: str) -> None:
    """NaN, infinities, overflowing and NUL-laden values never reach ffmpeg or a timedelta."""
    fn = {"blur": parse_blur, "mute": parse_mute, "every": parse_every}[parse]
    with pytest.raises(UsageError, match=f"^--{parse} "):
        fn(text)
