"""The deadline engine: a day at a field office, each rule on its own, and reconciliation."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from recorder_sync.domain.cases import Action, Checkout
from recorder_sync.domain.clock import parse_clock_file
from recorder_sync.domain.deadlines import (
    coverage_gaps,
    evaluate,
    late_arrivals,
    ledger_devices,
    upload_due,
    was_late,
)
from recorder_sync.domain.errors import ConfigError
from recorder_sync.domain.flags import (
    ENGINE_KINDS,
    FlagKind,
    FlagSpec,
    Gap,
    reconcile,
    resolution_state,
    severity_rank,
    updated,
)
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.model import Flag, FlagState, Severity
from recorder_sync.domain.policy import (
    DEFAULT_POLICY,
    DeadlineSettings,
    Requirement,
    policy_from_config,
    settings_from_config,
)
from recorder_sync.domain.subjects import checkout_subject, officer_subject, parse_subject

SHANGHAI = ZoneInfo("Asia/Shanghai")
CST = timezone(timedelta(hours=8))
SETTINGS = DeadlineSettings(display_tz=SHANGHAI)


def t(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 11) -> datetime:
    """Shanghai wall-clock time in 2026."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI)


def act(
    aid: str,
    kind: str,
    officers: tuple[str, ...],
    start: datetime,
    end: datetime,
    case: str | None = None,
) -> Action:
    return Action(
        case or f"C-{aid}", aid, kind, "Squad 1", officers, start, end, "T-1", "Acme Ltd", "Market Rd"
    )


def rec(
    rid: str,
    officer: str | None,
    device: str,
    start: datetime | None,
    end: datetime | None,
    verified: datetime | None = None,
    **kw: object,
) -> RecordingFacts:
    return RecordingFacts(rid, device, officer, start, end, verified, **kw)  # type: ignore[arg-type]


def keys(flags: Iterable[FlagSpec]) -> set[tuple[str, str]]:
    return {f.key for f in flags}


def only(flags: Iterable[FlagSpec], kind: FlagKind) -> list[FlagSpec]:
    return [f for f in flags if f.kind is kind]


def run(
    now: datetime,
    recordings: Iterable[RecordingFacts] = (),
    actions: Iterable[Action] = (),
    links: Iterable[tuple[str, str]] | Mapping[str, list[str]] = (),
    checkouts: Iterable[Checkout] = (),
    docked: Mapping[str, datetime] | None = None,
    settings: DeadlineSettings = SETTINGS,
) -> list[FlagSpec]:
    return evaluate(now, recordings, actions, links, checkouts, docked or {}, DEFAULT_POLICY, settings)


# --- a day at a field office ---------------------------------------------------------------


class FieldOffice:
    """27 November 2026, Shanghai time.  Officers 0101-0108, cameras CAM-01..CAM-08.

    - A1 seizure 09:00-10:00 (0101, 0102): 0101's camera restarted, leaving 09:40-09:42
      uncovered by anyone -> one coverage gap of 2 min.
    - A2 seizure 13:00-14:00 (0103, 0104): no footage at all -> footage-missing for each.
    - A3 forced demolition 10:30-12:30 (0105, 0106): covered in full; 0106's camera carries
      no officer number, the ledger says who had it.
    - A4 inspection 15:00-15:30 (0101, 0107): footage from both; 0107's camera (CAM-07) is
      docked 30 h late -> upload-late (and camera-not-docked until it is docked).
    - A5 inspection 16:00-16:20 (0102): no footage -> footage-recommended-missing.
    - CAM-08 is checked out and never docked -> camera-not-docked.
    - A0 seizure on 20 October (case C0): 0106 never produced footage -> footage-missing,
      and the case file is overdue 30 days later.
    """

    def __init__(self) -> None:
        self.actions = [
            act("A0", "seizure", ("0105", "0106"), t(20, 10, month=10), t(20, 11, month=10), "C0"),
            act("A1", "seizure", ("0101", "0102"), t(27, 9), t(27, 10), "C1"),
            act("A2", "seizure", ("0103", "0104"), t(27, 13), t(27, 14), "C2"),
            act("A3", "forced_demolition", ("0105", "0106"), t(27, 10, 30), t(27, 12, 30), "C3"),
            act("A4", "inspection", ("0101", "0107"), t(27, 15), t(27, 15, 30), "C4"),
            act("A5", "inspection", ("0102",), t(27, 16), t(27, 16, 20), "C5"),
        ]
        stored = t(27, 18, 40)
        self.cam07_docked = t(28, 23, 30)  # R8 ended 17:30 on the 27th: docked 30 h later
        self.recordings = [
            rec("R0", "0105", "CAM-05", t(20, 9, 58, month=10), t(20, 11, 1, month=10), t(20, 18, month=10)),
            rec("R1", "0101", "CAM-01", t(27, 8, 59), t(27, 9, 40), stored),
            rec("R2", "0101", "CAM-01", t(27, 9, 42), t(27, 10, 0, 30), stored),
            rec("R3", "0102", "CAM-02", t(27, 9, 0), t(27, 9, 35), stored),
            rec("R5", "0105", "CAM-05", t(27, 10, 29), t(27, 12, 31), stored),
            rec("R6", None, "CAM-06", t(27, 10, 30), t(27, 12, 30, 2), stored),
            rec("R7", "0101", "CAM-01", t(27, 15), t(27, 15, 30), stored),
            rec(
                "R8", "0107", "CAM-07", t(27, 15, 2), t(27, 17, 30), self.cam07_docked + timedelta(minutes=10)
            ),
        ]
        self.links = [
            ("R0", "A0"),
            ("R1", "A1"),
            ("R2", "A1"),
            ("R3", "A1"),
            ("R5", "A3"),
            ("R6", "A3"),
            ("R7", "A4"),
            ("R8", "A4"),
        ]
        self.checkouts = [Checkout(f"CAM-0{n}", f"010{n}", t(27, 7, 30), t(27, 18)) for n in range(1, 9)]
        self.docked = {f"CAM-0{n}": t(27, 18, 5) for n in range(1, 7)}
        self.docked["CAM-07"] = t(26, 18)  # the day before: not docked since its checkout

    def evaluate(self, now: datetime) -> list[FlagSpec]:
        return run(now, self.recordings, self.actions, self.links, self.checkouts, self.docked)


