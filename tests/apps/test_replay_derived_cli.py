"""``recorder-replay export --blur/--mute/--watermark`` and ``recorder-replay frames`` through
the real process, on a station that ingested a real video (testsrc2 with a tone, 6 s,
320x240, 10 frames/s): what comes out is looked at frame by frame, and the original is
untouched."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sample_dock
from clirunner import env_for, run, run_json
from mediacheck import mad, mad_outside, max_volume, pictures
from test_replay_cli import ACTOR, REPLAY, USER, events, replay, set_roster, station_trust

from recorder_sync.adapters.keys import load_key
from recorder_sync.domain.layout import media_key
from recorder_sync.domain.signatures import verify_signature

W, H, FPS = 320, 240, 10
TEXT = (0, 0, 104, 40)  # testsrc2's running time, in figures


@dataclass
class Station:
    tmp: Path
    db_url: str
    env: dict[str, str]
    rec: dict[str, Any]
    trust: Path
    stored: Path
    out: Path

    def replay(self, *args: str, reason: str | None = "court request 17") -> subprocess.CompletedProcess[str]:
        more = ["--trust", str(self.trust), "--out", str(self.out)]
        return replay(self.env, *args, *more, *([] if reason is None else ["--reason", reason]))

    def public_key(self) -> bytes:
        return load_key(self.tmp / "home" / "keys" / "station.key").public_key_pem()


@pytest.fixture
def station(tmp_path: Path, db_url: str) -> Station:
    home = tmp_path / "home"
    env = env_for(home, db_url)
    dock = tmp_path / "dock"
    dock.mkdir()
    start = datetime(2026, 11, 27, 8, 30, 15, tzinfo=ZoneInfo("Asia/Shanghai"))
    name = sample_dock.default_name("DSJ-A1", "031245", start.replace(tzinfo=None), 1, "MP4")
    sample_dock.make_video(dock / name, start=start, seconds=6.0, size=(W, H), fps=FPS)
    assert run(env, "ingest", str(dock), "--stable-seconds", "0").returncode == 0
    [rec] = run_json(env, "list")
    set_roster(env, tmp_path, f"{USER},,supervisor,")
    out = tmp_path / "out"
    out.mkdir()
    stored = home / "vault" / media_key(rec["sha256"])
    return Station(tmp_path, db_url, env, rec, station_trust(home, tmp_path), stored, out)


def test_a_redacted_export_blurs_mutes_and_marks_only_what_was_asked(station: Station) -> None:
    rec = station.rec
    r = station.replay(
        *("export", rec["id"], "--from", "00:00:01", "--to", "00:00:05"),
        *("--blur", "0,0,104,40@00:00:02-00:00:04", "--mute", "2-4", "--watermark"),
    )
    assert r.returncode == 0, r.stderr
    clip = station.out / f"{rec['id']}_00-00-01_00-00-05.mp4"
    provenance = (station.out / (clip.name + ".provenance.json")).read_bytes()
    verify_signature(
        station.public_key(), provenance, (station.out / (clip.name + ".provenance.sig")).read_bytes()
    )
    doc = json.loads(provenance)
    [event] = events(station.db_url, "exported")
    assert doc["output"]["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert doc["access_seq"] == event["seq"] and event["details"]["range"] == {
        "from": "00:00:01",
        "to": "00:00:05",
    }
    assert event["details"]["redactions"] == "blur 0,0,104,40@00:00:02-00:00:04; mute 2-4; watermark"

    # every operation with its parameters, the ffmpeg version, and the exact graph that ran
    ops = {op["op"]: op for op in doc["operations"]}
    assert list(ops) == ["trim", "blur", "mute", "watermark", "encode"]
    assert ops["trim"] == {"op": "trim", "mode": "re-encode", "from": "00:00:01", "to": "00:00:05"}
    assert ops["blur"]["region"] == {"x": 0, "y": 0, "width": 104, "height": 40}
    assert (ops["blur"]["from"], ops["blur"]["to"], ops["blur"]["output_window_ms"]) == (
        "00:00:02",
        "00:00:04",
        [1000, 3000],
    )
    assert ops["mute"]["output_window_ms"] == [1000, 3000]
    assert (
        ops["watermark"]["text"]
        == f"exported by {ACTOR}\n"
        + datetime.fromisoformat(event["at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
        + f", access event {event['seq']}"
    )
    assert doc["tool"].startswith("ffmpeg version")
    assert doc["command"][doc["command"].index("-filter_complex") + 1] == doc["filter_graph"]
    assert "boxblur" in doc["filter_graph"] and "volume=0" in doc["filter_graph"]
    assert not [part for part in doc["command"] if str(station.tmp) in part or "recorder-replay-" in part]

    # what a person sees and hears: clip frame n is the recording's frame n + 10
    source, derived = pictures(station.stored, W, H), pictures(clip, W, H)
    assert len(derived) == 40
    blurred = [mad(source[n + 10], derived[n], TEXT) for n in (12, 20, 28)]
    kept = [mad(source[n + 10], derived[n], TEXT) for n in (2, 8, 32, 38)]
    assert min(blurred) > 4 * max(kept), (blurred, kept)
    mark = (W - 200, H - 40, 200, 36)
    assert all(mad(source[n + 10], derived[n], mark) > 20 for n in (0, 20, 39))
    assert all(mad_outside(source[n + 10], derived[n], TEXT) < 8 for n in (0, 20, 39))
    assert (
        max_volume(clip, 1.2, 1.6) < -80
        and max_volume(clip, 0.1, 0.8) > -30
        and max_volume(clip, 3.2, 0.7) > -30
    )
    # the original is untouched
    assert hashlib.sha256(station.stored.read_bytes()).hexdigest() == rec["sha256"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--blur", "300,200,40,40@1-2"],
            "--blur 300,200,40,40@1-2: the region (300,200)-(340,240) is not inside the 320x240 picture",
        ),
        (
            ["--blur", "0,0,40,40@5-9"],
            "--blur 0,0,40,40@5-9: 00:00:09 is past the recording's end (00:00:06)",
        ),
        (["--mute", "4-2"], "--mute 4-2: FROM must be before TO"),
        (["--blur", "0,0,40"], "--blur 0,0,40: expected X,Y,W,H@FROM-TO"),
        (["--from", "3", "--mute", "1-2"], "--mute 1-2: lies outside the exported range 00:00:03-00:00:06"),
    ],
)
def test_a_bad_redaction_exits_2_naming_the_flag_before_anything_is_logged(
    station: Station, flags: list[str], message: str
) -> None:
    r = station.replay("export", station.rec["id"], *flags)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert events(station.db_url, "exported") == [] and list(station.out.iterdir()) == []


def test_frames_every_two_seconds_are_the_recordings_frames_with_one_signed_provenance(
    station: Station,
) -> None:
    rec = station.rec
    r = station.replay("frames", rec["id"], "--every", "2s")
    assert r.returncode == 0, r.stderr
    source = pictures(station.stored, W, H)
    names = [f"{rec['id']}_frame_00-00-0{s}.png" for s in (0, 2, 4)]
    for name, n in zip(names, (0, 20, 40), strict=True):
        [still] = pictures(station.out / name, W, H)
        assert still == source[n], name  # lossless: the very frame at that time
    sheet = station.out / f"{rec['id']}_frames.provenance.json"
    provenance = sheet.read_bytes()
    verify_signature(
        station.public_key(), provenance, (station.out / f"{rec['id']}_frames.provenance.sig").read_bytes()
    )
    doc = json.loads(provenance)
    assert [(o["name"], o["at"], o["sha256"]) for o in doc["outputs"]] == [
        (name, at, hashlib.sha256((station.out / name).read_bytes()).hexdigest())
        for name, at in zip(names, ["00:00:00", "00:00:02", "00:00:04"], strict=True)
    ]
    assert doc["sources"][0]["sha256"] == rec["sha256"] and doc["exported_by"] == ACTOR
    assert (
        doc["tool"].startswith("ffmpeg version") and doc["command"][doc["command"].index("-ss") + 1] == "AT"
    )
    [event] = events(station.db_url, "exported")
    assert (event["details"]["how"], event["details"]["every"], event["reason"]) == (
        "frames",
        "00:00:02",
        "court request 17",
    )
    assert doc["access_seq"] == event["seq"]

    # a range: frames from --from, before --to
    again = station.tmp / "again"
    again.mkdir()
    r = replay(
        station.env,
        "frames",
        rec["id"],
        "--every",
        "1.5s",
        "--from",
        "1",
        "--to",
        "4",
        "--out",
        str(again),
        "--trust",
        str(station.trust),
        "--reason",
        "report",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads((again / f"{rec['id']}_frames_00-00-01_00-00-04.provenance.json").read_bytes())
    assert [o["at"] for o in doc["outputs"]] == ["00:00:01", "00:00:02.5"]


def test_frames_without_a_reason_log_nothing_and_a_flipped_byte_exits_3(station: Station) -> None:
    rec = station.rec
    r = station.replay("frames", rec["id"], reason=None)
    assert r.returncode == 2 and "--reason" in r.stderr
    r = station.replay("frames", rec["id"], reason="  ")
    assert r.returncode == 2 and "say why with --reason" in r.stderr
    r = station.replay("frames", rec["id"], "--every", "0s")
    assert r.returncode == 2 and "--every 0s" in r.stderr
    assert events(station.db_url, "exported") == []

    station.stored.chmod(0o600)
    data = bytearray(station.stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    station.stored.write_bytes(bytes(data))
    r = station.replay("frames", rec["id"])
    assert r.returncode == 3 and "Integrity failure" in r.stderr, r.stderr
    assert list(station.out.iterdir()) == []
    access, outcome = events(station.db_url, "exported")
    assert access["details"]["how"] == "frames" and outcome["details"]["outcome"] == "integrity-failure"


@pytest.mark.parametrize(
    ("command", "span", "message"),
    [
        ("export", ["--from", "00:00:10", "--to", "00:00:20"], "--from 00:00:10 is past the recording's end"),
        ("export", ["--from", "00:00:06"], "--from 00:00:06 is past the recording's end (00:00:06)"),
        ("export", ["--from", "00:00:03", "--to", "00:01:00"], "--to 00:01:00 is past the recording's end"),
        ("play", ["--from", "00:00:30"], "--from 00:00:30 is past the recording's end (00:00:06)"),
    ],
)
def test_a_range_past_the_recordings_end_exits_2_before_anything_is_logged(
    station: Station, command: str, span: list[str], message: str
) -> None:
    """ffmpeg "cut" 10-20 s of this 6 s recording as its last key frames, and the clip was
    handed out (exit 0) with a provenance naming 10-20 s; a player was started on nothing."""
    where = ["--player", "true"] if command == "play" else ["--out", str(station.out)]
    r = replay(
        station.env,
        *(command, station.rec["id"], *span, *where),
        *("--trust", str(station.trust), "--reason", "court request 17"),
    )
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert events(station.db_url, "exported") == events(station.db_url, "accessed") == []
    assert list(station.out.iterdir()) == []


def test_a_range_up_to_the_recordings_very_end_is_exported(station: Station) -> None:
    r = station.replay("export", station.rec["id"], "--from", "00:00:05", "--to", "00:00:06")
    assert r.returncode == 0, r.stderr
    [event] = events(station.db_url, "exported")
    assert event["details"]["range"] == {"from": "00:00:05", "to": "00:00:06"}


@pytest.mark.parametrize("where", ["dock", "vault", "link-to-vault"])
def test_an_export_into_a_dock_or_the_vault_is_refused_before_anything_is_logged(
    station: Station, where: str
) -> None:
    """An export written into a dock was ingested by the next `ingest` as camera footage (the
    clip, its provenance and signature: three new recordings, released from the dock)."""
    dock = station.tmp / "dock2"
    dock.mkdir()
    config = station.tmp / "replay.toml"
    config.write_text(f'[[docks]]\nname = "bay1"\npath = "{dock}"\n', encoding="utf-8")
    vault = station.tmp / "home" / "vault"
    link = station.tmp / "looks-harmless"
    link.symlink_to(vault / "sha256")
    out, named = {
        "dock": (dock, f"inside dock 'bay1' ({dock})"),
        "vault": (vault, f"inside the evidence vault ({vault})"),
        "link-to-vault": (link, "inside the evidence vault"),
    }[where]
    before = sorted(p.relative_to(vault) for p in vault.rglob("*"))
    r = replay(
        station.env | {"RECORDER_SYNC_CONFIG": str(config)},
        *("export", station.rec["id"], "--from", "1", "--to", "3", "--out", str(out)),
        *("--trust", str(station.trust), "--reason", "court request 17"),
    )
    assert r.returncode == 2 and named in r.stderr, r.stderr
    assert "choose a folder outside the docks and the vault" in r.stderr
    assert events(station.db_url, "exported") == [] and list(dock.iterdir()) == []
    assert sorted(p.relative_to(vault) for p in vault.rglob("*")) == before


STUCK_FFMPEG = """#!/bin/sh
# ffmpeg that answers -version, and otherwise says it started and cuts until told to stop
[ "$1" = "-version" ] && exec {ffmpeg} -version
: > "$READY"
read line < "$STOP"
"""


def test_an_export_stopped_while_ffmpeg_cuts_leaves_nothing_and_says_interrupted(station: Station) -> None:
    """Held: SIGTERM while ffmpeg runs stops it; nothing in --out, no private copy left, and a
    second `exported` event says `interrupted`."""
    bin_dir, tmpdir = station.tmp / "bin", station.tmp / "tmp"
    bin_dir.mkdir()
    tmpdir.mkdir()
    fake = bin_dir / "ffmpeg"
    fake.write_text(STUCK_FFMPEG.format(ffmpeg="/usr/bin/ffmpeg"), encoding="utf-8")
    fake.chmod(0o755)
    ready, stop = station.tmp / "ready", station.tmp / "stop"
    os.mkfifo(stop)
    env = station.env | {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "TMPDIR": str(tmpdir),
        "READY": str(ready),
        "STOP": str(stop),
    }
    args = ["export", station.rec["id"], "--from", "1", "--to", "3", "--out", str(station.out)]
    proc = subprocess.Popen(
        [REPLAY, *args, "--trust", str(station.trust), "--reason", "court request 17"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():  # ffmpeg runs on the verified copy
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert list(station.out.iterdir()) == [] and list(tmpdir.iterdir()) == []
    access, outcome = events(station.db_url, "exported")
    assert outcome["details"]["access_seq"] == access["seq"]
    assert outcome["details"]["outcome"] == "interrupted"
    try:  # the fake ffmpeg was stopped with the export: nobody waits on the FIFO any more
        fd = os.open(stop, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    os.close(fd)
    raise AssertionError("ffmpeg still runs after the export was stopped")
