"""The flags ingest raises about what it finds on a dock: whether a file or recording gets
one, of which kind and severity, and what it says.  The catalog only stores the flag it is
given (in the same transaction as the state change it belongs to)."""

from __future__ import annotations

from recorder_sync.domain.model import Flag, FlagKind, Kind, ProbeResult, Severity
from recorder_sync.domain.subjects import file_subject, recording_subject


def unreadable_media_flag(recording_id: str, original_name: str, probe: ProbeResult) -> Flag | None:
    """A file named as media (video, audio, photo) that ffprobe cannot read is flagged; it is
    still stored as is.  A readable file, or one whose name is not media, gets no flag."""
    if probe.readable or probe.kind is Kind.OTHER:
        return None
    return Flag(
        FlagKind.UNREADABLE_MEDIA,
        Severity.HIGH,
        recording_subject(recording_id),
        f"{original_name}: {probe.error or 'ffprobe could not read it'}; preserved as is",
        recording_id=recording_id,
    )


def rejected_file_flag(dock: str, relpath: str, reason: str) -> Flag:
    """An entry on a dock that is not taken (a link, special file, unreadable folder…) is always
    flagged; it stays on the dock and the detail says why."""
    return Flag(FlagKind.REJECTED_FILE, Severity.MEDIUM, file_subject(dock, relpath), reason)