EVENING_AFTER = t(28, 20)  # 26 h after the day ended; CAM-07 still out


def test_field_office_day_produces_exactly_the_right_flags() -> None:
    office = FieldOffice()
    flags = office.evaluate(EVENING_AFTER)
    assert keys(flags) == {
        ("camera-not-docked", "device:CAM-07:checkout:20261126T233000Z"),
        ("camera-not-docked", "device:CAM-08:checkout:20261126T233000Z"),
        ("case-file-overdue", "case:C0"),
        ("coverage-gap", "action:A1"),
        ("footage-missing", "action:A0:officer:0106"),
        ("footage-missing", "action:A2:officer:0103"),
        ("footage-missing", "action:A2:officer:0104"),
        ("footage-recommended-missing", "action:A5"),
        ("upload-late", "recording:R8"),
    }
    by_key = {f.key: f for f in flags}

    [gap_flag] = only(flags, FlagKind.COVERAGE_GAP)
    assert gap_flag.gaps == (Gap(t(27, 9, 40), t(27, 9, 42)),)
    assert gap_flag.gaps[0].length == timedelta(minutes=2)
    assert "gap 1: 2026-11-27 09:40:00+08:00 to 2026-11-27 09:42:00+08:00 (2 min 0 s)" in gap_flag.detail
    assert (gap_flag.severity, gap_flag.due, gap_flag.action_id) == (Severity.HIGH, t(28, 10), "A1")

    late = by_key[("upload-late", "recording:R8")]
    assert late.severity is Severity.HIGH  # linked only to an inspection: not raised
    assert late.due == t(28, 17, 30) and late.recording_id == "R8"
    assert "missed its 24 h deadline 2026-11-28 17:30:00+08:00" in late.detail

    missing = by_key[("footage-missing", "action:A2:officer:0103")]
    assert (missing.severity, missing.officer, missing.due) == (Severity.HIGH, "0103", t(28, 14))
    assert "Seizure of property (查封) A2 of case C2" in missing.detail

    recommended = by_key[("footage-recommended-missing", "action:A5")]
    assert severity_rank(recommended.severity) < severity_rank(missing.severity)

    overdue = by_key[("case-file-overdue", "case:C0")]
    assert overdue.due == t(19, 11) and overdue.case_id == "C0"
    assert "required footage missing for officer(s) 0106" in overdue.detail

    never = by_key[("camera-not-docked", "device:CAM-08:checkout:20261126T233000Z")]
    assert never.due == t(28, 6) and "never docked" in never.detail and never.officer == "0108"


def test_field_office_flags_evolve_and_clear_through_reconcile() -> None:
    office = FieldOffice()
    # Midday: R8 is within 6 h of its deadline; A2 and A5 are still in their grace period.
    midday = office.evaluate(t(28, 12))
    assert keys(midday) == {
        ("camera-not-docked", "device:CAM-07:checkout:20261126T233000Z"),
        ("camera-not-docked", "device:CAM-08:checkout:20261126T233000Z"),
        ("case-file-overdue", "case:C0"),
        ("coverage-gap", "action:A1"),
        ("footage-missing", "action:A0:officer:0106"),
        ("upload-at-risk", "recording:R8"),
    }
    to_raise, to_resolve = reconcile([], midday)
    assert keys(to_raise) == keys(midday) and to_resolve == []

    # Evening: at-risk becomes late (same subject), the grace periods are over.
    evening = office.evaluate(EVENING_AFTER)
    to_raise, to_resolve = reconcile(keys(midday), evening)
    assert keys(to_raise) == {
        ("upload-late", "recording:R8"),
        ("footage-missing", "action:A2:officer:0103"),
        ("footage-missing", "action:A2:officer:0104"),
        ("footage-recommended-missing", "action:A5"),
    }
    assert to_resolve == [("upload-at-risk", "recording:R8")]
    assert resolution_state("upload-at-risk") is FlagState.RESOLVED

    # Next morning: CAM-07 docked and its file verified; 0102's missing minutes turned up on
    # a late-docked file; 0106's footage of the October seizure was found and verified.
    office.docked["CAM-07"] = office.cam07_docked
    office.recordings += [
        rec("R9", "0102", "CAM-02", t(27, 9, 36), t(27, 9, 43), t(28, 22)),
        rec("R10", "0106", "CAM-06", t(20, 10, month=10), t(20, 11, month=10), t(28, 22)),
    ]
    office.links += [("R9", "A1"), ("R10", "A0")]
    morning = office.evaluate(t(29, 9))
    to_raise, to_resolve = reconcile(keys(evening), morning)
    assert to_raise == []
    assert to_resolve == [
        ("camera-not-docked", "device:CAM-07:checkout:20261126T233000Z"),
        ("case-file-overdue", "case:C0"),
        ("coverage-gap", "action:A1"),
        ("footage-missing", "action:A0:officer:0106"),
        ("upload-late", "recording:R8"),
    ]
    assert resolution_state("upload-late") is FlagState.RESOLVED_LATE  # still counts as late
    r8 = next(r for r in office.recordings if r.id == "R8")
    assert was_late(r8, SETTINGS) is True
    assert keys(morning) == {
        ("camera-not-docked", "device:CAM-08:checkout:20261126T233000Z"),
        ("footage-missing", "action:A2:officer:0103"),
        ("footage-missing", "action:A2:officer:0104"),
        ("footage-recommended-missing", "action:A5"),
    }


