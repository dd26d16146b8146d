"""Still frames for a written report (``recorder-replay frames``): which times, and the files'
names. Times are on the recording's clock (from its start, like ``--from``/``--to``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.replay import ClipRange, clip_time_text, parse_clip_time

# A report needs a handful of pictures, not a film: past this, ask for a wider --every or a
# shorter range instead of filling a folder by mistake.
MAX_FRAMES = 1000
MIN_EVERY = timedelta(milliseconds=100)

_EVERY = re.compile(r"^(\d{1,7}(?:\.\d{1,3})?)\s*(s|m|min|h)?$")
_UNIT_S = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600}


def parse_every(text: str) -> timedelta:
    """``10s``, ``10`` (seconds), ``2m``, ``1h`` or ``HH:MM:SS``; ``UsageError`` naming ``--every``."""
    m = _EVERY.match(text.strip())
    try:
        if m is not None:
            every = timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])
        else:
            every = parse_clip_time(text)
    except ValueError:
        raise UsageError(f"--every {text}: expected a duration such as 10s, 2m or 00:00:30") from None
    if every < MIN_EVERY:
        raise UsageError(f"--every {text}: at least {MIN_EVERY.total_seconds():g} s between frames")
    return every


def frame_times(span: ClipRange, duration: timedelta | None, every: timedelta) -> tuple[timedelta, ...]:
    """``--from`` (or the start), then every ``every``, before ``--to`` or the recording's end."""
    start = span.start or timedelta(0)
    ends = [t for t in (span.end, duration) if t is not None]
    if not ends:
        raise UsageError("frames: the recording's length is not known; give --to")
    end = min(ends)
    if start >= end:
        raise UsageError(f"--from {clip_time_text(start)} is not before the recording's end")
    count = -(-(end - start) // every)  # ceiling: a frame at each step strictly before the end
    if count > MAX_FRAMES:
        raise UsageError(
            f"--every {clip_time_text(every)}: {count} frames (at most {MAX_FRAMES}); "
            "take a wider --every or a shorter --from/--to"
        )
    return tuple(start + k * every for k in range(count))


def frame_name(recording_id: str, at: timedelta) -> str:
    """``rec-…_frame_00-01-30_5.png``: the recording and the frame's time on its clock."""
    return f"{recording_id}_frame_{_name_time(at)}.png"


def frames_set_name(recording_id: str, range_text: Sequence[str] | None) -> str:
    """``rec-…_frames[_FROM_TO]``: the set's one provenance is this ``.provenance.json``."""
    parts = [recording_id, "frames", *(t.replace(":", "-").replace(".", "_") for t in range_text or ())]
    return "_".join(parts)


def _name_time(at: timedelta) -> str:
    return clip_time_text(at).replace(":", "-").replace(".", "_")
