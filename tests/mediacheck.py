"""Looking at media as a person would, with the real ffmpeg: decoded pictures compared pixel
by pixel, and how loud a stretch of sound is.

A re-encode changes every pixel a little, so "unchanged" means a small mean absolute
difference against the source, and "changed" one many times larger.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

Box = tuple[int, int, int, int]  # x, y, width, height


@dataclass(frozen=True)
class Picture:
    """One decoded frame, rgb24, row after row."""

    data: bytes
    width: int
    height: int

    def rows(self, box: Box) -> list[bytes]:
        x, y, w, h = box
        return [self.data[(r * self.width + x) * 3 : (r * self.width + x + w) * 3] for r in range(y, y + h)]


def pictures(path: Path, width: int, height: int) -> list[Picture]:
    """Every frame of ``path`` (a video, or one PNG), decoded to rgb24."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    size = width * height * 3
    assert raw and len(raw) % size == 0, (path, len(raw))
    return [Picture(raw[i : i + size], width, height) for i in range(0, len(raw), size)]


def mad(a: Picture, b: Picture, box: Box | None = None) -> float:
    """Mean absolute difference of two pictures over ``box`` (the whole picture by default)."""
    box = box or (0, 0, a.width, a.height)
    pairs = zip(a.rows(box), b.rows(box), strict=True)
    total = sum(sum(abs(p - q) for p, q in zip(la, lb, strict=True)) for la, lb in pairs)
    return total / (box[2] * box[3] * 3)


def mad_outside(a: Picture, b: Picture, box: Box) -> float:
    """The same over the whole picture but ``box`` and a margin of 4 px around it (which the
    encoder blends with the box's new content)."""
    x, y, w, h = box
    width, height = a.width, a.height
    above, below = (0, 0, width, y - 4), (0, y + h + 4, width, height - y - h - 4)
    left, right = (0, y, x - 4, h), (x + w + 4, y, width - x - w - 4, h)
    parts = [p for p in (above, below, left, right) if p[2] > 0 and p[3] > 0]
    area = sum(p[2] * p[3] for p in parts)
    return sum(mad(a, b, p) * p[2] * p[3] for p in parts) / area


def sharpness(picture: Picture, box: Box) -> float:
    """Mean absolute difference between horizontal neighbours: edges, letters, features."""
    lines = picture.rows(box)
    steps = sum(sum(abs(line[i] - line[i + 3]) for i in range(len(line) - 3)) for line in lines)
    return steps / (len(lines) * (len(lines[0]) - 3))


def max_volume(path: Path, start: float, seconds: float) -> float:
    """The loudest sample (dB) from ``start`` for ``seconds``; -91 dB or less is digital silence."""
    out = subprocess.run(
        [
            *("ffmpeg", "-v", "info", "-ss", f"{start}", "-t", f"{seconds}", "-i", str(path)),
            *("-vn", "-af", "volumedetect", "-f", "null", "-"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    m = re.search(r"max_volume: (-?[\d.]+|-inf) dB", out)
    assert m is not None, out
    return float("-inf") if m.group(1) == "-inf" else float(m.group(1))
