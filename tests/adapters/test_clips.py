"""Redacted exports and still frames made by the real ffmpeg, checked on their pixels and sound.

The source is ``testsrc2`` (busy colour patterns, 320x240, 10 frames/s, its running time in
figures at the top left) with an 880 Hz tone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sample_dock
from mediacheck import Picture, mad, mad_outside, max_volume, pictures, sharpness

from recorder_sync.adapters.clips import FfmpegClipper
from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.redaction import Redactions, parse_blur, parse_mute, plan_edits
from recorder_sync.domain.replay import ClipRange

W, H, FPS = 320, 240, 10
REGION = (0, 0, 104, 40)  # x, y, width, height: testsrc2's running time, in figures
START = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
WHOLE = ClipRange()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("src") / "source.mp4"
    sample_dock.make_video(path, start=START, seconds=6.0, size=(W, H), fps=FPS)
    return path


def frames(path: Path) -> list[Picture]:
    return pictures(path, W, H)


def derive(
    source: Path,
    target: Path,
    span: ClipRange = WHOLE,
    blurs: Sequence[str] = (),
    mutes: Sequence[str] = (),
    watermark: Sequence[str] = (),
) -> dict[str, object]:
    asked = Redactions(
        tuple(parse_blur(b) for b in blurs), tuple(parse_mute(m) for m in mutes), bool(watermark)
    )
    derivation = FfmpegClipper().derive(source, target, span, plan_edits(asked, span, watermark))
    return {
        "operations": list(derivation.operations),
        "tool": derivation.tool,
        "command": list(derivation.command),
        "graph": derivation.filter_graph,
    }


def test_a_blur_changes_the_region_only_and_only_in_its_time_range(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "blurred.mp4"
    made = derive(source, target, blurs=["0,0,104,40@00:00:02-00:00:04"])
    before, after = frames(source), frames(target)
    assert len(after) == len(before) == 60
    during, outside_time = [21, 25, 30, 35, 39], [0, 5, 15, 19, 41, 45, 55]
    changed = [mad(before[n], after[n], REGION) for n in during]
    kept = [mad(before[n], after[n], REGION) for n in outside_time]
    assert min(changed) > 4 * max(kept) and max(kept) < 8, (changed, kept)
    for n in during:
        # the rest of the picture is only re-encoded
        assert mad(before[n], after[n], REGION) > 8 * mad_outside(before[n], after[n], REGION)
        # blurred beyond reading: the figures' edges are gone
        assert sharpness(after[n], REGION) < sharpness(before[n], REGION) / 5
    for n in outside_time:
        assert sharpness(after[n], REGION) > sharpness(before[n], REGION) * 0.7
    # the exact graph that ran is the one in the command, and says what it did
    command = made["command"]
    assert isinstance(command, list) and command[command.index("-filter_complex") + 1] == made["graph"]
    assert "crop=104:40:0:0" in str(made["graph"]) and "boxblur" in str(made["graph"])
    assert "between(t\\,2.000\\,4.000)" in str(made["graph"])
    assert str(made["tool"]).startswith("ffmpeg version") and "INPUT" in command
    assert not [a for a in command if str(tmp_path) in a or str(source) in a]
    ops = made["operations"]
    assert isinstance(ops, list) and ops[0]["op"] == "blur"
    assert ops[0]["region"] == {"x": 0, "y": 0, "width": 104, "height": 40}
    assert ops[-1] == {
        "op": "encode",
        "video": {"vcodec": "libx264", "crf": "18", "preset": "fast", "pix_fmt": "yuv420p"},
        "audio": "copy",
    }


def test_blur_times_of_a_trimmed_export_are_on_the_recordings_clock(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "trimmed.mp4"
    span = ClipRange(timedelta(seconds=1), timedelta(seconds=5))
    made = derive(source, target, span, blurs=["0,0,104,40@2-4"])
    before, after = frames(source), frames(target)
    assert len(after) == 40  # 1 s to 5 s
    # clip frame n is the recording's frame n + 10: blurred from 2 s to 4 s of the recording
    changed = [mad(before[n + 10], after[n], REGION) for n in (11, 15, 20, 25, 29)]
    kept = [mad(before[n + 10], after[n], REGION) for n in (0, 3, 9, 31, 33, 39)]
    assert min(changed) > 4 * max(kept) and max(kept) < 8, (changed, kept)
    assert "between(t\\,1.000\\,3.000)" in str(made["graph"])
    ops = made["operations"]
    assert isinstance(ops, list)
    assert ops[0] == {"op": "trim", "mode": "re-encode", "from": "00:00:01", "to": "00:00:05"}
    assert ops[1]["from"] == "00:00:02" and ops[1]["output_window_ms"] == [1000, 3000]


def test_a_muted_span_is_silent_and_the_rest_is_not(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "muted.mp4"
    made = derive(source, target, mutes=["2-4"])
    assert max_volume(target, 2.2, 1.6) < -80
    assert max_volume(target, 0.5, 1.0) > -30 and max_volume(target, 4.5, 1.0) > -30
    assert max_volume(source, 2.2, 1.6) > -30
    # the picture is re-encoded, not altered
    before, after = frames(source), frames(target)
    assert max(mad(before[n], after[n]) for n in (5, 30, 55)) < 4
    ops = made["operations"]
    assert isinstance(ops, list) and ops[0]["op"] == "mute" and ops[-1]["audio"] == "aac"


def test_the_watermark_is_drawn_on_every_frame_and_nothing_else_changes(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "marked.mp4"
    lines = ("exported by chen@station-1", "2026-11-30 05:06:07 UTC, access event 12")
    made = derive(source, target, watermark=lines)
    before, after = frames(source), frames(target)
    strip = (W - 200, H - 40, 200, 36)  # where the two lines are drawn, bottom right
    top = (0, 60, W, 100)
    for n in (0, 20, 40, 59):
        assert mad(before[n], after[n], strip) > 20, n
        assert mad(before[n], after[n], top) < 4, n
    ops = made["operations"]
    assert isinstance(ops, list)
    assert {"op": "watermark", "text": "\n".join(lines), "filter": "drawtext"} in ops
    assert "drawtext" in str(made["graph"]) and "chen@station-1" in str(made["graph"])


def test_a_region_outside_the_picture_is_refused_on_the_copy_itself(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "never.mp4"
    with pytest.raises(UsageError, match="not inside the 320x240 picture"):
        derive(source, target, blurs=["300,200,40,40@1-2"])
    assert not target.exists()


def test_stills_are_the_frames_shown_at_their_times(source: Path, tmp_path: Path) -> None:
    # frames are 0.1 s apart: at 2.55 s, the next one (2.6 s)
    wanted = {0: 0, 2.5: 25, 2.55: 26, 5.9: 59}
    paths = [(timedelta(seconds=s), tmp_path / f"f{s}.png") for s in wanted]
    derivation = FfmpegClipper().stills(source, paths)
    every = frames(source)
    for (at, path), n in zip(paths, wanted.values(), strict=True):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        [still] = frames(path)
        assert still == every[n], at  # lossless: the very frame
    assert derivation.command[derivation.command.index("-ss") + 1] == "AT"
    assert "INPUT" in derivation.command and derivation.command[-5] == "OUTPUT"
    with pytest.raises(Exception, match="no frame at 00:00:07"):
        FfmpegClipper().stills(source, [(timedelta(seconds=7), tmp_path / "late.png")])


def test_a_voice_recording_is_muted_into_a_wav_of_the_same_kind(tmp_path: Path) -> None:
    wav = tmp_path / "voice.wav"
    sample_dock.make_audio(wav, start=START, seconds=4.0)
    target = tmp_path / "muted.wav"
    made = derive(wav, target, mutes=["1-2"])
    assert max_volume(target, 1.1, 0.8) < -80 and max_volume(target, 2.2, 1.0) > -30
    ops = made["operations"]
    assert isinstance(ops, list) and ops[-1] == {"op": "encode", "audio": "pcm_s16le"}
    with pytest.raises(UsageError, match="--blur: this recording has no moving picture"):
        derive(wav, tmp_path / "never.wav", blurs=["0,0,8,8"])
