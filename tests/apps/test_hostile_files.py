"""Camera-controlled metadata through the real ``recorder-sync`` process (issue 7, item 4).

Each of these used to end ``ingest`` and ``run`` with exit 70 at every start. Now the
value is treated as absent, the recording is flagged, and the next file is ingested.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sample_dock
from clirunner import EXE, env_for, run, run_json

START = sample_dock.sample_plan()[0].start
LATER = "DSJ-A1_031245_20261127090000_0009.MP4"
PLAYLIST = "DSJ-A1_031245_20261127100000_0010.MP4"

# name, sidecar text (None: no sidecar), flag kind, fragments of its detail
CASES: dict[str, tuple[str, str | None, str, tuple[str, ...]]] = {
    "filename-year-1": (
        "DSJ-A1_031245_00010101000000_0001.MP4",
        None,
        "bad-metadata",
        ("start from filename:default", "'00010101000000'", "2000-01-01 to 2100-01-01"),
    ),
    "sidecar-year-1": (
        "DSJ-A1_031245_20261127083015_0002.MP4",
        '{"start": "0001-01-01T00:00:00"}',
        "bad-metadata",
        ("start from sidecar", "'0001-01-01T00:00:00'"),
    ),
    "sidecar-9999-west-of-utc": (
        "DSJ-A1_031245_20261127083015_0003.MP4",
        '{"start": "9999-12-31T23:59:59-10:00"}',
        "bad-metadata",
        ("start from sidecar", "'9999-12-31T23:59:59-10:00'"),
    ),
    "sidecar-9999-plus-duration": (
        "DSJ-A1_031245_20261127083015_0004.MP4",
        '{"start": "9999-12-31T23:59:59Z"}',
        "bad-metadata",
        ("start from sidecar", "'9999-12-31T23:59:59Z'"),
    ),
    "deeply-nested-sidecar": (
        "DSJ-A1_031245_20261127083015_0005.MP4",
        "[" * 20_000 + "]" * 20_000,
        "bad-sidecar",
        ("nested too deeply",),
    ),
    "raw-nul-byte-in-sidecar": (
        "DSJ-A1_031245_20261127083015_0007.MP4",
        '{"officer": "12\x00"}',
        "bad-metadata",
        ("officer from sidecar", "contains U+FFFD"),
    ),
    "nul-in-officer": (
        "DSJ-A1_031245_20261127083015_0006.MP4",
        '{"officer": "12\\u0000"}',
        "bad-metadata",
        ("officer from sidecar", "contains a NUL character", "'12\\x00'"),
    ),
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """A 2 s clip (the hostile file's bytes) and a 3 s one (the file docked after it)."""
    d = tmp_path_factory.mktemp("videos")
    sample_dock.make_video(d / "a.mp4", start=START, seconds=2)
    sample_dock.make_video(d / "b.mp4", start=START, seconds=3)
    return (d / "a.mp4").read_bytes(), (d / "b.mp4").read_bytes()


def docked(tmp_path: Path, videos: tuple[bytes, bytes], db_url: str) -> tuple[Path, dict[str, str]]:
    """A dock with every hostile file and a good file after them; the env of a fresh home."""
    dock = tmp_path / "dock"
    dock.mkdir()
    for i, (name, sidecar, _, _) in enumerate(CASES.values()):
        # distinct bytes per case, so that each is a recording of its own
        (dock / name).write_bytes(videos[0] + bytes([i]))
        if sidecar is not None:
            (dock / name).with_suffix(".json").write_text(sidecar)
    (dock / LATER).write_bytes(videos[1])
    # item 6: a playlist of under 100 bytes that ffprobe would read as 10 hours of footage elsewhere
    outside = tmp_path / "outside.ts"
    outside.write_bytes(b"\x47" * 188)
    (dock / PLAYLIST).write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:36000\n#EXTINF:36000,\n{outside}\n")
    return dock, env_for(tmp_path / "home", db_url)


def check(env: dict[str, str]) -> None:
    recs = {r["source_path"]: r for r in run_json(env, "list")}
    flags = run_json(env, "flags")
    for case in CASES:
        name, _, kind, fragments = CASES[case]
        rec = recs[name]
        assert rec["state"] == "released", (case, rec)
        # the refused value is absent: the start comes from the name (or the mtime), not from it
        assert rec["start"] is not None and "2000" <= rec["start"][:4] < "2100", (case, rec)
        assert rec["officer"] == "031245", (case, rec)  # the file name's, not the sidecar's
        assert kind in rec["flags"], (case, rec)
        [flag] = [f for f in flags if f["kind"] == kind and f["recording_id"] == rec["id"]]
        for fragment in fragments:
            assert fragment in flag["detail"], (case, fragment, flag["detail"])
        assert "\x00" not in flag["detail"]
    assert recs[LATER]["state"] == "released" and recs[LATER]["flags"] == []
    playlist = recs[PLAYLIST]
    assert playlist["state"] == "released" and playlist["flags"] == ["unreadable-media"]
    assert playlist["duration_ms"] is None and playlist["end"] == playlist["start"]
    [flag] = [f for f in flags if f["recording_id"] == playlist["id"]]
    assert "format 'hls' is not a container a camera writes" in flag["detail"]


def test_ingest_survives_hostile_metadata_and_ingests_the_next_file(
    videos: tuple[bytes, bytes], tmp_path: Path, db_url: str
) -> None:
    dock, env = docked(tmp_path, videos, db_url)
    r = run(env, "ingest", str(dock), "--stable-seconds", "0", "-q")
    assert r.returncode == 0, r.stderr
    assert "internal error" not in r.stderr
    check(env)
    assert not any(dock.iterdir())  # every file (the sidecars too) stored, verified and released


@contextmanager
def daemon(env: dict[str, str], dock: Path, log: Path) -> Iterator[None]:
    """``run`` on ``dock`` until every file there is released; then SIGTERM, which must end it
    with 0. A daemon that exits before (exit 70 on a file) fails the test."""
    proc = subprocess.Popen(
        [EXE, "-v", "run", "--dock", str(dock), "--stable-seconds", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    try:
        deadline = time.monotonic() + 120
        while any(dock.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, log.read_text()  # still running: no file ended it
        assert not any(dock.iterdir()), log.read_text()
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()


def test_daemon_survives_every_hostile_file_at_once_and_stops_on_sigterm(
    videos: tuple[bytes, bytes], tmp_path: Path, db_url: str
) -> None:
    dock, env = docked(tmp_path, videos, db_url)
    log = tmp_path / "daemon.log"
    with daemon(env, dock, log):
        check(env)
    text = log.read_text()
    assert "internal error" not in text and "Traceback" not in text
