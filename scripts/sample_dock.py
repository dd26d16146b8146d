#!/usr/bin/env python3
"""Build realistic sample body-worn-camera docks with the real ``ffmpeg`` binary.

Standalone (stdlib only, no project imports) and importable by tests::

    python scripts/sample_dock.py DEST [--bad] [--day YYYY-MM-DD] [--tz Asia/Shanghai]

What it makes:

* ``build_sample_dock(dest)`` -- a dock as the cameras leave it: H.264/AAC MP4 clips
  with a burned-in wall-clock overlay and a ``creation_time`` tag, one WAV voice
  recording, one JPEG photo (with EXIF ``DateTimeOriginal``), one JSON sidecar, named
  in the two naming profiles the daemon ships:

  - ``default``: ``DEVICE_OFFICER_YYYYMMDDhhmmss_SEQ[_IMP].EXT`` at the dock root;
  - ``folders``: ``DEVICE/YYYYMMDD/OFFICER_hhmmss_SEQ[_IMP].EXT``.

  Times in names are naive local times of the dock's zone (default Asia/Shanghai).
  Names and times are fixed; with the same ffmpeg build and font the bytes are
  bit-identical run to run too (x264, the native AAC encoder and the muxers are
  deterministic; ``creation_time`` comes from the plan, never from the clock).

* ``build_bad_cases(dest)`` -- the files a dock should not contain but will: a
  truncated MP4, an empty MP4, random bytes named ``.mp4``, names with spaces, Chinese
  characters or a newline, a symlink pointing outside the dock, two names for the same
  bytes and an unknown extension.  The symlink's target lives in a sibling folder
  ``<dest>.outside`` created next to ``dest``.

* ``write_slowly(path, data, chunk=..., delay=...)`` -- a thread that writes a file in
  chunks with pauses, like a copy still in progress.

The overlay font is looked up at standard Debian paths (``fonts-dejavu-core`` first),
then with ``fc-match``; ``SAMPLE_DOCK_FONT`` overrides both.  Without a font the
clips carry only ``testsrc2``'s own elapsed-time counter (no drawtext).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, partial
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "DEFAULT_DAY",
    "DEFAULT_TZ",
    "SampleDockError",
    "SampleFile",
    "build_bad_cases",
    "build_sample_dock",
    "default_name",
    "find_font",
    "folders_relpath",
    "main",
    "make_audio",
    "make_photo",
    "make_video",
    "sample_plan",
    "write_slowly",
]

Kind = Literal["video", "audio", "photo", "other"]
Profile = Literal["default", "folders"]

DEFAULT_DAY = date(2026, 11, 27)
DEFAULT_TZ = "Asia/Shanghai"

VIDEO_SIZE = (320, 240)
VIDEO_FPS = 10
PHOTO_SIZE = (640, 480)
AUDIO_RATE_VIDEO = 48_000
AUDIO_RATE_WAV = 16_000

# Standard Debian locations, most wanted first (package in the comment).
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",  # fonts-dejavu-core
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",  # fonts-dejavu-core
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",  # fonts-liberation
    "/usr/share/fonts/truetype/freefont/FreeMono.ttf",  # fonts-freefont-ttf
)
_FONT_SUFFIXES = {".ttf", ".otf", ".ttc"}


class SampleDockError(RuntimeError):
    """ffmpeg is missing or failed while building a sample."""


@dataclass(frozen=True)
class SampleFile:
    """One evidence file of a sample dock, as the naming profile describes it."""

    relpath: str  # POSIX path relative to the dock root
    device: str
    officer: str
    start: datetime  # aware, in the dock's zone
    seconds: float  # 0 for photos
    kind: Kind
    important: bool
    profile: Profile
    seq: int = 0
    sidecar: str | None = None  # relpath of the JSON sidecar, if any

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)


# --------------------------------------------------------------------------- names


def default_name(
    device: str, officer: str, start: datetime, seq: int, ext: str, *, important: bool = False
) -> str:
    """``DEVICE_OFFICER_YYYYMMDDhhmmss_SEQ[_IMP].EXT`` (``start`` as given, local time)."""
    imp = "_IMP" if important else ""
    return f"{device}_{officer}_{start:%Y%m%d%H%M%S}_{seq:04d}{imp}.{ext}"


def folders_relpath(
    device: str, officer: str, start: datetime, seq: int, ext: str, *, important: bool = False
) -> str:
    """``DEVICE/YYYYMMDD/OFFICER_hhmmss_SEQ[_IMP].EXT`` (``start`` as given, local time)."""
    imp = "_IMP" if important else ""
    return f"{device}/{start:%Y%m%d}/{officer}_{start:%H%M%S}_{seq:04d}{imp}.{ext}"


# --------------------------------------------------------------------------- ffmpeg


@cache
def find_font() -> Path | None:
    """A TrueType/OpenType font file for drawtext, or None if the machine has none."""
    override = os.environ.get("SAMPLE_DOCK_FONT")
    if override:
        return Path(override) if Path(override).is_file() else None
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    if shutil.which("fc-match"):
        try:
            proc = subprocess.run(
                ["fc-match", "-f", "%{file}", "monospace"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        found = Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None
        if found is not None and found.suffix.lower() in _FONT_SUFFIXES and found.is_file():
            return found
    return None


def _ffmpeg_binary() -> str:
    binary = os.environ.get("FFMPEG", "ffmpeg")
    found = shutil.which(binary)
    if found is None:
        raise SampleDockError(f"ffmpeg not found (looked for {binary!r} on PATH)")
    return found


def _run_ffmpeg(args: Sequence[str], *, cwd: Path) -> None:
    cmd = [_ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SampleDockError(f"ffmpeg exited {proc.returncode}: {' '.join(cmd)}\n{proc.stderr.strip()}")


def _require_aware(start: datetime) -> None:
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"start must be timezone-aware, got {start!r}")


def _utc_offset_text(start: datetime) -> str:
    offset = start.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _utc_iso(start: datetime) -> str:
    return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _drawtext_literal(text: str) -> str:
    """Escape text for drawtext's expansion (backslash escapes the next character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("\n", " ").replace("\r", " ")