def test_field_office_before_any_deadline_raises_nothing() -> None:
    office = FieldOffice()
    office.actions = office.actions[1:]  # without the October case
    assert office.evaluate(t(27, 18, 30)) == []


def test_evaluate_is_deterministic_and_order_independent() -> None:
    office = FieldOffice()
    rng = random.Random(3)
    expected = office.evaluate(EVENING_AFTER)
    for _ in range(5):
        rng.shuffle(office.recordings)
        rng.shuffle(office.actions)
        rng.shuffle(office.links)
        rng.shuffle(office.checkouts)
        assert office.evaluate(EVENING_AFTER) == expected
    as_mapping: dict[str, list[str]] = {}
    for rid, aid in office.links:
        as_mapping.setdefault(rid, []).append(aid)
    assert (
        run(EVENING_AFTER, office.recordings, office.actions, as_mapping, office.checkouts, office.docked)
        == expected
    )


def test_random_scenarios_are_order_independent() -> None:
    rng = random.Random(5)
    base = t(1, 8)
    officers = [f"02{n:02d}" for n in range(8)]
    kinds = ["seizure", "inspection", "forced_demolition", "hearing", "other"]
    actions = [
        act(
            f"A{n}",
            rng.choice(kinds),
            tuple(rng.sample(officers, rng.randint(1, 3))),
            base + timedelta(hours=n * 3),
            base + timedelta(hours=n * 3, minutes=rng.randint(5, 200)),
            case=f"C{n % 7}",
        )
        for n in range(60)
    ]
    recordings = []
    links = []
    for n in range(400):
        a = rng.choice(actions)
        start = a.start + timedelta(minutes=rng.randint(-30, 150))
        verified = start + timedelta(hours=rng.randint(1, 60)) if rng.random() < 0.8 else None
        recordings.append(
            rec(
                f"R{n}",
                rng.choice([*a.officers, None]),
                f"CAM-{rng.randint(0, 9)}",
                start,
                start + timedelta(minutes=rng.randint(1, 90)),
                verified,
                clock_uncertain=rng.random() < 0.1,
                clock_offset=rng.choice([None, timedelta(seconds=rng.randint(-90, 90))]),
            )
        )
        if rng.random() < 0.9:
            links.append((f"R{n}", a.action_id))
    checkouts = [
        Checkout(f"CAM-{d}", rng.choice(officers), base + timedelta(hours=h), base + timedelta(hours=h + 10))
        for d in range(10)
        for h in range(0, 200, 24)
    ]
    docked = {f"CAM-{d}": base + timedelta(hours=rng.randint(0, 220)) for d in range(0, 10, 2)}
    now = base + timedelta(days=40)
    expected = run(now, recordings, actions, links, checkouts, docked)
    assert {f.kind for f in expected} >= {
        FlagKind.UPLOAD_LATE,
        FlagKind.FOOTAGE_MISSING,
        FlagKind.CAMERA_NOT_DOCKED,
    }
    for _ in range(3):
        for seq in (recordings, actions, links, checkouts):
            rng.shuffle(seq)
        assert run(now, recordings, actions, links, checkouts, docked) == expected


# --- upload-at-risk / upload-late ---------------------------------------------------------


def test_upload_deadline_boundaries() -> None:
    r = rec("R1", "0101", "CAM-01", t(27, 9), t(27, 10))
    due = t(28, 10)
    assert upload_due(r, SETTINGS) == due
    assert run(due - timedelta(hours=6, seconds=1), [r]) == []
    [at_risk] = run(due - timedelta(hours=6), [r])
    assert (at_risk.kind, at_risk.severity, at_risk.due) == (FlagKind.UPLOAD_AT_RISK, Severity.MEDIUM, due)
    [still] = run(due - timedelta(seconds=1), [r])
    assert still.kind is FlagKind.UPLOAD_AT_RISK
    [late] = run(due, [r])
    assert (late.kind, late.severity, late.subject) == (FlagKind.UPLOAD_LATE, Severity.HIGH, "recording:R1")


