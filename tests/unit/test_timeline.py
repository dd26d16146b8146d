"""The timeline of an action: bars at corrected times, the engine's gaps and missing officers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recorder_sync.domain.cases import Action, Checkout
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.model import Kind, Recording, RecordingState
from recorder_sync.domain.replay import FindQuery, FoundRecording, LinkShown
from recorder_sync.domain.timeline import build_timeline, timeline_selection

T = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
M = timedelta(minutes=1)
ACTION = Action("C1", "A1", "seizure", "Unit 1", ("001", "002", "003"), T, T + 10 * M)


def found(
    rid: str,
    officer: str | None,
    device: str,
    start: datetime,
    end: datetime,
    *,
    confidence: str = "auto",
    offset: timedelta | None = None,
) -> FoundRecording:
    rec = Recording(
        rid, rid * 4, 1, Kind.VIDEO, RecordingState.VERIFIED, "st", "d", "x", T, device, officer, start, end
    )
    facts = RecordingFacts(rid, device, officer, start, end, clock_offset=offset)
    return FoundRecording(rec, facts, (LinkShown("A1", confidence),))


def test_bars_gaps_and_missing_officers_of_an_action() -> None:
    timeline = build_timeline(
        "A1",
        (ACTION.start, ACTION.end),
        [
            # officer 001: two clips with a 2-minute hole; the first starts before the action
            found("r1", "001", "CAM1", T - 2 * M, T + 3 * M),
            found("r2", "001", "CAM1", T + 5 * M, T + 10 * M),
            # CAM2's clock ran 90 s ahead: corrected, it covers 3:00..5:00 exactly
            found(
                "r3",
                None,
                "CAM2",
                T + 3 * M + timedelta(seconds=90),
                T + 5 * M + timedelta(seconds=90),
                offset=timedelta(seconds=90),
            ),
            # officer 003's clip is only a suggested link: drawn, not counted
            found("r4", "003", "CAM3", T, T + 10 * M, confidence="suggested"),
        ],
        timedelta(seconds=5),
        action=ACTION,
        checkouts=[Checkout("CAM2", "002", T - 60 * M, T + 60 * M)],
    )
    lanes = {(lane.officer, lane.device): lane for lane in timeline.lanes}
    r1, r2 = lanes[("001", "CAM1")].bars
    assert (r1.start, r1.end) == (T, T + 3 * M)  # clipped to the window
    assert (r2.start, r2.end) == (T + 5 * M, T + 10 * M)
    [r3] = lanes[(None, "CAM2")].bars
    assert (r3.start, r3.end, r3.clock_correction_s) == (T + 3 * M, T + 5 * M, -90.0)
    [r4] = lanes[("003", "CAM3")].bars
    assert not r4.counted
    assert timeline.gaps == ()  # r1, r3 (corrected) and r2 cover the window; r4 is not needed
    # 002 is covered through the ledger (CAM2 was checked out to 002), 003 only by a suggestion
    assert timeline.missing_officers == ("003",)
    assert lanes[("003", None)].missing
    assert timeline.fraction(T + 5 * M) == 0.5


def test_an_uncorrected_clock_or_a_suggested_link_leaves_a_gap() -> None:
    timeline = build_timeline(
        "A1",
        (ACTION.start, ACTION.end),
        [
            found("r1", "001", "CAM1", T, T + 3 * M),
            found("r2", "002", "CAM2", T + 5 * M, T + 10 * M),
            found("r4", "003", "CAM3", T + 3 * M, T + 5 * M, confidence="suggested"),
        ],
        timedelta(seconds=5),
        action=ACTION,
    )
    assert [(g.start, g.end) for g in timeline.gaps] == [(T + 3 * M, T + 5 * M)]
    assert timeline.as_json()["gaps"] == [
        {"start": "2026-11-27T00:33:00+00:00", "end": "2026-11-27T00:35:00+00:00"}
    ]


def test_a_timeline_needs_one_selection() -> None:
    assert timeline_selection(FindQuery(action_id="A1")) is None
    assert timeline_selection(FindQuery(case_id="C1")) is None
    assert timeline_selection(FindQuery(officer="001", since=T, until=T + M)) is None
    assert "one of --action" in str(timeline_selection(FindQuery()))
    assert "one of --action" in str(timeline_selection(FindQuery(action_id="A1", case_id="C1")))
    assert "--from ISO --to ISO" in str(timeline_selection(FindQuery(officer="001", since=T)))
    assert "after --from" in str(timeline_selection(FindQuery(officer="001", since=T, until=T)))


def test_an_officers_view_names_no_other_officer_as_without_footage() -> None:
    from recorder_sync.domain.timeline import own_part

    # officer 001's own footage only: 002 and 003 were not looked at, so they are not "missing"
    mine = build_timeline(
        "A1", (ACTION.start, ACTION.end), [found("r1", "001", "CAM1", T, T + 3 * M)], timedelta(seconds=5),
        action=ACTION,
    )  # fmt: skip
    assert mine.missing_officers == ("002", "003")
    shown = own_part(mine, "001")
    assert shown.missing_officers == () and [lane.officer for lane in shown.lanes] == ["001"]
    assert [(g.start, g.end) for g in shown.gaps] == [(T + 3 * M, T + 10 * M)]  # gaps in their own coverage
    assert own_part(
        build_timeline("A1", (ACTION.start, ACTION.end), [], timedelta(0), action=ACTION), "002"
    ).missing_officers == ("002",)
