"""The mosaic adapter against the real ffmpeg: labels made of hostile camera metadata reach
the picture as text (never as filter-graph syntax), and one tile needs no grid."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recorder_sync.adapters.mosaic import FfmpegMosaic
from recorder_sync.domain.errors import ClipFailed
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.model import Kind, Recording, RecordingState
from recorder_sync.domain.mosaic import mosaic_layout
from recorder_sync.domain.replay import FoundRecording

T0 = datetime(2026, 11, 27, 0, 30, 15, tzinfo=UTC)
HOSTILE = "x'y\\z:1;[a],b%{pts}=c"


def clip(path: Path, colour: str) -> Path:
    args = [
        "ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", f"color=c={colour}:s=96x64:r=4:d=2",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    return path


def found(n: int, device: str, offset: float) -> FoundRecording:
    start = T0 + timedelta(seconds=offset)
    rec = Recording(
        id=f"rec-{n}",
        sha256=f"{n:064x}",
        size=1,
        kind=Kind.VIDEO,
        state=RecordingState.VERIFIED,
        station="st",
        dock="d",
        original_name="a.mp4",
        ingested_at=T0,
        device=device,
        officer=f"00{n}",
        start=start,
        duration_ms=2000,
        media={"width": 96, "height": 64},
        storage_uri="vault://x",
    )
    return FoundRecording(rec, RecordingFacts(rec.id, rec.device, rec.officer, rec.start, None))


def frames(path: Path) -> int:
    args = [
        "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
        "-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0", str(path),
    ]  # fmt: skip
    out = subprocess.run(
        args,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    width, height, count = out.split(",")
    assert (int(width), int(height)) == (192, 64) or (int(width), int(height)) == (96, 64)
    return int(count)


def test_hostile_metadata_in_a_label_is_text_and_the_graph_still_runs(tmp_path: Path) -> None:
    layout = mosaic_layout("A1", [found(1, HOSTILE, 0), found(2, "DSJ-B2", 1)], UTC)
    sources = {"rec-1": clip(tmp_path / "a.mp4", "red"), "rec-2": clip(tmp_path / "b.mp4", "blue")}
    target = tmp_path / "mosaic.mp4"
    derivation = FfmpegMosaic().render(layout, sources, target)
    assert frames(target) > 0
    assert target.stat().st_mode & 0o777 == 0o600
    [op] = derivation.operations
    assert op["grid"] == "2x1" and "xstack" in op["filter_graph"] and "expansion=none" in op["filter_graph"]
    # every input is named by the recording it is a verified copy of, never by its private path
    assert [a for a in derivation.command if a.startswith("INPUT:")] == ["INPUT:rec-1", "INPUT:rec-2"]
    assert not [a for a in derivation.command if str(tmp_path) in a]


def test_one_tile_is_the_recording_alone_labelled_and_its_making_reported(tmp_path: Path) -> None:
    layout = mosaic_layout("A1", [found(1, "DSJ-A1", 0)], UTC)
    target = tmp_path / "mosaic.mp4"
    seen: list[tuple[timedelta, timedelta | None]] = []
    mosaic = FfmpegMosaic(lambda done, length: seen.append((done, length)))
    derivation = mosaic.render(layout, {"rec-1": clip(tmp_path / "a.mp4", "red")}, target)
    assert seen and all(length == timedelta(seconds=2) for _, length in seen)
    assert seen[-1][0] >= timedelta(seconds=1) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert "-progress" not in derivation.command, "the provenance records the mosaic's command alone"
    assert frames(target) > 0 and "xstack" not in derivation.operations[0]["filter_graph"]
    assert "drawtext" in derivation.operations[0]["filter_graph"]


def test_a_graph_ffmpeg_python_refuses_is_a_clip_failure(tmp_path: Path) -> None:
    layout = mosaic_layout("A1", [found(1, "DSJ-A1", 0), found(2, "DSJ-B2", 0)], UTC)
    same = clip(tmp_path / "a.mp4", "red")
    with pytest.raises(ClipFailed, match="mosaic of action A1"):
        FfmpegMosaic().render(layout, {"rec-1": same, "rec-2": same}, tmp_path / "mosaic.mp4")
    assert not (tmp_path / "mosaic.mp4").exists()