def test_verified_recordings_raise_nothing_but_a_future_verification_does_not_count_yet() -> None:
    r = rec("R1", "0101", "CAM-01", t(27, 9), t(27, 10), verified=t(29, 10))
    assert run(t(29, 11), [r]) == []
    [late] = run(t(28, 12), [r])  # as of then it was not verified yet
    assert late.kind is FlagKind.UPLOAD_LATE
    assert was_late(r, SETTINGS) is True
    assert was_late(replace(r, stored_verified_at=t(28, 9)), SETTINGS) is False
    assert was_late(replace(r, stored_verified_at=None), SETTINGS) is None


def test_severity_is_raised_for_recordings_of_full_recording_actions() -> None:
    seizure = act("A1", "seizure", ("0101",), t(27, 9), t(27, 10))
    hearing = act("A2", "hearing", ("0101",), t(27, 9), t(27, 10))
    r1 = rec("R1", "0101", "CAM-01", t(27, 9), t(27, 10))
    r2 = rec("R2", "0101", "CAM-01", t(27, 9), t(27, 10))
    links = [("R1", "A1"), ("R2", "A2")]
    flags = {f.subject: f for f in run(t(28, 5), [r1, r2], [seizure, hearing], links)}
    assert flags["recording:R1"].severity is Severity.HIGH  # at-risk, one step up from MEDIUM
    assert "full-recording action(s) A1" in flags["recording:R1"].detail
    assert flags["recording:R2"].severity is Severity.MEDIUM
    flags = {f.subject: f for f in run(t(28, 11), [r1, r2], [seizure, hearing], links) if f.recording_id}
    assert flags["recording:R1"].severity is Severity.CRITICAL
    assert flags["recording:R2"].severity is Severity.HIGH


def test_deadline_uses_the_corrected_clock_and_says_when_it_is_uncertain() -> None:
    # The camera clock was 2 h slow: the recording really ended at 12:00, not 10:00.
    slow = rec(
        "R1", "0101", "CAM-01", t(27, 9), t(27, 10), clock_offset=timedelta(hours=-2), clock_uncertain=True
    )
    assert upload_due(slow, SETTINGS) == t(28, 12)
    [flag] = run(t(28, 11), [slow])
    assert flag.kind is FlagKind.UPLOAD_AT_RISK  # uncorrected it would already be late
    assert flag.clock_uncertain
    assert "camera clock corrected by -7200 s" in flag.detail and "uncertain camera clock" in flag.detail
    [certain] = run(t(28, 11), [replace(slow, clock_uncertain=False)])
    assert not certain.clock_uncertain and "uncertain" not in certain.detail


def test_recording_without_times_counts_from_when_it_was_first_seen() -> None:
    untimed = rec("R1", None, "CAM-01", None, None, ingested_at=t(27, 20))
    [flag] = run(t(28, 21), [untimed])
    assert flag.kind is FlagKind.UPLOAD_LATE and flag.due == t(28, 20)
    assert "time unknown, first seen 2026-11-27 20:00:00+08:00" in flag.detail
    assert not flag.clock_uncertain
    assert run(t(28, 21), [replace(untimed, ingested_at=None)]) == []
    photo = rec("R2", "0101", "CAM-01", t(27, 9), None)  # start only: the deadline counts from it
    assert upload_due(photo, SETTINGS) == t(28, 9)


def test_shanghai_and_utc_inputs_give_the_same_decisions() -> None:
    # 23:30 on the 27th in Shanghai is 15:30 UTC the same day; 00:30 on the 28th is 16:30 UTC on the 27th.
    seizure = act("A1", "seizure", ("0101",), t(27, 23, 30), t(28, 0, 30))
    utc_seizure = replace(
        seizure,
        start=datetime(2026, 11, 27, 15, 30, tzinfo=UTC),
        end=datetime(2026, 11, 27, 16, 30, tzinfo=UTC),
    )
    assert utc_seizure == seizure
    r = rec("R1", "0101", "CAM-01", t(27, 23, 30), t(28, 0, 10))
    r_utc = rec(
        "R1",
        "0101",
        "CAM-01",
        datetime(2026, 11, 27, 15, 30, tzinfo=UTC),
        datetime(2026, 11, 27, 16, 10, tzinfo=UTC),
    )
    now = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)  # the seizure's grace period (24 h) ends
    local = run(now, [r], [seizure], [("R1", "A1")])
    utc = run(now.astimezone(CST), [r_utc], [utc_seizure], [("R1", "A1")])
    assert local == utc
    assert keys(local) == {("upload-late", "recording:R1"), ("coverage-gap", "action:A1")}
    gap = only(local, FlagKind.COVERAGE_GAP)[0]
    assert gap.gaps == (Gap(t(28, 0, 10), t(28, 0, 30)),)
    # Details are written in the configured zone, whatever zone the inputs used.
    assert "2026-11-28 00:10:00+08:00 to 2026-11-28 00:30:00+08:00 (20 min 0 s)" in gap.detail
    in_utc = run(now, [r], [seizure], [("R1", "A1")], settings=DeadlineSettings())
    assert (
        keys(in_utc) == keys(local)
        and "2026-11-27 16:10:00+00:00" in only(in_utc, FlagKind.COVERAGE_GAP)[0].detail
    )


# --- footage missing and coverage --------------------------------------------------------


