"""The multi-camera mosaic of an action, the pure part: which recordings, where each tile sits,
how long each waits before its footage starts, and what its label says.

Tiles are time-aligned on the clock-corrected times (``RecordingFacts.corrected_start``, the
times ``find`` and ``timeline`` show): the earliest recording starts at 0, every other waits
black for as long as it started later, and once its footage ends it is black again, so no
frozen last frame passes for live footage. The mosaic has no sound: several cameras' sound
mixed would mislead, and one camera's would suggest it is the only one that matters; a
supervisor who needs the sound plays that recording alone.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Protocol

from recorder_sync.domain.canonical import canonical_bytes
from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.model import Kind, Recording
from recorder_sync.domain.provenance import PROVENANCE_TYPE, Derivation, source_entry
from recorder_sync.domain.replay import FoundRecording, correction_text
from recorder_sync.domain.times import display, utc_iso

MAX_TILES = 16  # a 4 x 4 grid: more and a tile is too small to see what happens in it
MAX_TILE = (640, 480)  # the largest tile: the mosaic of 16 stays a size a screen shows whole
DEFAULT_TILE = (320, 240)  # for sources whose picture size was not probed


@dataclass(frozen=True)
class Tile:
    recording: Recording
    start: datetime  # clock-corrected
    offset: timedelta  # from the mosaic's start (the earliest tile's start)
    duration: timedelta | None  # None: not known, the tile then ends when its footage does
    tail: timedelta  # black after the footage, to the mosaic's end (0 when not known)
    x: int
    y: int
    label: str

    def as_json(self) -> dict[str, Any]:
        return {
            "recording_id": self.recording.id,
            "sha256": self.recording.sha256,
            "officer": self.recording.officer,
            "device": self.recording.device,
            "start": utc_iso(self.start),
            "offset_s": self.offset.total_seconds(),
            "x": self.x,
            "y": self.y,
            "label": self.label,
        }


@dataclass(frozen=True)
class LeftOut:
    """A recording of the action that is not in the mosaic, and why (said, never silently)."""

    recording_id: str
    why: str

    def as_json(self) -> dict[str, str]:
        return {"recording_id": self.recording_id, "why": self.why}


@dataclass(frozen=True)
class MosaicLayout:
    action_id: str
    tiles: tuple[Tile, ...]
    columns: int
    rows: int
    tile_width: int
    tile_height: int
    start: datetime
    length: timedelta | None  # None when some tile's duration is not known
    left_out: tuple[LeftOut, ...] = ()

    @property
    def width(self) -> int:
        return self.columns * self.tile_width

    @property
    def height(self) -> int:
        return self.rows * self.tile_height

    @property
    def recordings(self) -> tuple[Recording, ...]:
        return tuple(t.recording for t in self.tiles)

    def as_json(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "start": utc_iso(self.start),
            "length_s": None if self.length is None else self.length.total_seconds(),
            "grid": {"columns": self.columns, "rows": self.rows},
            "tile": {"width": self.tile_width, "height": self.tile_height},
            "audio": "none",
            "tiles": [t.as_json() for t in self.tiles],
            "left_out": [x.as_json() for x in self.left_out],
        }


class Mosaicker(Protocol):
    """Renders a layout from verified local copies into one video file."""

    def render(self, layout: MosaicLayout, sources: Mapping[str, Path], target: Path) -> Derivation:
        """``sources`` maps each tile's recording id to its verified copy."""
        ...


def grid(n: int) -> tuple[int, int]:
    """(columns, rows) of the most nearly square grid with room for ``n`` tiles, wider than tall."""
    if n < 1:
        raise ValueError("a grid needs at least one tile")
    columns = math.ceil(math.sqrt(n))
    return columns, math.ceil(n / columns)


def tile_size(recordings: Sequence[Recording]) -> tuple[int, int]:
    """The largest source picture (by area), fitted into ``MAX_TILE``, with even sides (the
    encoder's chroma needs them); ``DEFAULT_TILE`` when no picture size is known."""
    sizes = [
        (w, h)
        for w, h in ((r.media.get("width"), r.media.get("height")) for r in recordings)
        if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0
    ]
    if not sizes:
        return DEFAULT_TILE
    w, h = max(sizes, key=lambda s: s[0] * s[1])
    scale = min(1.0, MAX_TILE[0] / w, MAX_TILE[1] / h)
    return max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2)


def _shown(text: str | None, unknown: str) -> str:
    """Camera metadata as a label may show it: printable, one line, not too long."""
    if not text:
        return unknown
    clean = "".join(c if unicodedata.category(c)[0] not in "CZ" or c == " " else " " for c in text)
    clean = " ".join(clean.split())[:40]
    return clean or unknown


