"""The ``LinkFeed`` contract, on the in-memory fake and on the SQL case book (SQLite and
PostgreSQL): the footage in a window (never sidecars and logs, never a recording without
times), each probed recording handed out once however the reading is cut, a cursor that only
moves forward, and the clock correction a docking brings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from casebooks import CASE_BACKENDS, Cases, case_stores

from recorder_sync.domain.clock import UNCERTAIN_CLOCK
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.model import Kind

T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)
H = timedelta(hours=1)
SEEN = T0 + 5 * H  # when the recordings were ingested


@pytest.fixture(params=CASE_BACKENDS)
def cases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cases]:
    with case_stores(request.param, request, tmp_path) as c:
        yield c


def ids(found: list[RecordingFacts]) -> list[str]:
    return sorted(r.id for r in found)


def test_the_footage_overlapping_a_window_inclusive_at_both_ends(cases: Cases) -> None:
    feed = cases.stores
    clip = cases.add_recording("CAM1", "001", T0, T0 + H, ingested_at=SEEN, verified_at=SEEN + H)
    later = cases.add_recording("CAM2", None, T0 + 2 * H, T0 + 3 * H, ingested_at=SEEN)
    cases.add_recording("CAM1", "001", T0, T0 + H, ingested_at=SEEN, kind=Kind.OTHER)  # a sidecar
    cases.add_recording("CAM1", "001", None, None, ingested_at=SEEN)  # no times at all
    cases.add_recording("CAM1", "001", T0, None, ingested_at=SEEN, kind=Kind.PHOTO)  # a start only
    assert ids(feed.recordings_overlapping(T0 + H, T0 + H)) == [clip]
    assert ids(feed.recordings_overlapping(T0 - H, T0)) == [clip]
    assert ids(feed.recordings_overlapping(T0 + H + timedelta(seconds=1), T0 + 2 * H)) == [later]
    assert ids(feed.recordings_overlapping(T0 - 10 * H, T0 + 10 * H)) == sorted([clip, later])
    [facts] = feed.recordings_overlapping(T0, T0)
    assert facts == RecordingFacts(clip, "CAM1", "001", T0, T0 + H, SEEN + H, ingested_at=SEEN)


def test_each_probed_recording_is_handed_out_once_however_the_reading_is_cut(cases: Cases) -> None:
    feed = cases.stores
    made = [
        cases.add_recording("CAM1", "001", T0 + n * H, T0 + n * H + H, ingested_at=SEEN, kind=kind)
        for n, kind in enumerate([Kind.VIDEO, Kind.OTHER, Kind.AUDIO, Kind.VIDEO, Kind.PHOTO])
    ]
    media = [rid for rid, n in zip(made, range(5), strict=True) if n != 1]
    got: list[str] = []
    cursor = 0
    for _ in range(10):
        found, after = feed.recordings_probed_since(cursor, 2)
        assert after >= cursor  # never backwards
        got += [r.id for r in found]
        if after == cursor:
            break
        cursor = after
    assert sorted(got) == sorted(media)  # the sidecar moved the cursor on but is not footage
    # read to the end: the same cursor again finds nothing and stays put
    assert feed.recordings_probed_since(cursor, 2) == ([], cursor)
    first, end = feed.recordings_probed_since(0, 100)
    assert ids(first) == sorted(media) and end == cursor
    newer = cases.add_recording("CAM2", "002", T0, T0 + H, ingested_at=SEEN + H)
    found, after = feed.recordings_probed_since(end, 100)
    assert ids(found) == [newer] and after > end


def test_with_nothing_probed_the_cursor_goes_to_the_end_of_the_log(cases: Cases) -> None:
    feed = cases.stores
    assert feed.recordings_probed_since(0, 10) == ([], 0)  # an empty book
    feed.record_docking("CAM1", "dock", T0, None, "dock")  # another kind of change
    found, after = feed.recordings_probed_since(0, 10)
    assert found == [] and after > 0
    assert feed.recordings_probed_since(after, 10) == ([], after)


def test_cursors_are_kept_by_name(cases: Cases) -> None:
    feed = cases.stores
    assert feed.cursor("link") == 0
    feed.set_cursor("link", 7)
    feed.set_cursor("other", 3)
    feed.set_cursor("link", 9)
    assert (feed.cursor("link"), feed.cursor("other"), feed.cursor("never set")) == (9, 3, 0)


def test_a_docking_clock_reading_corrects_the_recordings_it_brought_in(cases: Cases) -> None:
    feed = cases.stores
    docked = SEEN - timedelta(minutes=10)
    ahead = timedelta(seconds=30)  # the camera clock ran 30 s ahead
    feed.record_docking("CAM1", "dock", docked, docked + ahead, "dock/clock.json")
    clip = cases.add_recording("CAM1", "001", T0, T0 + H, ingested_at=SEEN)
    other_camera = cases.add_recording("CAM2", "002", T0, T0 + H, ingested_at=SEEN)
    before_docking = cases.add_recording("CAM1", "001", T0, T0 + H, ingested_at=docked - 2 * H)
    by_id = {r.id: r for r in feed.recordings_overlapping(T0, T0 + H)}
    assert (by_id[clip].clock_offset, by_id[clip].clock_uncertain) == (ahead, False)
    assert by_id[clip].window == (T0 - ahead, T0 + H - ahead)
    assert by_id[other_camera].clock_offset is None and by_id[before_docking].clock_offset is None
    # the same facts come from the probed feed
    found, _ = feed.recordings_probed_since(0, 10)
    assert {r.id: r for r in found} == by_id
    # a second docking far off the first: the camera's clock cannot be trusted to the second
    again = SEEN + H
    feed.record_docking("CAM1", "dock", again, again + ahead + UNCERTAIN_CLOCK * 2, "dock/clock.json")
    late = cases.add_recording("CAM1", "001", T0, T0 + H, ingested_at=again)
    by_id = {r.id: r for r in feed.recordings_overlapping(T0, T0 + H)}
    assert by_id[late].clock_offset == ahead + UNCERTAIN_CLOCK * 2
    assert by_id[late].clock_uncertain and by_id[clip].clock_uncertain