def test_footage_missing_is_per_officer_and_waits_for_the_grace_period() -> None:
    seizure = act("A1", "seizure", ("0101", "0102", "0103"), t(27, 9), t(27, 10))
    r1 = rec("R1", "0101", "CAM-01", t(27, 9), t(27, 10), t(27, 12))
    r2 = rec("R2", None, "CAM-02", t(27, 9), t(27, 10), t(27, 12))  # 0102 per the ledger
    checkouts = [Checkout("CAM-02", "0102", t(27, 8), t(27, 17))]
    docked = {"CAM-02": t(27, 17, 5)}
    links = [("R1", "A1"), ("R2", "A1")]
    assert run(t(28, 9, 59), [r1, r2], [seizure], links, checkouts, docked) == []
    flags = run(t(28, 10), [r1, r2], [seizure], links, checkouts, docked)
    assert keys(flags) == {("footage-missing", officer_subject("A1", "0103"))}
    # Without the ledger, R2 cannot be attributed: 0102 is missing too, and the detail says why.
    flags = run(t(28, 10), [r1, r2], [seizure], links)
    assert keys(flags) == {
        ("footage-missing", "action:A1:officer:0102"),
        ("footage-missing", "action:A1:officer:0103"),
    }
    assert all("could not be attributed to an officer: R2" in f.detail for f in flags)


def test_recommended_actions_need_only_some_footage_and_none_actions_nothing() -> None:
    inspection = act("A1", "inspection", ("0101", "0102"), t(27, 9), t(27, 10))
    other = act("A2", "other", ("0101",), t(27, 11), t(27, 12))
    r = rec("R1", "0102", "CAM-02", t(27, 9, 20), t(27, 9, 25), t(27, 12))
    assert run(t(29, 0), [r], [inspection, other], [("R1", "A1")]) == []  # no coverage rule either
    [flag] = run(t(29, 0), [], [inspection, other], [])
    assert (flag.kind, flag.severity, flag.subject) == (
        FlagKind.FOOTAGE_RECOMMENDED_MISSING,
        Severity.LOW,
        "action:A1",
    )


def test_unknown_action_type_is_treated_as_no_requirement() -> None:
    odd = act("A1", "night_patrol", ("0101",), t(27, 9), t(27, 10))
    assert run(t(29, 0), [], [odd], []) == []


def test_coverage_gaps_at_start_middle_and_end_with_tolerance() -> None:
    window = (t(27, 9), t(27, 10))
    footage = [
        (t(27, 9, 0, 5), t(27, 9, 20)),  # 5 s late start: within tolerance
        (t(27, 9, 20, 6), t(27, 9, 30)),  # 6 s gap: reported
        (t(27, 9, 25), t(27, 9, 50)),  # overlaps the previous one
        (t(27, 8), t(27, 8, 30)),  # before the window: ignored
    ]
    tolerance = timedelta(seconds=5)
    assert coverage_gaps(window, footage, tolerance) == [
        Gap(t(27, 9, 20), t(27, 9, 20, 6)),
        Gap(t(27, 9, 50), t(27, 10)),
    ]
    assert coverage_gaps(window, [], tolerance) == [Gap(*window)]
    assert coverage_gaps(window, [(t(27, 8), t(27, 11))], tolerance) == []


def test_coverage_gap_is_union_of_all_linked_footage_and_uses_corrected_clocks() -> None:
    seizure = act("A1", "seizure", ("0101", "0102"), t(27, 9), t(27, 10))
    a = rec("R1", "0101", "CAM-01", t(27, 9), t(27, 9, 31), t(27, 12))
    # CAM-02's clock ran 60 s fast: 09:31-10:01 on it is really 09:30-10:00.
    b = rec("R2", "0102", "CAM-02", t(27, 9, 31), t(27, 10, 1), t(27, 12), clock_offset=timedelta(seconds=60))
    links = [("R1", "A1"), ("R2", "A1")]
    assert run(t(28, 12), [a, b], [seizure], links) == []
    # R1 now ends at 09:29:50: on CAM-02's own clock R2 starts at 09:31 (a 70 s gap), corrected
    # at 09:30 -- a 10 s gap, still longer than the 5 s tolerance.
    a_short = replace(a, end=t(27, 9, 29, 50))
    [flag] = run(t(28, 12), [a_short, b], [seizure], links)
    assert flag.gaps == (Gap(t(27, 9, 29, 50), t(27, 9, 30)),)
    assert "camera clocks corrected for R2" in flag.detail and not flag.clock_uncertain
    [flag] = run(t(28, 12), [a_short, replace(b, clock_uncertain=True)], [seizure], links)
    assert flag.clock_uncertain and "uncertain camera clocks of R2" in flag.detail


def test_coverage_gap_across_midnight_and_untimed_footage() -> None:
    detention = act("A1", "detention", ("0101",), t(27, 23), t(28, 1))
    before = rec("R1", "0101", "CAM-01", t(27, 22, 59), t(27, 23, 59, 58), t(28, 2))
    after = rec("R2", "0101", "CAM-01", t(28, 0, 0, 1), t(28, 1), t(28, 2))
    untimed = rec("R3", "0101", "CAM-01", t(28, 0, 30), None, t(28, 2))
    links = [("R1", "A1"), ("R2", "A1"), ("R3", "A1")]
    assert run(t(30, 0), [before, after, untimed], [detention], links) == []
    [flag] = run(t(30, 0), [before, untimed], [detention], links)
    assert flag.gaps == (Gap(t(27, 23, 59, 58), t(28, 1)),)
    assert flag.gaps[0].length == timedelta(hours=1, seconds=2)
    assert "(1 h 0 min 2 s)" in flag.detail and "not counted: R3" in flag.detail