def _overlay_filter(scratch: Path, text: str) -> list[str]:
    """``-vf drawtext`` reading ``text`` from a file in ``scratch`` (no filtergraph escaping).

    Both the text file and a link to the font sit in the scratch folder and are named
    relatively, so no path of any shape ever goes through filtergraph escaping.
    Returns no arguments when there is no font.
    """
    font = find_font()
    if font is None:
        return []
    local_font = scratch / f"font{font.suffix.lower()}"
    try:
        local_font.symlink_to(font)
    except OSError:
        shutil.copyfile(font, local_font)
    (scratch / "overlay.txt").write_text(text, encoding="utf-8")
    drawtext = (
        f"drawtext=fontfile={local_font.name}:textfile=overlay.txt:fontsize=14:fontcolor=white"
        ":box=1:boxcolor=black@0.6:boxborderw=3:x=6:y=h-th-6"
    )
    return ["-vf", drawtext]


def _place(src: Path, path: Path) -> None:
    """Move a finished file into place in one rename when possible (no half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, path)
    except OSError:  # other file system: copy next to the target, then rename
        partial = path.with_name(f".{path.name}.partial")
        shutil.copyfile(src, partial)
        os.replace(partial, path)


def make_video(
    path: Path,
    *,
    start: datetime,
    seconds: float,
    creation_time: bool = True,
    label: str = "",
    frequency: float = 880.0,
    size: tuple[int, int] = VIDEO_SIZE,
    fps: int = VIDEO_FPS,
) -> None:
    """H.264 (ultrafast) + AAC MP4 of ``testsrc2`` and a sine tone.

    A drawtext overlay shows ``label`` and the recording's wall-clock time in
    ``start``'s zone, counting up with the clip (whole seconds).  With
    ``creation_time`` the container and streams carry ``creation_time`` = start in UTC.
    The ``moov`` atom is at the end (no faststart), as on a camera.
    """
    _require_aware(start)
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    offset = start.utcoffset() or timedelta(0)
    # gmtime of (epoch + UTC offset) prints the local wall clock without needing tzdata.
    shifted = int((start + offset).timestamp())
    clock = f"%{{pts:gmtime:{shifted}:%Y-%m-%d %H\\:%M\\:%S}} {_utc_offset_text(start)}"
    text = f"{_drawtext_literal(label)}\n{clock}" if label else clock
    duration = f"{seconds:.3f}"
    width, height = size
    with tempfile.TemporaryDirectory(prefix="sample_dock-") as tmp:
        scratch = Path(tmp)
        pattern = f"testsrc2=size={width}x{height}:rate={fps}:duration={duration}"
        tone = f"sine=frequency={frequency:g}:sample_rate={AUDIO_RATE_VIDEO}:duration={duration}"
        args = [
            "-f", "lavfi", "-i", pattern,
            "-f", "lavfi", "-i", tone,
            *_overlay_filter(scratch, text),
            "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(fps * 2),
            "-c:a", "aac", "-b:a", "64k",
            "-t", duration,
        ]  # fmt: skip
        if creation_time:
            args += ["-metadata", f"creation_time={_utc_iso(start)}"]
        args += ["-f", "mp4", "out.mp4"]
        _run_ffmpeg(args, cwd=scratch)
        _place(scratch / "out.mp4", Path(path))


def make_audio(
    path: Path,
    *,
    start: datetime,
    seconds: float,
    frequency: float = 440.0,
    originator: str = "",
    bext: bool = True,
) -> None:
    """16 kHz mono WAV (pcm_s16le) sine tone.

    With ``bext`` a Broadcast-WAV ``bext`` chunk carries the local origination date
    and time (ffprobe shows them as the ``date`` and ``creation_time`` tags).
    """
    _require_aware(start)
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    duration = f"{seconds:.3f}"
    with tempfile.TemporaryDirectory(prefix="sample_dock-") as tmp:
        scratch = Path(tmp)
        tone = f"sine=frequency={frequency:g}:sample_rate={AUDIO_RATE_WAV}:duration={duration}"
        args = [
            "-f", "lavfi", "-i", tone,
            "-c:a", "pcm_s16le", "-ac", "1", "-t", duration,
        ]  # fmt: skip
        if bext:
            args += [
                "-write_bext", "1",
                "-metadata", f"origination_date={start:%Y-%m-%d}",
                "-metadata", f"origination_time={start:%H:%M:%S}",
            ]  # fmt: skip
            if originator:
                args += ["-metadata", f"originator={originator[:32]}"]
        args += ["-f", "wav", "out.wav"]
        _run_ffmpeg(args, cwd=scratch)
        _place(scratch / "out.wav", Path(path))


def make_photo(
    path: Path,
    *,
    start: datetime,
    label: str = "",
    exif: bool = True,
    size: tuple[int, int] = PHOTO_SIZE,
) -> None:
    """Single-frame baseline JPEG with the time burned in.

    With ``exif`` an APP1 Exif segment gets ``DateTime``/``DateTimeOriginal`` (local
    time) and ``OffsetTimeOriginal``, like a camera's photo.
    """
    _require_aware(start)
    stamp = f"{start:%Y-%m-%d %H:%M:%S} {_utc_offset_text(start)}"
    text = f"{_drawtext_literal(label)}\n{stamp}" if label else stamp
    width, height = size
    with tempfile.TemporaryDirectory(prefix="sample_dock-") as tmp:
        scratch = Path(tmp)
        args = [
            "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=1",
            *_overlay_filter(scratch, text),
            "-frames:v", "1", "-q:v", "3", "-f", "image2", "-update", "1", "out.jpg",
        ]  # fmt: skip
        _run_ffmpeg(args, cwd=scratch)
        out = scratch / "out.jpg"
        if exif:
            device = label.split(" ", 1)[0] if label else "sample"
            out.write_bytes(_insert_exif(out.read_bytes(), start, model=device))
        _place(out, Path(path))


# --------------------------------------------------------------------------- EXIF

_TIFF_ASCII = 2
_TIFF_LONG = 4
_TIFF_UNDEFINED = 7
_IfdEntry = tuple[int, int, int, bytes]  # tag, type, count, big-endian value bytes


def _ascii_entry(tag: int, text: str) -> _IfdEntry:
    raw = text.encode("ascii", "replace") + b"\0"
    return (tag, _TIFF_ASCII, len(raw), raw)


def _ifd(entries: list[_IfdEntry], at: int) -> bytes:
    """One big-endian TIFF IFD placed at offset ``at``, its out-of-line values right after."""
    data_at = at + 2 + 12 * len(entries) + 4
    table = struct.pack(">H", len(entries))
    data = b""
    for tag, kind, count, raw in sorted(entries):
        if len(raw) <= 4:
            value = raw.ljust(4, b"\0")
        else:
            value = struct.pack(">I", data_at + len(data))
            data += raw + (b"\0" if len(raw) % 2 else b"")
        table += struct.pack(">HHI", tag, kind, count) + value
    return table + struct.pack(">I", 0) + data


def _insert_exif(jpeg: bytes, start: datetime, *, model: str) -> bytes:
    stamp = f"{start:%Y:%m:%d %H:%M:%S}"
    exif_entries = [
        (0x9000, _TIFF_UNDEFINED, 4, b"0232"),  # ExifVersion
        _ascii_entry(0x9003, stamp),  # DateTimeOriginal
        _ascii_entry(0x9004, stamp),  # DateTimeDigitized
        _ascii_entry(0x9011, _utc_offset_text(start)),  # OffsetTimeOriginal
    ]
    ifd0_entries = [
        _ascii_entry(0x010F, "recorder_sync sample"),  # Make
        _ascii_entry(0x0110, model),  # Model
        _ascii_entry(0x0132, stamp),  # DateTime
    ]
    pointer_tag = 0x8769  # ExifIFDPointer
    sized = _ifd([*ifd0_entries, (pointer_tag, _TIFF_LONG, 1, b"\0\0\0\0")], 8)
    exif_at = 8 + len(sized)
    ifd0 = _ifd([*ifd0_entries, (pointer_tag, _TIFF_LONG, 1, struct.pack(">I", exif_at))], 8)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd0 + _ifd(exif_entries, exif_at)
    payload = b"Exif\0\0" + tiff
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    if jpeg[:2] != b"\xff\xd8":
        raise SampleDockError("ffmpeg did not produce a JPEG")
    insert_at = 2
    if jpeg[2:4] == b"\xff\xe0":  # keep the JFIF APP0 first
        insert_at = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:insert_at] + segment + jpeg[insert_at:]


# --------------------------------------------------------------------------- sample dock


def sample_plan(*, day: date = DEFAULT_DAY, tz: str = DEFAULT_TZ) -> list[SampleFile]:
    """The files ``build_sample_dock`` makes (pure, deterministic)."""
    zone = ZoneInfo(tz)

    def at(hour: int, minute: int, second: int) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=zone)

    plan: list[SampleFile] = []

    def add(
        device: str,
        officer: str,
        start: datetime,
        seconds: float,
        seq: int,
        kind: Kind,
        ext: str,
        *,
        important: bool = False,
        profile: Profile = "default",
        sidecar: bool = False,
    ) -> datetime:
        if profile == "default":
            relpath = default_name(device, officer, start, seq, ext, important=important)
        else:
            relpath = folders_relpath(device, officer, start, seq, ext, important=important)
        side = relpath.rsplit(".", 1)[0] + ".json" if sidecar else None
        plan.append(SampleFile(relpath, device, officer, start, seconds, kind, important, profile, seq, side))
        return start + timedelta(seconds=seconds)

    # Device 1, officer 031245: three back-to-back clips (the camera splits a long
    # recording), the last one marked important, then a voice memo.
    end = add("DSJ-A1B2C3", "031245", at(8, 30, 15), 4, 1, "video", "MP4")
    end = add("DSJ-A1B2C3", "031245", end, 4, 2, "video", "MP4")
    add("DSJ-A1B2C3", "031245", end, 3, 3, "video", "MP4", important=True)
    add("DSJ-A1B2C3", "031245", at(10, 0, 0), 5, 4, "audio", "WAV")
    # Device 2: officer 031247 records a clip with a sidecar, takes a photo, another
    # clip; after a shift handover officer 031248 uses the same camera.
    add("DSJ-K9M8N7", "031247", at(9, 5, 0), 5, 1, "video", "MP4", sidecar=True)
    add("DSJ-K9M8N7", "031247", at(9, 7, 30), 0, 2, "photo", "JPG")
    add("DSJ-K9M8N7", "031247", at(9, 12, 30), 3, 3, "video", "MP4")
    add("DSJ-K9M8N7", "031248", at(14, 0, 6), 6, 4, "video", "MP4")
    # Device 3 docks with the per-device folder layout.  Its first clip starts before
    # 08:00 local, i.e. on the previous day in UTC: the date folder is the local date.
    add("DSJ-77Q1", "031246", at(7, 58, 40), 4, 1, "video", "MP4", profile="folders")
    add("DSJ-77Q1", "031246", at(11, 42, 10), 3, 2, "video", "MP4", profile="folders", important=True)
    return plan


def _sidecar_json(item: SampleFile) -> str:
    doc = {
        "device": item.device,
        "officer": item.officer,
        "start": item.start.isoformat(),
        "end": item.end.isoformat(),
        "important": item.important,
    }
    return json.dumps(doc, indent=2) + "\n"


def _build_one(dest: Path, item: SampleFile, index: int) -> None:
    path = dest / item.relpath
    label = f"{item.device} {item.officer}"
    if item.kind == "video":
        make_video(path, start=item.start, seconds=item.seconds, label=label, frequency=440 + 110 * index)
    elif item.kind == "audio":
        make_audio(
            path, start=item.start, seconds=item.seconds, frequency=330 + 110 * index, originator=label
        )
    elif item.kind == "photo":
        make_photo(path, start=item.start, label=label)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(random.Random(index).randbytes(4096))
    if item.sidecar is not None:
        (dest / item.sidecar).write_text(_sidecar_json(item), encoding="utf-8")


def _run_parallel(jobs: Sequence[Callable[[], None]], workers: int | None) -> None:
    count = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=max(1, count)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def build_sample_dock(
    dest: Path, *, day: date = DEFAULT_DAY, tz: str = DEFAULT_TZ, workers: int | None = None
) -> list[SampleFile]:
    """Write the sample dock under ``dest`` (created if needed) and return its files."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    plan = sample_plan(day=day, tz=tz)
    jobs = [partial(_build_one, dest, item, i) for i, item in enumerate(plan)]
    _run_parallel(jobs, workers)
    return plan


