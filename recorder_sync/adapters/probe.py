"""What a media file is, according to ffprobe.

We run ffprobe with the same arguments ``ffmpeg.probe`` (ffmpeg-python 0.2)
builds, but through ``subprocess.run`` ourselves: that ``probe`` has no
timeout (its keyword arguments become ffprobe options), and a daemon must not
hang on one damaged file.

Bad media never raises: it comes back ``readable=False`` with ffprobe's reason
and a kind guessed from the extension.  What is not the media's fault does
raise: a missing ffprobe (``CouldNotCheck``) or a file we cannot open
(``SourceUnavailable``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from recorder_sync.domain.errors import CouldNotCheck, SourceUnavailable
from recorder_sync.domain.model import Kind, ProbeResult, kind_from_name
from recorder_sync.domain.times import parse_lenient
from recorder_sync.domain.untrusted import media_problem, to_utc
from recorder_sync.io import processes

log = logging.getLogger(__name__)

# The kind a file's name promises comes from the one domain map; the old name stays for
# callers (the fake prober) written before it moved there.

# Demuxers that read one still image per file.
_IMAGE_FORMATS = frozenset({"image2", "image2pipe"})

# "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0539531c0] moov atom not found"
_LOG_CONTEXT = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")
_NOT_ALLOWED = re.compile(rb"\[([^\] ]+) @ 0x[0-9a-f]+\] Format not on whitelist")

# The demuxers of the containers cameras and recorders write. Anything else (an HLS or DASH
# playlist, concat, a device or network source) could make ffprobe read files outside the
# dock and report their footage as this file's; such a file is unreadable-media instead.
CAMERA_FORMATS = (
    "mov,mp4,m4a,3gp,3g2,mj2,avi,matroska,webm,mpegts,mpeg,wav,mp3,aac,amr,amrnb,amrwb,ogg,flac,"
    "image2,jpeg_pipe,png_pipe,bmp_pipe,webp_pipe,tiff_pipe"
)


class FfprobeProber:
    """``Prober`` backed by the ffprobe binary (Debian package ``ffmpeg``)."""

    def __init__(self, ffprobe: str = "ffprobe", timeout_s: float = 60.0) -> None:
        self._ffprobe = ffprobe
        self._timeout_s = timeout_s

    def probe(self, path: Path) -> ProbeResult:
        """A file by its path (tests, tools); the pipeline hands over the open file instead."""
        try:
            # O_NONBLOCK: a FIFO named like media cannot block us
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise SourceUnavailable(path, exc.strerror or str(exc)) from exc
        with os.fdopen(fd, "rb", buffering=0) as f:
            return self.probe_open(f, path.name)

    def probe_open(self, f: BinaryIO, name: str) -> ProbeResult:
        """The open file ``f``: ffprobe reads that very file through ``/proc/self/fd``,
        whatever happens to its path meanwhile (renamed, replaced, a folder swapped for a
        link). ``name`` only gives the kind to guess from the extension."""
        guessed = kind_from_name(name)
        fd = f.fileno()
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return ProbeResult(kind=guessed, readable=False, error="not a regular file")
        if st.st_size == 0:
            return ProbeResult(kind=guessed, readable=False, error="empty file (0 bytes)")
        # "file:" stops ffmpeg from reading a protocol or an option into the name
        url = f"file:/proc/self/fd/{fd}".encode()
        argv: list[str | bytes] = [
            self._ffprobe,
            "-v",
            "error",
            "-hide_banner",
            # Without this, image2 reads "%d" and "*" in a name as a sequence pattern.
            "-pattern_type",
            "none",
            # the open file only ("file:/proc/self/fd/N"), never a URL a playlist names
            "-protocol_whitelist",
            "file",
            "-format_whitelist",
            CAMERA_FORMATS,
            "-show_format",
            "-show_streams",
            "-of",
            "json",
            url,
        ]
        try:
            done = processes.run(
                argv, stdin=subprocess.DEVNULL, capture_output=True, pass_fds=(fd,), timeout=self._timeout_s
            )
        except FileNotFoundError as exc:
            raise CouldNotCheck("ffprobe not found: install Debian package ffmpeg") from exc
        except subprocess.TimeoutExpired:
            return ProbeResult(
                kind=guessed,
                readable=False,
                error=f"ffprobe did not finish within {self._timeout_s:g} s",
            )
        except OSError as exc:
            raise CouldNotCheck(f"could not run {self._ffprobe}: {exc.strerror or exc}") from exc

        if done.returncode != 0:
            not_allowed = _NOT_ALLOWED.search(done.stderr)
            if done.returncode < 0:
                reason = f"ffprobe was killed by signal {-done.returncode}"
            elif not_allowed:
                detected = not_allowed.group(1).decode("ascii", "replace")
                reason = f"format '{detected}' is not a container a camera writes; not followed"
            else:
                reason = _reason(done.stderr, url) or f"ffprobe exited with status {done.returncode}"
            log.debug("ffprobe cannot read %s: %s", name, reason)
            return ProbeResult(kind=guessed, readable=False, error=reason)
        try:
            info = json.loads(done.stdout.decode("utf-8", errors="replace"))
        except ValueError:
            return ProbeResult(kind=guessed, readable=False, error="ffprobe printed no JSON")
        if not isinstance(info, dict):
            return ProbeResult(kind=guessed, readable=False, error="ffprobe printed no JSON object")
        result = interpret(info)
        if result.readable:
            implausible = media_problem(st.st_size, result.duration_ms, _bit_rate(info))
            if implausible is not None:
                log.debug("ffprobe's report on %s is implausible: %s", name, implausible)
                result = replace(result, readable=False, error=implausible, duration_ms=None)
        return result if result.readable else replace(result, kind=guessed)


def interpret(info: Mapping[str, Any]) -> ProbeResult:
    """A ``ProbeResult`` from ffprobe's ``-show_format -show_streams -of json`` output."""
    fmt: Mapping[str, Any] = info.get("format") or {}
    streams: Sequence[Mapping[str, Any]] = info.get("streams") or []
    format_name = str(fmt.get("format_name", "")) or None

    pictures = [s for s in streams if s.get("codec_type") == "video" and not _attached_pic(s)]
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if pictures:
        still = _is_image_format(format_name) or all(_disposition(s, "still_image") for s in pictures)
        kind = Kind.PHOTO if still else Kind.VIDEO
    elif audio:
        kind = Kind.AUDIO
    else:
        kind = Kind.OTHER

    codecs = tuple(
        str(s["codec_name"])
        for s in streams
        if s.get("codec_name")
        and s.get("codec_type") in ("video", "audio", "subtitle")
        and not _attached_pic(s)
    )
    first = pictures[0] if pictures else {}
    width, height = _int(first.get("width")), _int(first.get("height"))
    error = None
    if pictures and not (width and height):
        # image2 picks its codec from the extension alone: a ".jpg" of garbage
        # "opens" with a 0x0 picture.  ffprobe found no picture header in it.
        error = f"no picture size in the {first.get('codec_name') or 'video'} stream (not a valid picture)"
    format_tags = _tags(fmt)
    return ProbeResult(
        kind=kind,
        readable=error is None,
        error=error,
        duration_ms=None if kind is Kind.PHOTO else _duration_ms(fmt, streams),
        creation_time=_creation_time(format_tags, streams),
        format_name=format_name,
        codecs=codecs,
        width=width or None,
        height=height or None,
        tags=format_tags,
        has_audio=bool(audio),
    )


