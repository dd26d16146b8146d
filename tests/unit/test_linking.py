"""Automatic linking of recordings to actions: officer metadata, checkout ledger, ambiguity."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from recorder_sync.domain.cases import Action, Checkout
from recorder_sync.domain.linking import (
    Basis,
    Confidence,
    IntervalIndex,
    LinkProposal,
    RecordingFacts,
    propose_links,
)

CST = timezone(timedelta(hours=8), "Asia/Shanghai")
SLACK = timedelta(minutes=2)


def t(hour: int, minute: int = 0, day: int = 27, second: int = 0) -> datetime:
    """A Shanghai wall-clock time on 2026-11-<day>."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=CST)


def action(
    aid: str, officers: tuple[str, ...], start: datetime, end: datetime, kind: str = "seizure"
) -> Action:
    return Action(f"C-{aid}", aid, kind, "U1", officers, start, end)


def rec(
    rid: str,
    start: datetime | None,
    end: datetime | None,
    officer: str | None = "0101",
    device: str | None = "CAM-01",
    **kw: object,
) -> RecordingFacts:
    return RecordingFacts(rid, device, officer, start, end, **kw)  # type: ignore[arg-type]


def pairs(proposals: list[LinkProposal]) -> set[tuple[str, str, str, str]]:
    return {(p.recording_id, p.action_id, p.basis.value, p.confidence.value) for p in proposals}


def test_officer_in_exactly_one_overlapping_action_links_automatically() -> None:
    actions = [
        action("A1", ("0101", "0102"), t(9), t(10)),
        action("A2", ("0101",), t(14), t(15)),
        action("A3", ("0199",), t(9), t(10)),  # overlaps, but another officer's
    ]
    recordings = [rec("R1", t(9, 5), t(9, 40)), rec("R2", t(14, 30), t(15, 30))]
    proposals = propose_links(recordings, actions, [], SLACK)
    assert pairs(proposals) == {("R1", "A1", "officer", "auto"), ("R2", "A2", "officer", "auto")}
    assert proposals[0].officer == "0101" and "recording officer 0101" in proposals[0].reason


def test_slack_widens_the_window_on_both_sides() -> None:
    actions = [action("A1", ("0101",), t(9), t(10))]
    near_before = rec("R1", t(8, 30), t(8, 58, second=30))  # ends 90 s before the action starts
    near_after = rec("R2", t(10, 1, second=59), t(10, 20))  # starts 119 s after it ends
    far = rec("R3", t(10, 2, second=1), t(10, 20))  # starts 121 s after it ends
    proposals = propose_links([near_before, near_after, far], actions, [], SLACK)
    assert {p.recording_id for p in proposals} == {"R1", "R2"}
    assert propose_links([near_before], actions, [], timedelta(0)) == []


def test_several_overlapping_actions_become_suggestions() -> None:
    actions = [action("A1", ("0101",), t(9), t(10)), action("A2", ("0101",), t(9, 45), t(11), "inspection")]
    proposals = propose_links([rec("R1", t(9, 30), t(10, 15))], actions, [], SLACK)
    assert pairs(proposals) == {("R1", "A1", "officer", "suggested"), ("R1", "A2", "officer", "suggested")}
    assert all("2 actions overlap" in p.reason for p in proposals)


def test_checkout_ledger_names_the_officer_when_the_recording_does_not() -> None:
    actions = [action("A1", ("0102",), t(9), t(10))]
    checkouts = [Checkout("CAM-07", "0102", t(7, 30), t(18))]
    recording = rec("R1", t(9, 10), t(9, 50), officer=None, device="CAM-07")
    [proposal] = propose_links([recording], actions, checkouts, SLACK)
    assert (proposal.basis, proposal.confidence, proposal.officer) == (
        Basis.CHECKOUT,
        Confidence.AUTO,
        "0102",
    )
    assert "checked out to 0102" in proposal.reason


def test_open_checkout_counts_until_returned() -> None:
    actions = [action("A1", ("0102",), t(9), t(10))]
    recording = rec("R1", t(9, 10), t(9, 50), officer=None, device="CAM-07")
    assert propose_links([recording], actions, [Checkout("CAM-07", "0102", t(7))], SLACK)
    assert not propose_links([recording], actions, [Checkout("CAM-07", "0102", t(10, 30))], SLACK)


def test_overlapping_checkouts_of_one_device_make_the_officer_ambiguous() -> None:
    actions = [action("A1", ("0102",), t(9), t(10)), action("A2", ("0103",), t(9), t(10))]
    checkouts = [Checkout("CAM-07", "0102", t(7), t(9, 30)), Checkout("CAM-07", "0103", t(9, 20), t(18))]
    during_overlap = rec("R1", t(9, 22), t(9, 28), officer=None, device="CAM-07")
    after_handover = rec("R2", t(9, 40), t(9, 55), officer=None, device="CAM-07")
    proposals = propose_links([during_overlap, after_handover], actions, checkouts, SLACK)
    assert pairs(proposals) == {
        ("R1", "A1", "checkout", "suggested"),
        ("R1", "A2", "checkout", "suggested"),
        ("R2", "A2", "checkout", "auto"),
    }
    assert "ambiguous officer: 0102, 0103" in proposals[0].reason


def test_overlapping_checkouts_are_ambiguous_even_when_both_officers_were_in_one_action() -> None:
    actions = [action("A1", ("0102", "0103"), t(9), t(10))]
    checkouts = [Checkout("CAM-07", "0102", t(7), t(9, 30)), Checkout("CAM-07", "0103", t(9, 20), t(18))]
    [proposal] = propose_links(
        [rec("R1", t(9, 22), t(9, 28), officer=None, device="CAM-07")], actions, checkouts, SLACK
    )
    assert proposal.confidence is Confidence.SUGGESTED


