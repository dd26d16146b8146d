"""Flag subjects and the wording of the engine's resolutions, decided in the pure core."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from recorder_sync.domain.flags import ENGINE_KINDS, FlagKind, escalates, resolution_reason, resolution_state
from recorder_sync.domain.model import FlagState, Severity
from recorder_sync.domain.subjects import (
    checkout_subject,
    device_subject,
    parse_subject,
    recording_subject,
)


def test_a_late_upload_that_arrived_resolves_as_late_and_says_so() -> None:
    assert resolution_state(FlagKind.UPLOAD_LATE) is FlagState.RESOLVED_LATE
    assert (
        resolution_reason(FlagKind.UPLOAD_LATE) == "the recording was stored and verified after its deadline"
    )


@pytest.mark.parametrize("kind", sorted(FlagKind(k) for k in ENGINE_KINDS - {FlagKind.UPLOAD_LATE}))
def test_other_engine_flags_resolve_because_the_condition_no_longer_holds(kind: FlagKind) -> None:
    assert resolution_state(kind) is FlagState.RESOLVED
    assert resolution_reason(kind) == "the condition no longer holds"


def test_one_flag_kind_enum_names_every_kind_the_product_raises() -> None:
    # the stored and printed words (the README's two flag tables); the engine owns only its own
    assert {k.value for k in FlagKind} == {
        "unreadable-media", "bad-metadata", "bad-sidecar", "rejected-file", "file-vanished",
        "source-unavailable", "source-changed", "integrity-failure", "storage-rejected",
        "upload-at-risk", "upload-late", "footage-missing", "footage-recommended-missing",
        "coverage-gap", "camera-not-docked", "case-file-overdue", "station-clock-drift",
    }  # fmt: skip
    assert {
        "upload-at-risk", "upload-late", "footage-missing", "footage-recommended-missing",
        "coverage-gap", "camera-not-docked", "case-file-overdue",
    } == ENGINE_KINDS  # fmt: skip


def test_device_subjects_escape_like_the_others_and_parse_back() -> None:
    assert device_subject("CAM-1") == "device:CAM-1"
    assert parse_subject(device_subject("odd:name%")) == ("device", "odd:name%")
    start = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
    assert checkout_subject("odd:name", start).startswith(device_subject("odd:name") + ":checkout:")
    assert parse_subject(recording_subject("a" * 64)) == ("recording", "a" * 64)


def test_an_update_is_an_escalation_only_when_the_severity_goes_up() -> None:
    assert escalates(Severity.HIGH, Severity.MEDIUM)
    assert escalates(Severity.CRITICAL, "high")  # as stored: the severity's value
    assert not escalates(Severity.HIGH, Severity.HIGH)
    assert not escalates(Severity.MEDIUM, "high")