def tile_label(found: FoundRecording, start: datetime, zone: tzinfo) -> str:
    """``officer 031245 | DSJ-A1`` over ``2026-11-27 08:30:15+08:00`` (two lines: a small tile
    shows both), and the clock correction when there was one: the time shown is the corrected one."""
    rec = found.recording
    label = f"officer {_shown(rec.officer, '?')} | {_shown(rec.device, '?')}\n{display(start, zone)}"
    correction = correction_text(found.correction)
    if correction and found.correction:
        label += f" (clock {correction})"
    return label


def mosaic_layout(
    action_id: str, found: Sequence[FoundRecording], zone: tzinfo, *, max_tiles: int = MAX_TILES
) -> MosaicLayout:
    """The tiles of an action's mosaic: its stored video recordings that have a start time,
    earliest first (ties by officer, device, id); the others are left out with the reason.

    ``UsageError`` when no recording can be shown, or more than ``max_tiles`` could."""
    shown: list[tuple[FoundRecording, datetime]] = []
    left_out: list[LeftOut] = []
    for f in found:
        rec = f.recording
        start = f.facts.corrected_start
        if rec.kind is not Kind.VIDEO:
            left_out.append(LeftOut(rec.id, f"{rec.kind.value}, not video: play it alone"))
        elif rec.storage_uri is None:
            left_out.append(LeftOut(rec.id, f"not stored yet (state {rec.state.value})"))
        elif start is None:
            left_out.append(LeftOut(rec.id, "no start time: it cannot be placed on the action's time line"))
        else:
            shown.append((f, start))
    if not shown:
        why = "; ".join(f"{x.recording_id}: {x.why}" for x in left_out) or "no linked recording"
        raise UsageError(f"action {action_id} has no stored video to show side by side ({why})")
    if len(shown) > max_tiles:
        raise UsageError(
            f"action {action_id} has {len(shown)} videos; a mosaic shows at most {max_tiles}: "
            "play them in smaller groups (recorder-replay play REC)"
        )
    shown.sort(
        key=lambda p: (p[1], p[0].recording.officer or "", p[0].recording.device or "", p[0].recording.id)
    )
    first = shown[0][1]
    columns, rows = grid(len(shown))
    width, height = tile_size([f.recording for f, _ in shown])
    durations = [_duration(f, start) for f, start in shown]
    ends = [start - first + d for (_, start), d in zip(shown, durations, strict=True) if d is not None]
    length = max(ends) if len(ends) == len(shown) else None
    tiles = []
    for i, ((f, start), duration) in enumerate(zip(shown, durations, strict=True)):
        offset = start - first
        tail = length - offset - duration if length is not None and duration is not None else timedelta(0)
        tiles.append(
            Tile(
                recording=f.recording,
                start=start,
                offset=offset,
                duration=duration,
                tail=tail,
                x=(i % columns) * width,
                y=(i // columns) * height,
                label=tile_label(f, start, zone),
            )
        )
    return MosaicLayout(action_id, tuple(tiles), columns, rows, width, height, first, length, tuple(left_out))


def _duration(found: FoundRecording, start: datetime) -> timedelta | None:
    """How long the footage runs: the probed duration, else the corrected end's distance."""
    ms = found.recording.duration_ms
    if ms is not None and ms > 0:
        return timedelta(milliseconds=ms)
    end = found.facts.corrected_end
    return end - start if end is not None and end > start else None


def mosaic_name(action_id: str) -> str:
    """``mosaic_A1.mp4``: the action id, made safe for a file name."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in action_id)[:80]
    return f"mosaic_{safe or 'action'}.mp4"


def mosaic_provenance(
    *,
    layout: MosaicLayout,
    derivation: Derivation,
    output_name: str,
    output_sha256: str,
    output_size: int,
    actor: str,
    reason: str,
    at: datetime,
    station: str,
    key_id: str,
    access_seqs: Sequence[int],
) -> bytes:
    """The provenance of a mosaic, as an export's (``domain.provenance``) with every source,
    the layout (which tile is which recording, its offset and label) and every access event."""
    doc: dict[str, Any] = {
        "type": PROVENANCE_TYPE,
        "output": {"name": output_name, "sha256": output_sha256, "size": output_size},
        "sources": [source_entry(r) for r in layout.recordings],
        "operations": [dict(op) for op in derivation.operations],
        "tool": derivation.tool,
        "command": list(derivation.command),
        "layout": layout.as_json(),
        "exported_by": actor,
        "reason": reason,
        "exported_at": utc_iso(at),
        "access_seqs": list(access_seqs),  # the custody events that logged it before it was made
        # the first of them: the one the ``derived`` event of a stored mosaic names
        "access_seq": access_seqs[0],
        "station": station,
        "key_id": key_id,
    }
    return canonical_bytes(doc)