def test_officer_metadata_disagreeing_with_the_ledger_is_a_suggestion() -> None:
    actions = [action("A1", ("0102",), t(9), t(10))]
    checkouts = [Checkout("CAM-07", "0102", t(7), t(18))]
    stale = rec("R1", t(9, 10), t(9, 50), officer="0101", device="CAM-07")  # camera still set to 0101
    agreeing = rec("R2", t(9, 10), t(9, 50), officer="0102", device="CAM-07")
    proposals = propose_links([stale, agreeing], actions, checkouts, SLACK)
    assert pairs(proposals) == {("R1", "A1", "checkout", "suggested"), ("R2", "A1", "officer", "auto")}


def test_recordings_without_times_or_matching_officer_are_not_proposed() -> None:
    actions = [action("A1", ("0101",), t(9), t(10))]
    recordings = [
        rec("R1", None, None),
        rec("R2", t(9, 10), t(9, 50), officer="0999", device=None),
        rec("R3", None, t(9, 30)),  # end only: an instant
    ]
    assert pairs(propose_links(recordings, actions, [], SLACK)) == {("R3", "A1", "officer", "auto")}


def test_clock_offset_is_corrected_before_matching() -> None:
    actions = [action("A1", ("0101",), t(9), t(10))]
    # The camera clock ran 30 min fast: its 10:35-10:50 is really 10:05-10:20 (outside + slack)...
    fast = rec("R1", t(10, 35), t(10, 50), clock_offset=timedelta(minutes=30))
    # ...and 10:25-10:40 on a camera 30 min fast is really 09:55-10:10, inside.
    inside = rec("R2", t(10, 25), t(10, 40), clock_offset=timedelta(minutes=30), clock_uncertain=True)
    proposals = propose_links([fast, inside], actions, [], SLACK)
    assert pairs(proposals) == {("R2", "A1", "officer", "auto")}
    assert proposals[0].clock_uncertain and "corrected by +1800 s" in proposals[0].reason


def test_shanghai_and_utc_times_meet_across_the_date_line() -> None:
    # 07:30-08:30 on the 27th in Shanghai is 23:30-00:30 across the 26th/27th in UTC.
    actions = [action("A1", ("0101",), t(7, 30), t(8, 30))]
    utc_recording = rec(
        "R1", datetime(2026, 11, 26, 23, 40, tzinfo=UTC), datetime(2026, 11, 27, 0, 10, tzinfo=UTC)
    )
    wrong_day = rec(
        "R2", datetime(2026, 11, 27, 7, 40, tzinfo=UTC), datetime(2026, 11, 27, 8, 10, tzinfo=UTC)
    )
    assert pairs(propose_links([utc_recording, wrong_day], actions, [], SLACK)) == {
        ("R1", "A1", "officer", "auto")
    }


def test_action_crossing_midnight_matches_recordings_on_both_days() -> None:
    actions = [action("A1", ("0101",), t(23, 30, day=27), t(1, 30, day=28), "detention")]
    before = rec("R1", t(23, 35, day=27), t(23, 59, day=27))
    after = rec("R2", t(0, 0, day=28), t(1, 0, day=28))
    next_evening = rec("R3", t(23, 35, day=28), t(23, 50, day=28))
    assert {p.recording_id for p in propose_links([before, after, next_evening], actions, [], SLACK)} == {
        "R1",
        "R2",
    }


def test_proposals_do_not_depend_on_input_order() -> None:
    rng = random.Random(7)
    officers = [f"01{n:02d}" for n in range(6)]
    devices = [f"CAM-{n:02d}" for n in range(6)]
    base = datetime(2026, 11, 27, tzinfo=UTC)
    actions = [
        action(
            f"A{n}",
            tuple(rng.sample(officers, 2)),
            base + timedelta(minutes=start),
            base + timedelta(minutes=start + rng.randint(10, 240)),
        )
        for n, start in enumerate(rng.randint(0, 2000) for _ in range(40))
    ]
    checkouts = [
        Checkout(
            d,
            rng.choice(officers),
            base + timedelta(minutes=s),
            base + timedelta(minutes=s + rng.randint(30, 600)),
        )
        for d in devices
        for s in (rng.randint(0, 2000) for _ in range(3))
    ]
    recordings = [
        rec(
            f"R{n}",
            base + timedelta(minutes=s),
            base + timedelta(minutes=s + rng.randint(1, 60)),
            officer=rng.choice([*officers, None]),
            device=rng.choice(devices),
        )
        for n, s in enumerate(rng.randint(0, 2200) for _ in range(300))
    ]
    expected = propose_links(recordings, actions, checkouts, SLACK)
    assert expected, "the random scenario should produce links"
    for _ in range(3):
        rng.shuffle(recordings)
        rng.shuffle(actions)
        rng.shuffle(checkouts)
        assert propose_links(recordings, actions, checkouts, SLACK) == expected


def test_interval_index_agrees_with_brute_force() -> None:
    rng = random.Random(11)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    intervals: list[tuple[datetime, datetime | None, int]] = []
    for n in range(400):
        start = base + timedelta(minutes=rng.randint(0, 10_000))
        end = None if n % 50 == 0 else start + timedelta(minutes=rng.choice([0, 1, 5, 60, 600, 3000]))
        intervals.append((start, end, n))
    index = IntervalIndex(intervals)
    for _ in range(300):
        lo = base + timedelta(minutes=rng.randint(-100, 10_100))
        hi = lo + timedelta(minutes=rng.randint(0, 300))
        brute = {n for s, e, n in intervals if s <= hi and (e is None or e >= lo)}
        assert set(index.overlapping(lo, hi)) == brute