# --- camera not docked -----------------------------------------------------------------------


def test_camera_not_docked_rules() -> None:
    out = Checkout("CAM-01", "0101", t(27, 7), t(27, 18))
    subject = checkout_subject("CAM-01", t(27, 7))
    assert parse_subject(subject) == ("device", "CAM-01", "checkout", "20261126T230000Z")
    due = t(28, 6)
    assert run(due - timedelta(seconds=1), checkouts=[out]) == []
    [flag] = run(due, checkouts=[out])
    assert (flag.kind, flag.subject, flag.due, flag.device) == (
        FlagKind.CAMERA_NOT_DOCKED,
        subject,
        due,
        "CAM-01",
    )
    # Docked before the checkout started: still flagged; docked since: not.
    assert len(run(due, checkouts=[out], docked={"CAM-01": t(27, 6)})) == 1
    assert run(due, checkouts=[out], docked={"CAM-01": t(27, 12)}) == []
    assert run(due, checkouts=[out], docked={"CAM-01": t(28, 5)}) == []
    # Still checked out: nothing is due yet.
    assert run(t(30, 0), checkouts=[replace(out, end=None)]) == []


# --- case file ---------------------------------------------------------------------------------


def test_case_file_overdue_for_unverified_footage_after_30_days_per_case() -> None:
    hearing = act("A1", "hearing", ("0101",), t(1, 9), t(1, 10), case="C7")
    service = act("A2", "service", ("0101",), t(3, 9), t(3, 10), case="C7")
    r1 = rec("R1", "0101", "CAM-01", t(1, 9), t(1, 10))  # never verified
    r2 = rec("R2", "0101", "CAM-01", t(3, 9), t(3, 10), t(3, 12))
    links = [("R1", "A1"), ("R2", "A2")]
    flags = run(t(1, 10, month=12), [r1, r2], [hearing, service], links)  # 30 days after A1 ended
    assert keys(flags) == {("upload-late", "recording:R1"), ("case-file-overdue", "case:C7")}
    overdue = only(flags, FlagKind.CASE_FILE_OVERDUE)[0]
    assert overdue.due == t(1, 10, month=12) and overdue.severity is Severity.HIGH
    assert "action A1 ended 2026-11-01 10:00:00+08:00: 1 linked recording(s) not stored and verified: R1" in (
        overdue.detail
    )
    assert (
        only(run(t(1, 9, 59, month=12), [r1, r2], [hearing, service], links), FlagKind.CASE_FILE_OVERDUE)
        == []
    )
    verified = replace(r1, stored_verified_at=t(30, 9))
    assert run(t(1, 10, month=12), [verified, r2], [hearing, service], links) == []


# --- reconcile -----------------------------------------------------------------------------


def test_reconcile_never_resolves_flags_it_does_not_own_and_reports_updates() -> None:
    desired = run(t(28, 11), [rec("R1", "0101", "CAM-01", t(27, 9), t(27, 10))])
    existing = [
        ("integrity-failure", "recording:R9"),
        ("unreadable-media", "recording:R9"),
        ("camera-not-docked", "device:CAM-09:checkout:20261101T000000Z"),
    ]
    to_raise, to_resolve = reconcile(existing, desired)
    assert keys(to_raise) == {("upload-late", "recording:R1")}
    assert to_resolve == [("camera-not-docked", "device:CAM-09:checkout:20261101T000000Z")]
    assert "integrity-failure" not in ENGINE_KINDS
    stored = Flag(FlagKind.UPLOAD_LATE, Severity.HIGH, "recording:R1", desired[0].detail)
    assert updated([stored], desired) == []
    escalated = replace(desired[0], severity=Severity.CRITICAL)
    assert updated([stored], [escalated]) == [escalated]
    assert severity_rank(escalated.severity) > severity_rank(stored.severity)
    flag = desired[0].to_flag(t(28, 11))
    assert (flag.kind, flag.state, flag.recording_id, flag.raised_at) == (
        "upload-late",
        FlagState.OPEN,
        "R1",
        t(28, 11),
    )


def test_subjects_escape_separators_in_ids() -> None:
    subject = officer_subject("A:1%", "01:02")
    assert subject == "action:A%3A1%25:officer:01%3A02"
    assert parse_subject(subject) == ("action", "A:1%", "officer", "01:02")


# --- policy configuration ---------------------------------------------------------------------


def test_default_policy_covers_the_regulation() -> None:
    full = {k for k, p in DEFAULT_POLICY.items() if p.requirement is Requirement.FULL}
    recommended = {k for k, p in DEFAULT_POLICY.items() if p.requirement is Requirement.RECOMMENDED}
    assert full == {"seizure", "impoundment", "forced_demolition", "detention", "enforcement_premises"}
    assert recommended == {"inspection", "evidence_collection", "hearing", "service"}
    assert DEFAULT_POLICY["seizure"].label_zh == "查封" and DEFAULT_POLICY["impoundment"].label_zh == "扣押"
    assert DEFAULT_POLICY["forced_demolition"].label_zh == "强制拆除"
    assert all(p.key == k for k, p in DEFAULT_POLICY.items())


