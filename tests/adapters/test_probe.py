"""FfprobeProber against the real ffprobe, on media made here with the real ffmpeg."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recorder_sync.adapters.probe import FfprobeProber
from recorder_sync.domain.errors import CouldNotCheck, SourceUnavailable
from recorder_sync.domain.model import Kind, kind_from_name

CREATED = datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True, timeout=120)


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("media")
    src = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-f", "lavfi", "-i", "sine=frequency=440"]
    ffmpeg(
        *src,
        "-t",
        "2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-metadata",
        "creation_time=2024-05-01T12:34:56Z",
        d / "video.mp4",
    )
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440", "-t", "1", d / "audio.wav")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120", "-frames:v", "1", d / "photo.jpg")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120", "-frames:v", "1", d / "photo.png")
    # An MP3 with cover art: the picture is an attached_pic stream, not video.
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-i",
        d / "photo.jpg",
        "-t",
        "1",
        "-map",
        "0:a",
        "-map",
        "1:v",
        "-c:a",
        "libmp3lame",
        "-c:v",
        "copy",
        "-disposition:v",
        "attached_pic",
        d / "song.mp3",
    )
    return d


@pytest.fixture(scope="module")
def prober() -> FfprobeProber:
    return FfprobeProber()


def test_h264_aac_mp4_is_video_with_codecs_duration_and_creation_time(
    prober: FfprobeProber, media: Path
) -> None:
    r = prober.probe(media / "video.mp4")
    assert r.readable, r.error
    assert r.kind is Kind.VIDEO
    assert r.codecs == ("h264", "aac")
    assert r.duration_ms is not None and abs(r.duration_ms - 2000) <= 100
    assert r.creation_time == CREATED
    assert r.creation_time is not None and r.creation_time.utcoffset() is not None
    assert (r.width, r.height) == (160, 120)
    assert r.format_name is not None and "mp4" in r.format_name.split(",")
    assert r.tags["major_brand"] == "isom"
    assert r.error is None


def test_wav_is_audio(prober: FfprobeProber, media: Path) -> None:
    r = prober.probe(media / "audio.wav")
    assert r.readable and r.kind is Kind.AUDIO
    assert r.codecs == ("pcm_s16le",)
    assert r.duration_ms is not None and abs(r.duration_ms - 1000) <= 50
    assert r.width is None and r.height is None
    assert r.creation_time is None


@pytest.mark.parametrize(("name", "codec"), [("photo.jpg", "mjpeg"), ("photo.png", "png")])
def test_still_images_are_photos(prober: FfprobeProber, media: Path, name: str, codec: str) -> None:
    r = prober.probe(media / name)
    assert r.readable and r.kind is Kind.PHOTO
    assert r.codecs == (codec,)
    assert (r.width, r.height) == (160, 120)
    assert r.duration_ms is None


def test_cover_art_does_not_make_audio_a_video(prober: FfprobeProber, media: Path) -> None:
    r = prober.probe(media / "song.mp3")
    assert r.readable and r.kind is Kind.AUDIO
    assert r.codecs == ("mp3",)
    assert r.width is None


def _one_line_reason(reason: str | None, path: Path) -> str:
    assert reason, "an unreadable result must say why"
    assert "\n" not in reason
    assert str(path) not in reason
    return reason


def test_truncated_mp4_is_unreadable_video(prober: FfprobeProber, media: Path, tmp_path: Path) -> None:
    data = (media / "video.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    r = prober.probe(cut)
    assert not r.readable
    assert r.kind is Kind.VIDEO
    assert "moov atom not found" in _one_line_reason(r.error, cut)
    assert r.codecs == () and r.duration_ms is None


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("noise.mp4", Kind.VIDEO),
        ("noise.MOV", Kind.VIDEO),
        ("noise.mkv", Kind.VIDEO),
        ("noise.wav", Kind.AUDIO),
        ("noise.amr", Kind.AUDIO),
        ("noise.jpg", Kind.PHOTO),
        ("noise.png", Kind.PHOTO),
        ("noise.bin", Kind.OTHER),
    ],
)
def test_random_bytes_are_unreadable_with_kind_from_extension(
    prober: FfprobeProber, tmp_path: Path, name: str, kind: Kind
) -> None:
    path = tmp_path / name
    path.write_bytes(random.Random(7).randbytes(65536))
    r = prober.probe(path)
    assert not r.readable
    assert r.kind is kind
    _one_line_reason(r.error, path)


def test_zero_byte_file_is_unreadable(prober: FfprobeProber, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    r = prober.probe(empty)
    assert not r.readable and r.kind is Kind.VIDEO
    assert r.error is not None and "empty" in r.error


def test_fifo_is_not_read(prober: FfprobeProber, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    started = time.monotonic()
    r = prober.probe(fifo)
    assert not r.readable and r.error == "not a regular file"
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "name",
    [
        "with space.mp4",
        "new\nline.mp4",
        "执法记录仪 视频.mp4",
        "-leading-dash.mp4",
        "--show_entries.mp4",
        "concat:clip.mp4",
        "100%d.mp4",
        "quote'\"$(x).mp4",
    ],
)
def test_odd_names(prober: FfprobeProber, media: Path, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    shutil.copy(media / "video.mp4", path)
    r = prober.probe(path)
    assert r.readable, r.error
    assert r.kind is Kind.VIDEO and r.codecs == ("h264", "aac")


@pytest.mark.parametrize("name", ["img%03d.jpg", "shot*.jpg", "-x.jpg"])
def test_odd_photo_names_are_not_read_as_patterns(
    prober: FfprobeProber, media: Path, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    shutil.copy(media / "photo.jpg", path)
    r = prober.probe(path)
    assert r.readable, r.error
    assert r.kind is Kind.PHOTO


def test_relative_path(prober: FfprobeProber, media: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(media)
    assert prober.probe(Path("video.mp4")).kind is Kind.VIDEO


def test_missing_file_is_source_unavailable_not_bad_media(prober: FfprobeProber, tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="No such file"):
        prober.probe(tmp_path / "gone.mp4")


def test_missing_ffprobe_is_could_not_check(media: Path, tmp_path: Path) -> None:
    with pytest.raises(CouldNotCheck, match="install Debian package ffmpeg") as info:
        FfprobeProber(ffprobe=str(tmp_path / "no-such-ffprobe")).probe(media / "video.mp4")
    assert info.value.exit_code == CouldNotCheck.exit_code


def test_hung_ffprobe_is_stopped(media: Path, tmp_path: Path) -> None:
    # The one stand-in in this file: a real ffprobe does not hang on demand.
    slow = tmp_path / "slow-ffprobe"
    slow.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    slow.chmod(0o755)
    started = time.monotonic()
    r = FfprobeProber(ffprobe=str(slow), timeout_s=0.5).probe(media / "video.mp4")
    assert time.monotonic() - started < 20
    assert not r.readable and r.kind is Kind.VIDEO
    assert r.error is not None and "did not finish" in r.error


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.MP4", Kind.VIDEO),
        ("a.avi", Kind.VIDEO),
        ("a.aac", Kind.AUDIO),
        ("a.JPEG", Kind.PHOTO),
        ("clip.3GP", Kind.VIDEO),
        ("a.heic", Kind.PHOTO),
        ("a", Kind.OTHER),
        ("dir.v2/clip", Kind.OTHER),
    ],
)
def test_kind_from_extension(name: str, kind: Kind) -> None:
    assert kind_from_name(name) is kind


def test_the_open_file_is_probed_even_when_its_path_is_replaced(
    prober: FfprobeProber, media: Path, tmp_path: Path
) -> None:
    """The pipeline probes the file it hashed, not whatever the path holds a moment later."""
    path = tmp_path / "clip.mp4"
    shutil.copy(media / "video.mp4", path)
    with path.open("rb") as f:
        path.unlink()
        path.write_bytes(random.Random(3).randbytes(4096))  # swapped under the same name
        held = prober.probe_open(f, "clip.mp4")
    assert held.readable and held.kind is Kind.VIDEO, held.error
    assert held.duration_ms is not None and abs(held.duration_ms - 2000) <= 100
    assert not prober.probe(path).readable  # what the path now holds


def test_hls_playlist_named_like_footage_is_unreadable_and_not_followed(
    prober: FfprobeProber, media: Path, tmp_path: Path
) -> None:
    # 10 hours of "footage" that lives outside the dock: ffprobe must not follow it
    outside = tmp_path / "elsewhere" / "x.ts"
    outside.parent.mkdir()
    ffmpeg("-i", media / "video.mp4", "-c", "copy", "-f", "mpegts", outside)
    playlist = tmp_path / "dock" / "DSJ-A1_031245_20261127083015_0001.MP4"
    playlist.parent.mkdir()
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:36000\n#EXTINF:36000,\n{outside}\n#EXT-X-ENDLIST\n")
    r = prober.probe(playlist)
    assert not r.readable and r.kind is Kind.VIDEO
    assert r.duration_ms is None and r.codecs == ()
    assert "format 'hls' is not a container a camera writes" in _one_line_reason(r.error, playlist)
    assert prober.probe(outside).readable  # the same transport stream, docked itself, is footage


def _forge_duration(mp4: bytes, seconds: int) -> bytes:
    """The movie and media headers (version 0) claim ``seconds``; the samples stay as they are."""
    data = bytearray(mp4)
    for box in (b"mvhd", b"mdhd"):
        i = 0
        while (i := data.find(box, i)) >= 0:
            assert data[i + 4] == 0, "version 0 headers expected"
            timescale = int.from_bytes(data[i + 16 : i + 20], "big")
            data[i + 20 : i + 24] = min(2**32 - 1, timescale * seconds).to_bytes(4, "big")
            i += 4
    return bytes(data)


def test_duration_implausible_for_the_file_size_is_unreadable(
    prober: FfprobeProber, media: Path, tmp_path: Path
) -> None:
    forged = tmp_path / "forged.mp4"
    forged.write_bytes(_forge_duration((media / "video.mp4").read_bytes(), 36000))
    r = prober.probe(forged)
    assert not r.readable and r.kind is Kind.VIDEO and r.duration_ms is None
    assert r.error is not None and "reported duration 36000 s is implausible" in r.error


def test_creation_time_off_the_calendar_is_absent_not_an_overflow() -> None:
    from recorder_sync.adapters.probe import interpret

    for value in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-10:00"):
        info = {"format": {"tags": {"creation_time": value}}, "streams": []}
        assert interpret(info).creation_time is None
