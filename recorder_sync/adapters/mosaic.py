"""The mosaic of an action rendered with ffmpeg (``ffmpeg-python`` builds the filter graph).

Each tile: its verified copy's video, timestamps from 0 (``setpts``), scaled into the tile
keeping its aspect (black bars), ``tpad`` black before it (its offset from the earliest
start) and after it (to the mosaic's end), then labelled (``drawtext``: officer, device,
corrected start) over the whole length, the black too, so a waiting tile says whose it is.
``xstack`` puts the tiles on the grid. No sound (see ``domain.mosaic``).

The command run is recorded in the provenance with each private path replaced by the
recording it is a verified copy of.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import ffmpeg

from recorder_sync.adapters.clips import ffmpeg_version
from recorder_sync.domain.errors import ClipFailed
from recorder_sync.domain.mosaic import MosaicLayout, Tile
from recorder_sync.domain.provenance import Derivation
from recorder_sync.io import processes


def _seconds(t: Any) -> str:
    return f"{t.total_seconds():.3f}"


def _tile(tile: Tile, source: Path, width: int, height: int) -> Any:
    # "file:" keeps ffmpeg from reading a protocol or an option into a name
    v = ffmpeg.input(f"file:{source}").video
    v = v.filter("setpts", "PTS-STARTPTS")
    v = v.filter("scale", width, height, force_original_aspect_ratio="decrease")
    v = v.filter("pad", width, height, "(ow-iw)/2", "(oh-ih)/2", color="black")
    v = v.filter("setsar", "1")
    pad: dict[str, str] = {}
    if tile.offset.total_seconds() > 0:
        pad |= {"start_duration": _seconds(tile.offset), "start_mode": "add"}
    if tile.tail.total_seconds() > 0:
        pad |= {"stop_duration": _seconds(tile.tail), "stop_mode": "add"}
    if pad:
        v = v.filter("tpad", color="black", **pad)
    return v.drawtext(
        text=tile.label,
        expansion="none",  # camera metadata is text, never a %{...} to expand
        x=4,
        y=4,
        fontsize=max(10, height // 18),
        fontcolor="white",
        box=1,
        boxcolor="black@0.6",
        boxborderw=3,
    )


def mosaic_graph(layout: MosaicLayout, sources: Mapping[str, Path], target: Path) -> Any:
    """The ffmpeg-python output node of the mosaic (not run)."""
    w, h = layout.tile_width, layout.tile_height
    tiles = [_tile(t, sources[t.recording.id], w, h) for t in layout.tiles]
    if len(tiles) == 1:
        video = tiles[0]
    else:
        places = "|".join(f"{t.x}_{t.y}" for t in layout.tiles)
        video = ffmpeg.filter(tiles, "xstack", inputs=len(tiles), layout=places, fill="black")
    return ffmpeg.output(
        video,
        f"file:{target}",
        vcodec="libx264",
        preset="veryfast",
        pix_fmt="yuv420p",
        movflags="+faststart",
        an=None,
        f="mp4",
    )


Progress = Callable[[timedelta, timedelta | None], None]
"""(mosaic time made so far, the mosaic's length when known): rendering a long action takes a while."""


class FfmpegMosaic:
    """Implements ``Mosaicker``."""

    def __init__(self, progress: Progress | None = None) -> None:
        self.progress = progress

    def render(self, layout: MosaicLayout, sources: Mapping[str, Path], target: Path) -> Derivation:
        try:
            compiled: list[str] = mosaic_graph(layout, sources, target).compile()
        except ValueError as e:  # ffmpeg-python refuses a graph (two tiles of one file, say)
            raise ClipFailed(f"the mosaic of action {layout.action_id}", str(e)) from e
        argv: list[str] = [
            *compiled,
            "-nostdin",
            "-loglevel",
            "error",
            "-y",  # over the empty private file made just now, which keeps its mode
        ]
        # the mosaic shows evidence: only its owner may read it, from the first byte written
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.close(fd)
        try:
            status, stderr = self._run(argv, layout.length)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        if status != 0:
            target.unlink(missing_ok=True)
            problem = (stderr.strip() or f"exit status {status}")[-500:]
            raise ClipFailed(f"the mosaic of action {layout.action_id}", problem)
        names = {f"file:{sources[t.recording.id]}": f"INPUT:{t.recording.id}" for t in layout.tiles}
        names[f"file:{target}"] = target.name
        shown = tuple(names.get(a, a) for a in argv)
        graph = shown[shown.index("-filter_complex") + 1] if "-filter_complex" in shown else ""
        operation: dict[str, Any] = {
            "op": "mosaic",
            "action_id": layout.action_id,
            "grid": f"{layout.columns}x{layout.rows}",
            "tile": f"{layout.tile_width}x{layout.tile_height}",
            "audio": "none",
            "filter_graph": graph,
        }
        return Derivation((operation,), ffmpeg_version(), shown)

    def _run(self, argv: list[str], length: timedelta | None) -> tuple[int, str]:
        """ffmpeg's exit status and error output; its progress reported on the way (the
        command recorded in the provenance is ``argv``, without the progress options)."""
        progress = self.progress
        if progress is not None:
            argv = [*argv, "-progress", "pipe:1", "-nostats"]
        with tempfile.TemporaryFile() as err:
            proc = processes.started(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if progress is not None else subprocess.DEVNULL,
                stderr=err,
            )
            try:
                if proc.stdout is not None and progress is not None:
                    for line in proc.stdout:
                        key, _, value = line.strip().partition(b"=")
                        if key == b"out_time_us" and value.isdigit():
                            progress(timedelta(microseconds=int(value)), length)
                status = proc.wait(timeout=6 * 3600)
            except BaseException:  # a stop request, a timeout: ffmpeg must not run on
                proc.kill()
                proc.wait()
                raise
            finally:
                if proc.stdout is not None:
                    proc.stdout.close()
            err.seek(0)
            return status, err.read().decode("utf-8", errors="replace")