def _bit_rate(info: Mapping[str, Any]) -> int | None:
    fmt = info.get("format")
    rate = _float(fmt.get("bit_rate")) if isinstance(fmt, Mapping) else None
    return None if rate is None else int(rate)


def _reason(stderr: bytes, url: bytes) -> str:
    """ffprobe's complaint on one line, without the file name and the log context."""
    text = stderr.replace(url + b": ", b"").replace(url, b"the file").decode("utf-8", errors="replace")
    seen: list[str] = []
    for line in text.splitlines():
        line = _LOG_CONTEXT.sub("", line).strip()
        if line and line not in seen:
            seen.append(line)
    return "; ".join(seen)


def _attached_pic(stream: Mapping[str, Any]) -> bool:
    return _disposition(stream, "attached_pic")


def _disposition(stream: Mapping[str, Any], name: str) -> bool:
    disposition = stream.get("disposition") or {}
    return bool(disposition.get(name))


def _is_image_format(format_name: str | None) -> bool:
    names = (format_name or "").split(",")
    return any(n in _IMAGE_FORMATS or n.endswith("_pipe") for n in names)


def _tags(obj: Mapping[str, Any]) -> dict[str, str]:
    tags = obj.get("tags") or {}
    return {str(k): str(v) for k, v in tags.items()}


_DURATION_CAP_MS = float(2**62)


def _duration_ms(fmt: Mapping[str, Any], streams: Sequence[Mapping[str, Any]]) -> int | None:
    seconds = _float(fmt.get("duration"))
    if seconds is None:
        found = [d for d in (_float(s.get("duration")) for s in streams) if d is not None]
        seconds = max(found, default=None)
    if seconds is None:
        return None
    # capped below the database's 64-bit integer, and far above any plausible duration, so that
    # an absurd one (1.8e305 s, or infinity once in ms) is kept as implausible, not a crash
    return round(min(seconds * 1000, _DURATION_CAP_MS))


def _creation_time(format_tags: Mapping[str, str], streams: Sequence[Mapping[str, Any]]) -> datetime | None:
    """The container's creation time, else the first stream's that has one.

    QuickTime/MP4 store it in UTC, and ffprobe prints it with a "Z"; a value
    without an offset is taken as UTC for the same reason.
    """
    for tags in [format_tags, *(_tags(s) for s in streams)]:
        for key, value in tags.items():
            if key.lower() == "creation_time":
                parsed = _parse_time(value)
                if parsed is not None:
                    return parsed
    return None


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = parse_lenient(value)
    except ValueError:
        return None
    return to_utc(parsed, UTC)  # None off the calendar (year 1 with an offset east of UTC)


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and f >= 0 else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
