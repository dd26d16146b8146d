"""The mosaic's pure layout: which recordings become tiles, where they sit, how long each
waits (from the clock-corrected starts), and what its label says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.model import Kind, Recording, RecordingState
from recorder_sync.domain.mosaic import MAX_TILE, grid, mosaic_layout, mosaic_name, tile_size
from recorder_sync.domain.replay import FoundRecording

T0 = datetime(2026, 11, 27, 0, 30, 15, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def found(
    n: int,
    start: datetime | None,
    seconds: float | None = 10,
    *,
    clock_offset: timedelta | None = None,
    kind: Kind = Kind.VIDEO,
    stored: bool = True,
    officer: str | None = None,
    size: tuple[int, int] | None = (320, 240),
) -> FoundRecording:
    rec = Recording(
        id=f"rec-{n:04d}",
        sha256=f"{n:064x}",
        size=1,
        kind=kind,
        state=RecordingState.VERIFIED if stored else RecordingState.HASHED,
        station="st",
        dock="d",
        original_name=f"{n}.mp4",
        ingested_at=T0,
        device=f"DSJ-{n}",
        officer=officer or f"0{n:05d}",
        start=start,
        end=None if start is None or seconds is None else start + timedelta(seconds=seconds),
        duration_ms=None if seconds is None else int(seconds * 1000),
        media={} if size is None else {"width": size[0], "height": size[1]},
        storage_uri="vault://x" if stored else None,
    )
    facts = RecordingFacts(rec.id, rec.device, rec.officer, rec.start, rec.end, clock_offset=clock_offset)
    return FoundRecording(rec, facts)


def test_tiles_wait_for_their_corrected_start_and_end_black_at_the_longest() -> None:
    # the second camera ran 90 s ahead: its corrected start is 60 s after the first's
    first = found(1, T0, 120)
    second = found(2, T0 + timedelta(seconds=150), 30, clock_offset=timedelta(seconds=90))
    layout = mosaic_layout("A1", [second, first], SHANGHAI)
    a, b = layout.tiles
    assert (a.recording.id, a.offset, a.tail) == ("rec-0001", timedelta(0), timedelta(0))
    assert (b.offset, b.tail) == (timedelta(seconds=60), timedelta(seconds=30))
    assert layout.length == timedelta(seconds=120) and layout.start == T0
    assert (layout.columns, layout.rows, a.x, b.x, b.y) == (2, 1, 0, 320, 0)
    assert b.label == "officer 000002 | DSJ-2\n2026-11-27 08:31:15+08:00 (clock -90 s)"
    assert a.label == "officer 000001 | DSJ-1\n2026-11-27 08:30:15+08:00"


def test_what_cannot_be_a_tile_is_left_out_and_said_why() -> None:
    layout = mosaic_layout(
        "A1",
        [found(1, T0), found(2, T0, kind=Kind.AUDIO), found(3, T0, stored=False), found(4, None)],
        UTC,
    )
    assert [t.recording.id for t in layout.tiles] == ["rec-0001"]
    why = {x.recording_id: x.why for x in layout.left_out}
    assert "not video" in why["rec-0002"] and "not stored yet" in why["rec-0003"]
    assert "no start time" in why["rec-0004"]
    with pytest.raises(UsageError, match="no stored video to show"):
        mosaic_layout("A1", [found(2, T0, kind=Kind.PHOTO)], UTC)
    with pytest.raises(UsageError, match="no linked recording"):
        mosaic_layout("A1", [], UTC)
    with pytest.raises(UsageError, match="at most 2"):
        mosaic_layout("A1", [found(i, T0) for i in range(3)], UTC, max_tiles=2)


def test_an_unknown_duration_leaves_the_length_unknown_and_no_tail() -> None:
    layout = mosaic_layout("A1", [found(1, T0, None), found(2, T0 + timedelta(seconds=5), 5)], UTC)
    assert layout.length is None and all(t.tail == timedelta(0) for t in layout.tiles)
    assert layout.tiles[1].offset == timedelta(seconds=5)


def test_a_label_shows_camera_metadata_on_one_line_each_never_control_characters() -> None:
    hostile = found(1, T0, officer="03\n1245\x1b[31m%{pts}")
    [tile] = mosaic_layout("A1", [hostile], UTC).tiles
    first_line, second_line = tile.label.split("\n")
    assert first_line == "officer 03 1245 [31m%{pts} | DSJ-1" and second_line == "2026-11-27 00:30:15+00:00"


def test_tile_sizes_fit_the_largest_source_into_the_maximum_with_even_sides() -> None:
    assert tile_size([found(1, T0, size=(1920, 1080)).recording]) == (640, 360)
    assert tile_size([found(1, T0, size=(161, 121)).recording]) == (160, 120)
    assert tile_size([found(1, T0, size=None).recording]) == (320, 240)
    assert mosaic_name("A1") == "mosaic_A1.mp4" and mosaic_name("../x y") == "mosaic____x_y.mp4"


@given(st.integers(min_value=1, max_value=400))
def test_a_grid_has_room_for_every_tile_and_no_empty_row(n: int) -> None:
    columns, rows = grid(n)
    assert columns * rows >= n and columns * (rows - 1) < n and rows <= columns


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=7200),  # start, s after T0
            st.integers(min_value=1, max_value=3600),  # duration, s
            st.integers(min_value=-600, max_value=600),  # camera clock ahead by, s
            st.tuples(st.integers(2, 4000), st.integers(2, 3000)),
        ),
        min_size=1,
        max_size=16,
    )
)
def test_every_tile_is_aligned_on_its_corrected_start_and_placed_on_the_grid(
    cams: list[tuple[int, int, int, tuple[int, int]]],
) -> None:
    recs = [
        found(i, T0 + timedelta(seconds=s), d, clock_offset=timedelta(seconds=off), size=size)
        for i, (s, d, off, size) in enumerate(cams)
    ]
    layout = mosaic_layout("A1", recs, UTC)
    corrected = {f.recording.id: f.facts.corrected_start for f in recs}
    assert layout.start == min(t for t in corrected.values() if t is not None)
    assert layout.length is not None
    w, h = layout.tile_width, layout.tile_height
    assert w % 2 == 0 and h % 2 == 0 and w <= MAX_TILE[0] and h <= MAX_TILE[1]
    places = set()
    for tile in layout.tiles:
        assert tile.start == corrected[tile.recording.id] and tile.offset == tile.start - layout.start
        assert tile.duration is not None and tile.offset + tile.duration + tile.tail == layout.length
        assert tile.tail >= timedelta(0)
        assert tile.x % w == 0 and tile.y % h == 0 and tile.x < layout.width and tile.y < layout.height
        places.add((tile.x, tile.y))
    assert len(places) == len(recs) and min(t.offset for t in layout.tiles) == timedelta(0)
    assert [t.start for t in layout.tiles] == sorted(t.start for t in layout.tiles)