# --------------------------------------------------------------------------- bad cases


def build_bad_cases(
    dest: Path, *, day: date = DEFAULT_DAY, tz: str = DEFAULT_TZ, workers: int | None = None
) -> dict[str, Path]:
    """Write awkward files into ``dest`` and return ``{case name: path}``.

    Can share ``dest`` with ``build_sample_dock`` (its device names differ).  The
    ``symlink_out`` link points at a file in the sibling folder ``<dest>.outside``,
    created next to ``dest``; it is an absolute link.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    outside_dir = dest.parent / f"{dest.name}.outside"
    outside_dir.mkdir(parents=True, exist_ok=True)
    zone = ZoneInfo(tz)

    def at(hour: int, minute: int) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute, 0, tzinfo=zone)

    dev, off = "DSJ-Z9BAD1", "039901"
    cases: dict[str, Path] = {
        "truncated_mp4": dest / default_name(dev, off, at(16, 0), 1, "MP4"),
        "zero_byte": dest / default_name(dev, off, at(16, 5), 2, "MP4"),
        "random_mp4": dest / default_name(dev, off, at(16, 10), 3, "mp4"),
        "spaces_name": dest / f"Copy of {default_name(dev, off, at(16, 15), 4, 'MP4')}",
        "chinese_name": dest / "执法记录仪 查封扣押.mp4",
        "newline_name": dest / f"{dev}_{off}\n_{at(16, 25):%Y%m%d%H%M%S}_0006.MP4",
        "symlink_out": dest / default_name(dev, off, at(16, 30), 7, "MP4"),
        "duplicate_a": dest / default_name(dev, off, at(16, 40), 8, "MP4"),
        "duplicate_b": dest / default_name("DSJ-Y7DUP2", "039902", at(16, 40), 1, "MP4"),
        "unknown_ext": dest / default_name(dev, off, at(16, 50), 9, "bin"),
    }
    outside_target = outside_dir / "outside_target.MP4"

    def video(path: Path, start: datetime, seconds: float, label: str) -> Callable[[], None]:
        return partial(make_video, path, start=start, seconds=seconds, label=label)

    _run_parallel(
        [
            video(cases["truncated_mp4"], at(16, 0), 4, "truncated"),
            video(cases["spaces_name"], at(16, 15), 2, "spaces in name"),
            video(cases["chinese_name"], at(16, 20), 2, "chinese name"),
            video(cases["newline_name"], at(16, 25), 1, "newline in name"),
            video(outside_target, at(16, 30), 1, "outside the dock"),
            video(cases["duplicate_a"], at(16, 40), 2, "duplicate"),
        ],
        workers,
    )
    truncated = cases["truncated_mp4"]
    whole = truncated.read_bytes()
    truncated.write_bytes(whole[: len(whole) * 2 // 5])  # moov is at the end: unreadable

    cases["zero_byte"].write_bytes(b"")
    rng = random.Random(20261127)
    cases["random_mp4"].write_bytes(rng.randbytes(64 * 1024))
    cases["unknown_ext"].write_bytes(rng.randbytes(4096))
    shutil.copyfile(cases["duplicate_a"], cases["duplicate_b"])

    link = cases["symlink_out"]
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.abspath(outside_target))
    return cases


def write_slowly(path: Path, data: bytes, *, chunk: int, delay: float) -> threading.Thread:
    """Start (and return) a daemon thread writing ``data`` to ``path`` in ``chunk``-byte
    pieces, flushed one by one with ``delay`` seconds between them -- a file that is
    still being copied onto the dock.  ``join()`` the thread to wait for the end."""
    if chunk <= 0:
        raise ValueError("chunk must be positive")
    target = Path(path)

    def run() -> None:
        with target.open("wb") as fh:
            for offset in range(0, len(data), chunk):
                if offset:
                    time.sleep(delay)
                fh.write(data[offset : offset + chunk])
                fh.flush()

    thread = threading.Thread(target=run, name=f"write_slowly:{target.name}", daemon=True)
    thread.start()
    return thread


# --------------------------------------------------------------------------- CLI


def _shown(text: str) -> str:
    return text.replace("\n", "\\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a sample body-worn-camera dock with ffmpeg.")
    parser.add_argument("dest", type=Path, help="dock folder to create or fill")
    parser.add_argument("--bad", action="store_true", help="also write the bad cases into DEST")
    parser.add_argument("--day", type=date.fromisoformat, default=DEFAULT_DAY, help="YYYY-MM-DD")
    parser.add_argument("--tz", default=DEFAULT_TZ, help="the dock's time zone (default %(default)s)")
    args = parser.parse_args(argv)
    dest: Path = args.dest

    try:
        began = time.monotonic()
        files = build_sample_dock(dest, day=args.day, tz=args.tz)
        took = time.monotonic() - began
        font = find_font()
        print(f"sample dock: {len(files)} files in {dest} ({took:.2f} s)")
        print(f"overlay font: {font if font else 'none (testsrc2 counter only)'}")
        header = ("KIND", "PROFILE", "START", "SECONDS", "IMP", "DEVICE", "OFFICER", "PATH")
        print("{:<6} {:<8} {:<26} {:>7} {:<3} {:<11} {:<7} {}".format(*header))
        for f in files:
            row = (f.kind, f.profile, f.start.isoformat(), f"{f.seconds:g}", "yes" if f.important else "",
                   f.device, f.officer, f.relpath + (f"  (+ {f.sidecar})" if f.sidecar else ""))  # fmt: skip
            print("{:<6} {:<8} {:<26} {:>7} {:<3} {:<11} {:<7} {}".format(*row))
        if args.bad:
            began = time.monotonic()
            cases = build_bad_cases(dest, day=args.day, tz=args.tz)
            took = time.monotonic() - began
            print(f"\nbad cases: {len(cases)} files ({took:.2f} s)")
            for name, path in cases.items():
                extra = f" -> {os.readlink(path)}" if path.is_symlink() else ""
                print(f"{name:<14} {_shown(str(path.relative_to(dest)))}{extra}")
    except SampleDockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