def test_policy_from_config_overrides_and_extends_the_defaults() -> None:
    policy = policy_from_config(
        {
            "seizure": {"grace_hours": 48, "severity": "critical"},
            "night_patrol": {
                "requirement": "recommended",
                "label_en": "Night patrol",
                "label_zh": "夜间巡查",
            },
        }
    )
    assert policy["seizure"].grace == timedelta(hours=48) and policy["seizure"].severity is Severity.CRITICAL
    assert policy["seizure"].label_zh == "查封"  # inherited
    assert policy["night_patrol"].requirement is Requirement.RECOMMENDED
    assert policy["night_patrol"].severity is Severity.LOW and policy["night_patrol"].grace == timedelta(
        hours=24
    )
    assert "hearing" in policy and "night_patrol" not in DEFAULT_POLICY


@pytest.mark.parametrize(
    ("table", "key", "expected"),
    [
        (
            {"seizure": {"requirement": "ful"}},
            "policy.seizure.requirement",
            "'full', 'recommended', 'none'",
        ),
        ({"patrol": {"label_en": "Patrol"}}, "policy.patrol.requirement", "required"),
        ({"seizure": {"grace": 3}}, "policy.seizure.grace", "one of the keys"),
        ({"seizure": {"grace_hours": -1}}, "policy.seizure.grace_hours", "a number >= 0"),
        ({"seizure": {"grace_hours": True}}, "policy.seizure.grace_hours", "a number >= 0"),
        ({"seizure": {"severity": "urgent"}}, "policy.seizure.severity", "'critical'"),
        ({"Seizure": {"requirement": "full"}}, "policy.Seizure", "lowercase"),
        ({"seizure": "full"}, "policy.seizure", "a table"),
        ({"seizure": {"label_zh": ""}}, "policy.seizure.label_zh", "non-empty"),
    ],
)
def test_policy_config_errors_name_file_key_and_expectation(
    table: dict[str, object], key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        policy_from_config(table, source="recorder-sync.toml")
    message = str(caught.value)
    assert message.startswith(f"Configuration error in recorder-sync.toml: key '{key}': ")
    assert expected in message
    assert caught.value.exit_code == 2


def test_settings_from_config() -> None:
    settings = settings_from_config(
        {
            "upload_deadline_hours": 12,
            "at_risk_lead_hours": 2.5,
            "coverage_tolerance_seconds": 10,
            "link_slack_seconds": 60,
            "undocked_after_hours": 4,
            "case_file_days": 20,
            "timezone": "Asia/Shanghai",
        }
    )
    assert settings == DeadlineSettings(
        timedelta(hours=12),
        timedelta(hours=2, minutes=30),
        timedelta(seconds=10),
        timedelta(minutes=1),
        timedelta(hours=4),
        20,
        ZoneInfo("Asia/Shanghai"),
    )
    assert settings_from_config({}) == DeadlineSettings()
    cases: list[tuple[dict[str, object], str]] = [
        ({"case_file_days": 2.5}, "deadlines.case_file_days"),
        ({"timezone": "Mars/Olympus"}, "deadlines.timezone"),
        ({"upload_deadline": 24}, "deadlines.upload_deadline"),
        ({"at_risk_lead_hours": 30}, "deadlines.at_risk_lead_hours"),
        ({"upload_deadline_hours": 0}, "deadlines.upload_deadline_hours"),
    ]
    for bad, key in cases:
        with pytest.raises(ConfigError, match=f"key '{key}'"):
            settings_from_config(bad)


def test_a_sweep_over_one_neighbourhood_agrees_with_the_full_sweep() -> None:
    """What makes incremental sweeps safe: an action's flags need only the action, its
    linked recordings and the ledger; a recording's only itself and its links."""
    office = FieldOffice()
    full = office.evaluate(EVENING_AFTER)
    for action in office.actions:
        rids = {rid for rid, aid in office.links if aid == action.action_id}
        part = run(
            EVENING_AFTER,
            [r for r in office.recordings if r.id in rids],
            [action],
            [(rid, aid) for rid, aid in office.links if aid == action.action_id],
            office.checkouts,
            office.docked,
        )
        prefix = f"action:{action.action_id}"
        assert [f for f in part if f.subject.startswith(prefix)] == [
            f for f in full if f.subject == prefix or f.subject.startswith(prefix + ":")
        ]
    pending = [r for r in office.recordings if r.id == "R8"]
    part = run(EVENING_AFTER, pending, office.actions, [("R8", "A4")])
    assert [f for f in part if f.recording_id] == [f for f in full if f.recording_id]


def test_late_arrivals_are_flagged_once_with_the_upload_wording() -> None:
    """Stored after the deadline before any sweep saw it late: one upload-late flag, worded
    like the engine's own and one step more severe for a full-recording action."""
    now = t(30, 12)
    late = rec("R1", "0101", "CAM-01", t(27, 9), t(27, 10), verified=t(28, 16))  # 30 h after its end
    on_time = rec("R2", "0101", "CAM-01", t(27, 11), t(27, 12), verified=t(28, 11))
    seen = rec("R3", "0102", "CAM-02", t(27, 9), t(27, 10), verified=t(29, 9))  # already flagged
    future = rec("R4", "0102", "CAM-02", t(27, 9), t(27, 10), verified=t(30, 13))  # after now
    plain = rec("R5", "0103", "CAM-03", t(27, 9), t(27, 10), verified=t(28, 11))
    links = [("R1", "A1"), ("R1", "A4"), ("R5", "A4")]
    flags = late_arrivals(now, [late, on_time, seen, future, plain], links, {"A1"}, SETTINGS, {"R3"})

    assert [(f.kind, f.subject, f.severity) for f in flags] == [
        (FlagKind.UPLOAD_LATE, "recording:R1", Severity.CRITICAL),
        (FlagKind.UPLOAD_LATE, "recording:R5", Severity.HIGH),
    ]
    first = flags[0]
    assert first.due == t(28, 10)
    assert first.detail == (
        "recording R1 (device CAM-01, officer 0101) ended 2026-11-27 10:00:00+08:00; stored and "
        "verified 2026-11-28 16:00:00+08:00, 6 h 0 min 0 s after its 24 h deadline "
        "2026-11-28 10:00:00+08:00; belongs to full-recording action(s) A1"
    )


# --- absurd stored times (issue 7, item 10) -----------------------------------------------


def test_times_at_the_ends_of_the_calendar_never_overflow_the_engine() -> None:
    """Rows stored before imports and metadata were bounded: year 9999 and year 1, in a
    zone ahead of UTC.  Every rule still decides, and the flags are dated."""
    far = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    early = datetime(1, 1, 1, 0, 0, tzinfo=UTC)
    actions = [
        act("A9", "forced_demolition", ("0101",), t(27, 9), far),
        act("A1", "forced_demolition", ("0102",), early, t(27, 9)),
    ]
    recordings = [
        rec("R9", "0101", "CAM-01", t(27, 9), far),
        rec("R1", "0102", "CAM-02", early, early, clock_offset=timedelta(days=400)),
        rec("R2", "0103", "CAM-03", far, far, clock_offset=-timedelta(days=400)),
    ]
    checkouts = [Checkout("CAM-09", "0109", early, far)]
    now = t(30, 9)
    flags = run(now, recordings, actions, [("R9", "A9"), ("R1", "A1")], checkouts)
    # the early recording is long overdue; the far one is not due; A1 ended and is covered
    assert ("upload-late", "recording:R1") in keys(flags)
    assert ("upload-late", "recording:R9") not in keys(flags)
    assert all(f.due is None or f.due.year >= 1 for f in flags)
    # as of the very end of the calendar everything is due, and nothing overflows
    end_of_time = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    flags = run(end_of_time, recordings, actions, [("R9", "A9"), ("R1", "A1")], checkouts)
    assert {"upload-late", "camera-not-docked", "case-file-overdue"} <= {f.kind.value for f in flags}
    assert upload_due(recordings[0], SETTINGS) is not None
    assert late_arrivals(now, [replace(recordings[1], stored_verified_at=now)], [], (), SETTINGS)


@pytest.mark.parametrize(
    "camera_time", ["0001-01-01T00:00:00", "9999-12-31T23:59:59-10:00", "1970-01-01T00:00:00"]
)
def test_a_clock_file_with_an_absurd_time_is_refused_not_a_crash(camera_time: str) -> None:
    data = json.dumps({"device": "CAM-01", "camera_time": camera_time}).encode()
    reading = parse_clock_file(data, t(27, 18), SHANGHAI)
    assert isinstance(reading, str)
    assert "plausible range" in reading and camera_time in reading
    good = json.dumps({"device": "CAM-01", "camera_time": "2026-11-27T18:00:30"}).encode()
    assert not isinstance(parse_clock_file(good, t(27, 18), SHANGHAI), str)


def test_the_ledger_is_needed_only_for_footage_its_officer_numbers_do_not_attribute() -> None:
    crew = act("A1", "seizure", ("001", "002"), t(2, 9), t(2, 10))
    solo = act("A2", "seizure", ("003",), t(2, 9), t(2, 10))
    bare = act("A3", "seizure", ("004",), t(2, 9), t(2, 10))  # no footage at all
    recordings = [
        rec("R1", "001", "CAM-1", t(2, 9), t(2, 10)),
        rec("R2", None, "CAM-2", t(2, 9), t(2, 10)),  # 002's, by the ledger only
        rec("R3", "003", "CAM-3", t(2, 9), t(2, 10)),  # settled by its officer number
    ]
    links = [("R1", "A1"), ("R2", "A1"), ("R3", "A2"), ("R9", "A2")]  # R9: not loaded
    assert ledger_devices([crew, solo, bare], links, recordings) == {"CAM-1", "CAM-2"}
    # and the engine decides the same with that part of the ledger as with all of it
    ledger = [
        Checkout("CAM-1", "001", t(2, 8), t(2, 18)),
        Checkout("CAM-2", "002", t(2, 8), t(2, 18)),
        Checkout("CAM-3", "003", t(2, 8), t(2, 18)),
    ]
    devices = ledger_devices([crew, solo, bare], links, recordings)
    now = t(9, 9)
    docked = {c.device: now for c in ledger}
    actions = [crew, solo, bare]
    every = evaluate(now, recordings, actions, links, ledger, docked, DEFAULT_POLICY, SETTINGS)
    part = [c for c in ledger if c.device in devices]
    assert every == evaluate(now, recordings, actions, links, part, docked, DEFAULT_POLICY, SETTINGS)
    assert keys(every) >= {("footage-missing", officer_subject("A3", "004"))}
    assert ("footage-missing", officer_subject("A1", "002")) not in keys(every)
