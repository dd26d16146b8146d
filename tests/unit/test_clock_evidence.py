"""The camera-clock rule, decided in the pure core from the dockings' readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recorder_sync.domain.clock import UNCERTAIN_CLOCK, ClockEvidence
from recorder_sync.domain.linking import RecordingFacts

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
START, END = T0 - timedelta(hours=2), T0 - timedelta(hours=1)


def facts(evidence: ClockEvidence, device: str | None = "CAM-1", ingested: datetime = T0) -> RecordingFacts:
    return evidence.facts("R1", device, "0101", START, END, None, ingested)


def test_without_any_docking_reading_the_camera_times_are_taken_as_they_are() -> None:
    r = facts(ClockEvidence([]))
    assert (r.id, r.device, r.officer, r.start, r.end) == ("R1", "CAM-1", "0101", START, END)
    assert r.clock_offset is None and not r.clock_uncertain and r.ingested_at == T0


def test_the_docking_that_brought_the_recording_in_gives_its_offset() -> None:
    evidence = ClockEvidence(
        [
            ("CAM-1", T0 - timedelta(days=1), timedelta(seconds=10)),
            ("CAM-1", T0 - timedelta(minutes=1), timedelta(seconds=20)),
            ("CAM-1", T0 + timedelta(hours=3), timedelta(seconds=25)),  # a later docking
        ]
    )
    r = facts(evidence)
    assert r.clock_offset == timedelta(seconds=20) and not r.clock_uncertain
    assert r.corrected_end == END - timedelta(seconds=20)


def test_a_docking_read_just_after_the_recording_was_seen_still_counts() -> None:
    evidence = ClockEvidence([("CAM-1", T0 + timedelta(minutes=4), timedelta(seconds=30))])
    assert facts(evidence).clock_offset == timedelta(seconds=30)
    late = ClockEvidence([("CAM-1", T0 + timedelta(minutes=6), timedelta(seconds=30))])
    assert facts(late).clock_offset is None


def test_a_clock_far_off_or_drifting_between_dockings_is_uncertain() -> None:
    just = UNCERTAIN_CLOCK
    over = UNCERTAIN_CLOCK + timedelta(seconds=1)
    assert not facts(ClockEvidence([("CAM-1", T0, just)])).clock_uncertain
    assert facts(ClockEvidence([("CAM-1", T0, over)])).clock_uncertain
    assert facts(ClockEvidence([("CAM-1", T0, -over)])).clock_uncertain
    drifting = ClockEvidence(
        [("CAM-1", T0 - timedelta(days=2), -timedelta(seconds=40)), ("CAM-1", T0, timedelta(seconds=30))]
    )
    r = facts(drifting)
    assert r.clock_offset == timedelta(seconds=30) and r.clock_uncertain


def test_other_devices_readings_do_not_apply() -> None:
    evidence = ClockEvidence([("CAM-2", T0, timedelta(minutes=5))])
    assert facts(evidence).clock_offset is None and not facts(evidence).clock_uncertain
    assert facts(evidence, device=None).clock_offset is None
