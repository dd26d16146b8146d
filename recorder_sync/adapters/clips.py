"""Derived clips with ffmpeg (``ffmpeg-python`` builds the command), and the export folder.

Trimming is a stream copy (``-c copy``): no pixel is re-encoded, the clip's frames are the
original's, cut at the key frames around the range. The command run is recorded in the
clip's provenance, with the private paths replaced by what they stand for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import ffmpeg

from recorder_sync.domain.errors import ClipFailed, UsageError
from recorder_sync.domain.provenance import Derivation
from recorder_sync.domain.replay import ClipRange, clip_time_text


@cache
def ffmpeg_version() -> str:
    try:
        out = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise UsageError(f"ffmpeg is needed to cut clips: {e}") from None
    first = out.stdout.splitlines()[0] if out.stdout else "ffmpeg"
    return " ".join(first.split()[:3])  # "ffmpeg version 5.1.6-0+deb12u1"


class FfmpegClipper:
    """Implements ``Clipper``."""

    def derive(self, source: Path, target: Path, span: ClipRange) -> Derivation:
        if span.start is None and span.end is None:
            shutil.copyfile(source, target)  # the whole recording: its exact bytes
            return Derivation(({"op": "copy"},), "copy")
        options: dict[str, str] = {}
        if span.start is not None:
            options["ss"] = f"{span.start.total_seconds():.3f}"
        if span.end is not None:
            options["to"] = f"{span.end.total_seconds():.3f}"
        # "file:" keeps ffmpeg from reading a protocol or an option into a name
        stream = ffmpeg.input(f"file:{source}", **options).output(
            f"file:{target}", c="copy", map="0", avoid_negative_ts="make_zero"
        )
        argv: list[str] = [*stream.compile(), "-nostdin", "-loglevel", "error", "-n"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            target.unlink(missing_ok=True)
            raise ClipFailed(source.name, (done.stderr.strip() or f"exit status {done.returncode}")[-500:])
        operation: dict[str, str] = {"op": "trim", "mode": "stream-copy"}
        if span.start is not None:
            operation["from"] = clip_time_text(span.start)
        if span.end is not None:
            operation["to"] = clip_time_text(span.end)
        shown = [
            "INPUT" if a == f"file:{source}" else target.name if a == f"file:{target}" else a for a in argv
        ]
        return Derivation((operation,), ffmpeg_version(), tuple(shown))


class ExportFolder:
    """Implements ``ExportTarget``: files placed in the folder the person chose, never over an
    existing file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def check(self, names: Sequence[str]) -> None:
        if not self.folder.is_dir():
            raise UsageError(f"--out {self.folder}: not a folder")
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise UsageError(f"--out {self.folder}: cannot write there")
        for name in names:
            if (self.folder / name).exists() or (self.folder / name).is_symlink():
                raise UsageError(f"{self.folder / name} exists already; choose another --out folder")

    def place(self, name: str, source: Path | bytes) -> Path:
        path = self.folder / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o640)
        except FileExistsError:
            raise UsageError(f"{path} exists already; choose another --out folder") from None
        with os.fdopen(fd, "wb") as out:
            if isinstance(source, bytes):
                out.write(source)
            else:
                with open(source, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        return path
