"""Which flag ingest raises about a probed recording or a refused dock entry: decided in the
pure core, the catalog only stores it."""

from __future__ import annotations

import pytest

from recorder_sync.domain.ingest_flags import rejected_file_flag, unreadable_media_flag
from recorder_sync.domain.model import FlagKind, FlagState, Kind, ProbeResult, Severity


@pytest.mark.parametrize("kind", [Kind.VIDEO, Kind.AUDIO, Kind.PHOTO])
def test_unreadable_media_is_flagged_high_and_says_it_was_preserved(kind: Kind) -> None:
    flag = unreadable_media_flag("R1", "clip.3gp", ProbeResult(kind, False, error="moov atom not found"))
    assert flag is not None
    assert (flag.kind, flag.severity, flag.subject, flag.recording_id, flag.state) == (
        FlagKind.UNREADABLE_MEDIA,
        Severity.HIGH,
        "recording:R1",
        "R1",
        FlagState.OPEN,
    )
    assert flag.detail == "clip.3gp: moov atom not found; preserved as is"


def test_unreadable_media_without_an_error_text_still_says_what_happened() -> None:
    flag = unreadable_media_flag("R1", "a.mp4", ProbeResult(Kind.VIDEO, False))
    assert flag is not None and flag.detail == "a.mp4: ffprobe could not read it; preserved as is"


@pytest.mark.parametrize(
    "probe",
    [ProbeResult(Kind.VIDEO, True, duration_ms=1000), ProbeResult(Kind.OTHER, False, error="not media")],
    ids=["readable", "not-named-as-media"],
)
def test_readable_files_and_files_not_named_as_media_get_no_flag(probe: ProbeResult) -> None:
    assert unreadable_media_flag("R1", "notes.txt", probe) is None


def test_a_refused_dock_entry_is_flagged_medium_on_its_file_subject_with_the_reason() -> None:
    flag = rejected_file_flag("dock1", "sub/link.mp4", "symbolic link not followed")
    assert (flag.kind, flag.severity, flag.detail, flag.recording_id) == (
        FlagKind.REJECTED_FILE,
        Severity.MEDIUM,
        "symbolic link not followed",
        None,
    )
    assert flag.subject == "dock:dock1/sub/link.mp4"
