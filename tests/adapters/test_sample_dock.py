"""scripts/sample_dock.py makes what it promises, checked with the real ffprobe."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import sample_dock  # noqa: E402
from sample_dock import SampleFile  # noqa: E402

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs the ffmpeg and ffprobe binaries",
)

# The two naming profiles, written from the spec (not imported from the script).
DEFAULT_RE = re.compile(
    r"^(?P<device>[A-Za-z0-9-]+)_(?P<officer>\d+)_(?P<stamp>\d{14})_(?P<seq>\d{4})(?P<imp>_IMP)?"
    r"\.(?P<ext>[A-Za-z0-9]+)$"
)
FOLDERS_RE = re.compile(
    r"^(?P<device>[A-Za-z0-9-]+)/(?P<date>\d{8})/(?P<officer>\d+)_(?P<time>\d{6})_(?P<seq>\d{4})"
    r"(?P<imp>_IMP)?\.(?P<ext>[A-Za-z0-9]+)$"
)
TOLERANCE = 0.2


def ffprobe(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = ["ffprobe", "-v", "error", "-show_format", "-show_streams", *extra, "-of", "json"]
    return subprocess.run([*cmd, f"file:{path}"], capture_output=True, text=True, check=False, timeout=30)


def probe_ok(path: Path, *extra: str) -> dict[str, Any]:
    proc = ffprobe(path, *extra)
    assert proc.returncode == 0, proc.stderr
    info: dict[str, Any] = json.loads(proc.stdout)
    return info


def codecs(info: dict[str, Any]) -> dict[str, str]:
    return {s["codec_type"]: s["codec_name"] for s in info["streams"]}


@pytest.fixture(scope="module")
def dock(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SampleFile]]:
    dest = tmp_path_factory.mktemp("sample") / "dock"
    return dest, sample_dock.build_sample_dock(dest)


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    dest = tmp_path_factory.mktemp("bad") / "dock"
    return dest, sample_dock.build_bad_cases(dest)


def of_kind(files: list[SampleFile], kind: str) -> list[SampleFile]:
    return [f for f in files if f.kind == kind]


# --------------------------------------------------------------------------- sample dock


def test_the_dock_has_the_promised_mix(dock: tuple[Path, list[SampleFile]]) -> None:
    _, files = dock
    default_mp4 = [f for f in of_kind(files, "video") if f.profile == "default"]
    assert len({f.device for f in files}) >= 3
    assert len({f.officer for f in files}) >= 3
    assert len(default_mp4) >= 6
    assert any(f.important for f in default_mp4)
    assert len([f for f in files if f.sidecar]) == 1
    assert [f.relpath.rsplit(".", 1)[1] for f in of_kind(files, "audio")] == ["WAV"]
    assert [f.relpath.rsplit(".", 1)[1] for f in of_kind(files, "photo")] == ["JPG"]
    assert len([f for f in files if f.profile == "folders" and f.kind == "video"]) == 2
    assert all(f.start.tzinfo is not None for f in files)


def test_exactly_the_listed_files_are_on_disk(dock: tuple[Path, list[SampleFile]]) -> None:
    dest, files = dock
    expected = {f.relpath for f in files} | {f.sidecar for f in files if f.sidecar}
    on_disk = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert on_disk == expected


def test_consecutive_clips_from_one_device(dock: tuple[Path, list[SampleFile]]) -> None:
    _, files = dock
    clips = of_kind(files, "video")
    chained = [
        (a, b)
        for a in clips
        for b in clips
        if a.device == b.device and b.seq == a.seq + 1 and b.start == a.start + timedelta(seconds=a.seconds)
    ]
    assert chained, "no clip starts right when the previous one of its device ends"


def test_names_follow_the_profiles(dock: tuple[Path, list[SampleFile]]) -> None:
    _, files = dock
    for f in files:
        if f.profile == "default":
            m = DEFAULT_RE.match(f.relpath)
            assert m, f.relpath
            assert m["stamp"] == f.start.strftime("%Y%m%d%H%M%S")
        else:
            m = FOLDERS_RE.match(f.relpath)
            assert m, f.relpath
            assert (m["date"], m["time"]) == (f.start.strftime("%Y%m%d"), f.start.strftime("%H%M%S"))
        assert (m["device"], m["officer"], int(m["seq"])) == (f.device, f.officer, f.seq)
        assert bool(m["imp"]) == f.important
        assert f.start.utcoffset() == timedelta(hours=8)  # Asia/Shanghai, naive local in names


def test_sidecar_matches_its_clip(dock: tuple[Path, list[SampleFile]]) -> None:
    dest, files = dock
    (clip,) = [f for f in files if f.sidecar]
    assert clip.sidecar == clip.relpath.rsplit(".", 1)[0] + ".json"
    doc = json.loads((dest / clip.sidecar).read_text(encoding="utf-8"))
    assert doc == {
        "device": clip.device,
        "officer": clip.officer,
        "start": clip.start.isoformat(),
        "end": (clip.start + timedelta(seconds=clip.seconds)).isoformat(),
        "important": clip.important,
    }
    assert doc["start"].endswith("+08:00")


def test_clips_are_h264_aac_with_the_expected_duration(dock: tuple[Path, list[SampleFile]]) -> None:
    dest, files = dock
    for f in of_kind(files, "video"):
        info = probe_ok(dest / f.relpath)
        assert codecs(info) == {"video": "h264", "audio": "aac"}, f.relpath
        assert abs(float(info["format"]["duration"]) - f.seconds) <= TOLERANCE, f.relpath


def test_creation_time_is_the_start_in_utc(dock: tuple[Path, list[SampleFile]]) -> None:
    dest, files = dock
    for f in of_kind(files, "video"):
        tag = probe_ok(dest / f.relpath)["format"]["tags"]["creation_time"]
        assert tag.endswith("Z"), tag
        assert datetime.fromisoformat(tag) == f.start.astimezone(UTC), f.relpath


def test_wav_is_pcm_s16le_with_local_origination(dock: tuple[Path, list[SampleFile]]) -> None:
    dest, files = dock
    (wav,) = of_kind(files, "audio")
    info = probe_ok(dest / wav.relpath)
    assert codecs(info) == {"audio": "pcm_s16le"}
    assert abs(float(info["format"]["duration"]) - wav.seconds) <= TOLERANCE
    tags = info["format"]["tags"]  # the bext chunk: local date and time
    assert (tags["date"], tags["creation_time"]) == (f"{wav.start:%Y-%m-%d}", f"{wav.start:%H:%M:%S}")


def test_jpeg_is_mjpeg_with_exif_time(dock: tuple[Path, list[SampleFile]]) -> None:
    dest, files = dock
    (photo,) = of_kind(files, "photo")
    info = probe_ok(dest / photo.relpath, "-show_frames")
    assert codecs(info) == {"video": "mjpeg"}
    tags = info["frames"][0].get("tags", {})
    assert tags.get("DateTimeOriginal") == f"{photo.start:%Y:%m:%d %H:%M:%S}"


def test_plan_is_deterministic_and_is_what_was_built(dock: tuple[Path, list[SampleFile]]) -> None:
    _, files = dock
    assert sample_dock.sample_plan() == sample_dock.sample_plan() == files


def test_make_video_is_bit_identical_run_to_run(tmp_path: Path) -> None:
    start = datetime(2026, 11, 27, 8, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    for name in ("a.mp4", "b.mp4"):
        sample_dock.make_video(tmp_path / name, start=start, seconds=1, label="same")
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_make_video_without_creation_time_and_naive_start(tmp_path: Path) -> None:
    start = datetime(2026, 11, 27, 8, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    sample_dock.make_video(tmp_path / "c.mp4", start=start, seconds=1, creation_time=False)
    assert "creation_time" not in probe_ok(tmp_path / "c.mp4")["format"].get("tags", {})
    with pytest.raises(ValueError):
        sample_dock.make_video(tmp_path / "d.mp4", start=start.replace(tzinfo=None), seconds=1)


# --------------------------------------------------------------------------- bad cases


def test_bad_case_names(bad: tuple[Path, dict[str, Path]]) -> None:
    dest, cases = bad
    assert set(cases) == {
        "truncated_mp4",
        "zero_byte",
        "random_mp4",
        "spaces_name",
        "chinese_name",
        "newline_name",
        "symlink_out",
        "duplicate_a",
        "duplicate_b",
        "unknown_ext",
    }
    for path in cases.values():
        assert path.parent == dest
        assert path.is_symlink() or path.is_file()
    assert " " in cases["spaces_name"].name
    assert re.search(r"[\u4e00-\u9fff]", cases["chinese_name"].name)
    assert "\n" in cases["newline_name"].name
    assert cases["unknown_ext"].suffix == ".bin" and cases["unknown_ext"].stat().st_size > 0
    for name in ("zero_byte", "random_mp4", "duplicate_a", "duplicate_b"):
        assert DEFAULT_RE.match(cases[name].name), name


def test_broken_media_fails_ffprobe(bad: tuple[Path, dict[str, Path]]) -> None:
    _, cases = bad
    assert cases["zero_byte"].stat().st_size == 0
    assert cases["random_mp4"].suffix == ".mp4"
    for name in ("truncated_mp4", "random_mp4", "zero_byte"):
        assert ffprobe(cases[name]).returncode != 0, name


def test_truncated_is_a_cut_valid_clip(bad: tuple[Path, dict[str, Path]]) -> None:
    _, cases = bad
    head = cases["truncated_mp4"].read_bytes()[:12]
    assert head[4:8] == b"ftyp"  # an MP4 start, the moov atom at the end is gone


def test_odd_names_hold_valid_video(bad: tuple[Path, dict[str, Path]]) -> None:
    _, cases = bad
    for name in ("spaces_name", "chinese_name", "newline_name", "duplicate_a"):
        assert codecs(probe_ok(cases[name]))["video"] == "h264", name


def test_symlink_points_outside_the_dock(bad: tuple[Path, dict[str, Path]]) -> None:
    dest, cases = bad
    link = cases["symlink_out"]
    assert link.is_symlink()
    target = link.resolve(strict=True)
    assert target.is_file()
    assert not target.is_relative_to(dest.resolve())
    assert target.parent == (dest.parent / f"{dest.name}.outside").resolve()


def test_duplicates_share_bytes_under_two_names(bad: tuple[Path, dict[str, Path]]) -> None:
    _, cases = bad
    a, b = cases["duplicate_a"], cases["duplicate_b"]
    assert a.name != b.name
    assert a.read_bytes() == b.read_bytes()


def test_write_slowly_grows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "copying.MP4"
    data = os.urandom(10_000)
    thread = sample_dock.write_slowly(path, data, chunk=1_000, delay=0.03)
    seen_partial = False
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else 0
        seen_partial = seen_partial or 0 < size < len(data)
        time.sleep(0.005)
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert seen_partial
    assert path.read_bytes() == data
