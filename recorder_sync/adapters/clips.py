"""Derived clips and still frames with ffmpeg (``ffmpeg-python`` builds the command), and
the export folder.

Trimming alone is a stream copy (``-c copy``): no pixel is re-encoded, the clip's frames are
the original's, cut at the key frames around the range. Blurring, muting or watermarking
re-encode (H.264 at CRF 18; AAC, or PCM into a WAV; a sound track that is not muted is copied
as it is) through one filter graph, and the range is then cut at the exact frames. The
command run (and the filter graph) is recorded in the provenance, with the private paths
replaced by what they stand for.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import ffmpeg

from recorder_sync.adapters.probe import FfprobeProber
from recorder_sync.domain.errors import ClipFailed, UsageError
from recorder_sync.domain.provenance import Derivation
from recorder_sync.domain.redaction import BLUR_POWER, EditPlan, MediaShape, check_redactions
from recorder_sync.domain.replay import ClipRange, clip_time_text
from recorder_sync.io import processes

# Near-transparent re-encoding: a derived copy is looked at closely, in court too.
VIDEO_CODEC = {"vcodec": "libx264", "crf": "18", "preset": "fast", "pix_fmt": "yuv420p"}  # plays anywhere
WATERMARK_FONT = "DejaVu Sans"  # Debian's fonts-dejavu-core, found through fontconfig


@cache
def ffmpeg_version() -> str:
    try:
        out = processes.run(["ffmpeg", "-version"], capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise subprocess.CalledProcessError(out.returncode, out.args, out.stdout, out.stderr)
    except (OSError, subprocess.SubprocessError) as e:
        raise UsageError(f"ffmpeg is needed to cut clips: {e}") from None
    first = out.stdout.splitlines()[0] if out.stdout else "ffmpeg"
    return " ".join(first.split()[:3])  # "ffmpeg version 5.1.6-0+deb12u1"


class FfmpegClipper:
    """Implements ``Clipper``."""

    def __init__(self, prober: FfprobeProber | None = None) -> None:
        self.prober = prober or FfprobeProber()

    def derive(
        self, source: Path, target: Path, span: ClipRange, edits: EditPlan | None = None
    ) -> Derivation:
        if edits is not None and edits.asked.any:
            return self._redacted(source, target, span, edits)
        if span.start is None and span.end is None:
            shutil.copyfile(source, target)  # the whole recording: its exact bytes
            return Derivation(({"op": "copy"},), "copy")
        # "file:" keeps ffmpeg from reading a protocol or an option into a name
        stream = ffmpeg.input(f"file:{source}", **_seek(span)).output(
            f"file:{target}", c="copy", map="0", avoid_negative_ts="make_zero"
        )
        argv = _run(_argv(stream), source, target)
        return Derivation((_trim(span, "stream-copy"),), ffmpeg_version(), _shown(argv, source, target))

    def _redacted(self, source: Path, target: Path, span: ClipRange, plan: EditPlan) -> Derivation:
        # checked again on the very copy: the stored probe metadata may lack the picture size
        shape = MediaShape.of_probe(self.prober.probe(source))
        check_redactions(plan.asked, shape, span)
        src = ffmpeg.input(f"file:{source}", **_seek(span))
        outputs: list[Any] = []
        codecs: dict[str, str] = {}
        encode: dict[str, Any] = {"op": "encode"}
        if shape.picture:
            video = _watermarked(_blurred(src.video, plan), plan, shape)
            outputs.append(video)
            codecs |= VIDEO_CODEC
            encode["video"] = dict(VIDEO_CODEC)
        if plan.mutes:
            audio = src.audio
            for mute in plan.mutes:
                audio = audio.filter("volume", 0, enable=_between(mute.window_ms))
            outputs.append(audio)
            codecs["acodec"] = "pcm_s16le" if target.suffix.lower() == ".wav" else "aac"
        elif shape.sound:
            outputs.append(src["a"])
            codecs["acodec"] = "copy"
        encode["audio"] = codecs.get("acodec", "none")
        stream = ffmpeg.output(*outputs, f"file:{target}", **codecs)
        argv = _run(_argv(stream), source, target)
        operations = ([_trim(span, "re-encode")] if span.as_json() else []) + [*plan.operations, encode]
        graph = argv[argv.index("-filter_complex") + 1]
        return Derivation(tuple(operations), ffmpeg_version(), _shown(argv, source, target), graph)

    def stills(self, source: Path, frames: Sequence[tuple[timedelta, Path]]) -> Derivation:
        """One PNG per (time, path): the first frame at or after that time, seeking exactly
        (decoded from the key frame before it). The command is the same for each, but for AT
        and OUTPUT."""

        def command(at: str, out: str) -> list[str]:
            stream = ffmpeg.input(f"file:{source}", ss=at).output(
                f"file:{out}", map="0:v:0", vframes=1, vcodec="png", format="image2"
            )
            return _argv(stream)

        for at, path in frames:
            _run(command(f"{at.total_seconds():.3f}", str(path)), source, path)
            if not path.is_file() or path.stat().st_size == 0:
                path.unlink(missing_ok=True)
                raise ClipFailed(source.name, f"no frame at {clip_time_text(at)} (past the last one?)")
        shown = tuple(
            "INPUT" if a == f"file:{source}" else "OUTPUT" if a == "file:OUTPUT" else a
            for a in command("AT", "OUTPUT")
        )
        operation = {
            "op": "still",
            "format": "png",
            "frame": "the first at or after AT",
            "command": "AT: the time in seconds, OUTPUT: the frame's name",
        }
        return Derivation((operation,), ffmpeg_version(), shown)


def _seek(span: ClipRange) -> dict[str, str]:
    options: dict[str, str] = {}
    if span.start is not None:
        options["ss"] = f"{span.start.total_seconds():.3f}"
    if span.end is not None:
        options["to"] = f"{span.end.total_seconds():.3f}"
    return options


def _trim(span: ClipRange, mode: str) -> dict[str, str]:
    operation: dict[str, str] = {"op": "trim", "mode": mode}
    if span.start is not None:
        operation["from"] = clip_time_text(span.start)
    if span.end is not None:
        operation["to"] = clip_time_text(span.end)
    return operation


def _between(window_ms: tuple[int, int]) -> str:
    lo, hi = window_ms
    return f"between(t,{lo / 1000:.3f},{hi / 1000:.3f})"


def _blurred(video: Any, plan: EditPlan) -> Any:
    """Each region cut from the untouched picture, blurred, and laid back over it (in its time
    window only): overlapping regions stay blurred, whatever their order."""
    if not plan.blurs:
        return video
    parts = video.split()
    out = parts[0]
    for i, step in enumerate(plan.blurs, start=1):
        r = step.region
        # yuv444p: chroma as sharp as luma, so the colour planes are blurred with the same
        # radius (and an odd x or y is cropped exactly, not rounded to the chroma grid)
        piece = (
            parts[i]
            .crop(x=r.x, y=r.y, width=r.width, height=r.height, exact=1)
            .filter("format", "yuv444p")
            .filter(
                "boxblur",
                luma_radius=step.radius,
                luma_power=BLUR_POWER,
                chroma_radius=step.radius,
                chroma_power=BLUR_POWER,
            )
        )
        when = {} if step.window_ms is None else {"enable": _between(step.window_ms)}
        out = out.overlay(piece, x=r.x, y=r.y, **when)
    return out


def _watermarked(video: Any, plan: EditPlan, shape: MediaShape) -> Any:
    """The lines at the bottom right, on every frame: white on a see-through dark box, so that
    what lies under it (a camera's own burned-in time, often bottom left) stays legible."""
    size = max(10, (shape.height or 240) // 24)
    step = size * 3 // 2
    for k, line in enumerate(plan.watermark):
        from_bottom = len(plan.watermark) - k
        video = video.drawtext(
            text=line,
            x=f"w-tw-{size // 2}",
            y=f"h-{from_bottom * step + size // 2}",
            font=WATERMARK_FONT,
            fontsize=size,
            fontcolor="white@0.9",
            box=1,
            boxcolor="black@0.4",
            boxborderw=max(2, size // 5),
            escape_text=True,
        )
    return video


def _argv(stream: Any) -> list[str]:
    # -n: never over a file; the targets are fresh names in a private folder
    return [*stream.compile(), "-nostdin", "-loglevel", "error", "-n"]


def _run(argv: list[str], source: Path, target: Path) -> list[str]:
    done = processes.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        raise ClipFailed(source.name, (done.stderr.strip() or f"exit status {done.returncode}")[-500:])
    return argv


def _shown(argv: Sequence[str], source: Path, target: Path) -> tuple[str, ...]:
    return tuple(
        "INPUT" if a == f"file:{source}" else target.name if a == f"file:{target}" else a for a in argv
    )


class ExportFolder:
    """Implements ``ExportTarget``: files placed in the folder the person chose, never over an
    existing file."""

    def __init__(
        self, folder: Path, guarded: Mapping[str, Path] | None = None, option: str = "--out"
    ) -> None:
        """``guarded``: folders an export must not go into, by what they are (the vault, each
        dock): a clip written into a dock is taken for camera footage by the next ingest.
        ``option``: how the person named the folder, for the messages."""
        self.folder = folder
        self.guarded = dict(guarded or {})
        self.option = option

    def check(self, names: Sequence[str]) -> None:
        if not self.folder.is_dir():
            raise UsageError(f"{self.option} {self.folder}: not a folder")
        inside = self.folder.resolve()  # through symlinks: where the files would land
        for what, guarded in self.guarded.items():
            root = guarded.resolve()
            if inside == root or root in inside.parents:
                raise UsageError(
                    f"{self.option} {self.folder} is inside {what} ({guarded}): derived material must not "
                    "go where evidence is ingested or stored; choose a folder outside the docks and the vault"
                )
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise UsageError(f"{self.option} {self.folder}: cannot write there")
        for name in names:
            if (self.folder / name).exists() or (self.folder / name).is_symlink():
                raise UsageError(f"{self.folder / name} exists already; choose another --out folder")

    def place_all(self, files: Sequence[tuple[str, Path | bytes]]) -> list[Path]:
        """All the files, or none of them: each is written whole under a hidden temporary
        name (``.NAME.XXXX.partial``) and synced, and only then given its name, never over an
        existing file. Whatever fails on the way (a full disk, a name taken meanwhile, Ctrl-C
        or SIGTERM) removes what this call placed: a clip without its provenance, or a clip
        cut short under its final name, would look like a whole export."""
        written: list[tuple[Path, Path]] = []
        placed: list[Path] = []
        try:
            for name, source in files:
                written.append((self._written(name, source), self.folder / name))
            for temp, path in written:
                _name(temp, path)
                placed.append(path)
            _sync_folder(self.folder)
            return placed
        except OSError as e:  # a full disk, a folder gone read-only: the person's to fix
            _remove(placed)
            raise UsageError(f"cannot write the export in --out {self.folder}: {e.strerror or e}") from e
        except BaseException:
            _remove(placed)
            raise
        finally:
            for temp, _ in written:
                temp.unlink(missing_ok=True)

    def _written(self, name: str, source: Path | bytes) -> Path:
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=self.folder)
        try:
            os.fchmod(fd, 0o640)
            with os.fdopen(fd, "wb") as out:
                if isinstance(source, bytes):
                    out.write(source)
                else:
                    with open(source, "rb") as f:
                        shutil.copyfileobj(f, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return Path(temp)


def _remove(paths: Sequence[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


# file systems without hard links (FAT or exFAT on a USB stick): named by a rename instead
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}


def _name(temp: Path, path: Path) -> None:
    """``temp`` under the name ``path``, which must not exist (a hard link: atomic, and it
    never replaces a file; where the file system has none, a rename after a look)."""
    try:
        os.link(temp, path, follow_symlinks=False)
        return
    except FileExistsError:
        raise UsageError(f"{path} exists already; choose another --out folder") from None
    except OSError as e:
        if e.errno not in _NO_LINKS:
            raise
    if path.exists() or path.is_symlink():
        raise UsageError(f"{path} exists already; choose another --out folder")
    os.rename(temp, path)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems cannot sync a folder: the files themselves are synced
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)
