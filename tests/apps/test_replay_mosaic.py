"""``recorder-replay play --action``: the mosaic of an action, through the real process, on a
station that ingested real ffmpeg-made videos of two officers who started at different times.

Each officer's camera films one plain colour, so a frame of the mosaic says which tile shows
footage and which is still black: the frames are read back with ffmpeg at chosen times.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from clirunner import env_for, run, run_json
from test_replay_cli import ACTOR, PLAYER, USER, events, replay, set_roster, station_trust

from recorder_sync.adapters.keys import load_key
from recorder_sync.domain.signatures import verify_signature

SHANGHAI = ZoneInfo("Asia/Shanghai")
RED, BLUE = (255, 0, 0), (0, 0, 255)


def make_clip(path: Path, *, start: datetime, seconds: int, colour: str, size: str, fps: int) -> None:
    """A camera's H.264 MP4 of one plain colour, its creation_time the start (as cameras tag)."""
    args = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi"]
    args += ["-i", f"color=c={colour}:s={size}:r={fps}:d={seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(fps)]
    args += ["-metadata", f"creation_time={start.astimezone(ZoneInfo('UTC')):%Y-%m-%dT%H:%M:%S.000000Z}"]
    subprocess.run([*args, str(path)], check=True, capture_output=True, timeout=120)


@dataclass(frozen=True)
class Camera:
    officer: str
    device: str
    start: datetime  # local, Asia/Shanghai
    seconds: int
    colour: str

    @property
    def name(self) -> str:
        return f"{self.device}_{self.officer}_{self.start:%Y%m%d%H%M%S}_0001.MP4"


class MosaicStation:
    """Two officers of action A1: 031245 (red) from 08:30:15, 042000 (blue) ``offset`` later."""

    def __init__(
        self, tmp_path: Path, db_url: str, offset: int, *, size: str = "160x120", fps: int = 5
    ) -> None:
        self.tmp, self.db_url = tmp_path, db_url
        self.home = tmp_path / "home"
        self.player_log = tmp_path / "player.json"
        self.env = env_for(self.home, db_url, PLAYER_LOG=str(self.player_log))
        self.env.pop("DISPLAY", None)
        self.env.pop("WAYLAND_DISPLAY", None)
        t0 = datetime(2026, 11, 27, 8, 30, 15, tzinfo=SHANGHAI)
        self.first = Camera("031245", "DSJ-A1", t0, offset + 3, "red")
        self.second = Camera("042000", "DSJ-B2", t0 + timedelta(seconds=offset), 6, "blue")
        dock = tmp_path / "dock"
        dock.mkdir()
        for cam in (self.first, self.second):
            make_clip(
                dock / cam.name, start=cam.start, seconds=cam.seconds, colour=cam.colour, size=size, fps=fps
            )
        r = run(self.env, "ingest", str(dock), "--stable-seconds", "0")
        assert r.returncode == 0, r.stderr
        end = t0 + timedelta(minutes=5)
        (tmp_path / "actions.csv").write_text(
            "case_id,action_id,action_type,unit,officers,start,end,target_id,target_name,place\n"
            f"C1,A1,seizure,Unit 1,031245;042000,{t0.isoformat()},{end.isoformat()},P-1,Zhang San,Suzhou\n",
            encoding="utf-8",
        )
        r = run(self.env, "cases", "import", str(tmp_path / "actions.csv"))
        assert r.returncode == 0, r.stderr
        self.recs = {rec["officer"]: rec for rec in run_json(self.env, "list")}
        self.trust = station_trust(self.home, tmp_path)
        self.player = tmp_path / "player.py"
        self.player.write_text(PLAYER.format(python=sys.executable), encoding="utf-8")
        self.player.chmod(0o755)
        set_roster(self.env, tmp_path, f"{USER},,supervisor,Unit 1")

    def mosaic(self, *extra: str, reason: str = "review of action A1") -> subprocess.CompletedProcess[str]:
        args = ["play", "--action", "A1", "--trust", str(self.trust), "--reason", reason, *extra]
        return replay(self.env, *args)

    def played(self) -> dict[str, Any] | None:
        if not self.player_log.exists():
            return None
        value: dict[str, Any] = json.loads(self.player_log.read_text(encoding="utf-8"))
        return value


def frame(path: Path, at: float) -> tuple[int, int, bytes]:
    """(width, height, RGB bytes) of the mosaic's frame at ``at`` seconds."""
    info = json.loads(
        subprocess.run(
            [
                *("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height"),
                *("-of", "json", str(path)),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )["streams"][0]
    raw = subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-nostdin", "-ss", f"{at:.3f}", "-i", str(path), "-frames:v", "1"),
            *("-f", "rawvideo", "-pix_fmt", "rgb24", "-"),
        ],
        check=True,
        capture_output=True,
    ).stdout
    width, height = int(info["width"]), int(info["height"])
    assert len(raw) == width * height * 3
    return width, height, raw


def pixel(shot: tuple[int, int, bytes], x: int, y: int) -> tuple[int, int, int]:
    width, _, raw = shot
    i = (y * width + x) * 3
    r, g, b = raw[i : i + 3]
    return r, g, b


def near(rgb: tuple[int, int, int], want: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 40 for a, b in zip(rgb, want, strict=True))


def tile_centres(shot: tuple[int, int, bytes]) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The centre pixels of the two tiles (side by side: 2 x 1 grid)."""
    width, height, _ = shot
    return pixel(shot, width // 4, height * 2 // 3), pixel(shot, width * 3 // 4, height * 2 // 3)


def label_pixels(shot: tuple[int, int, bytes], x0: int, colour: tuple[int, int, int]) -> int:
    """How many pixels of a tile's label corner (top left) are not the tile's plain colour."""
    return sum(1 for x in range(x0 + 2, x0 + 60) for y in range(2, 22) if not near(pixel(shot, x, y), colour))


@pytest.mark.slow
def test_the_mosaic_written_out_has_both_tiles_at_their_corrected_times(tmp_path: Path, db_url: str) -> None:
    station = MosaicStation(tmp_path, db_url, offset=5)
    out = tmp_path / "out"
    out.mkdir()
    r = station.mosaic("--out", str(out))
    assert r.returncode == 0, r.stderr
    first, second = station.recs["031245"], station.recs["042000"]
    clip = out / "mosaic_A1.mp4"
    assert f"mosaic of action A1 written to {clip}" in r.stdout

    # red (031245) from the start; blue (042000) black for its 5 s, then blue; each ends black
    early = frame(clip, 2.0)
    assert early[:2] == (320, 120), "two 160x120 tiles side by side"
    assert near(tile_centres(early)[0], RED) and near(tile_centres(early)[1], (0, 0, 0))
    both = frame(clip, 6.5)
    assert near(tile_centres(both)[0], RED) and near(tile_centres(both)[1], BLUE)
    late = frame(clip, 9.5)  # the first camera stopped at 8 s
    assert near(tile_centres(late)[0], (0, 0, 0)) and near(tile_centres(late)[1], BLUE)
    # each tile is labelled: its label corner is not the plain colour (a plain tile's is)
    assert label_pixels(both, 0, RED) > 50 and label_pixels(both, 160, BLUE) > 50
    plain = frame(station.home / "vault" / media_key_of(first), 1.0)
    assert label_pixels(plain, 0, RED) == 0

    provenance = (out / "mosaic_A1.mp4.provenance.json").read_bytes()
    signer = load_key(station.home / "keys" / "station.key")
    verify_signature(signer.public_key_pem(), provenance, (out / "mosaic_A1.mp4.provenance.sig").read_bytes())
    doc = json.loads(provenance)
    assert [s["sha256"] for s in doc["sources"]] == [first["sha256"], second["sha256"]]
    assert doc["output"]["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    tiles = doc["layout"]["tiles"]
    assert [(t["recording_id"], t["offset_s"]) for t in tiles] == [(first["id"], 0.0), (second["id"], 5.0)]
    assert tiles[1]["label"] == "officer 042000 | DSJ-B2\n2026-11-27 08:30:20+08:00"
    [op] = doc["operations"]
    graph = op["filter_graph"]
    assert op["op"] == "mosaic" and op["audio"] == "none"
    assert "xstack" in graph and "tpad" in graph and "start_duration=5.000" in graph
    assert graph.count("drawtext") == 2 and "officer 031245 | DSJ-A1" in graph and "officer 042000" in graph
    assert f"INPUT:{first['id']}" in doc["command"] and not [a for a in doc["command"] if str(tmp_path) in a]

    # one exported event per recording, naming the whole group, logged before the mosaic was made
    exported = events(station.db_url, "exported")
    assert [e["recording_id"] for e in exported] == [first["id"], second["id"]]
    assert doc["access_seqs"] == [e["seq"] for e in exported]
    for e in exported:
        assert e["actor"] == ACTOR and e["reason"] == "review of action A1"
        assert e["details"]["mosaic"] == {"action_id": "A1", "recordings": [first["id"], second["id"]]}
    # and the supervisor's access report finds both recordings
    report = json.loads(replay(station.env, "access-report", "--json").stdout)
    assert sorted(r["id"] for a in report["accesses"] for r in a["recordings"]) == sorted(
        [first["id"], second["id"]]
    )


def media_key_of(rec: dict[str, Any]) -> str:
    from recorder_sync.domain.layout import media_key

    return media_key(rec["sha256"])


@pytest.mark.slow
def test_the_mosaic_is_played_only_after_every_access_is_logged(tmp_path: Path, db_url: str) -> None:
    station = MosaicStation(tmp_path, db_url, offset=5)
    r = station.mosaic("--player", str(station.player))
    assert r.returncode == 0, r.stderr
    got = station.played()
    assert got is not None
    first, second = station.recs["031245"], station.recs["042000"]
    accessed = got["accessed_before"]
    assert [a["recording_id"] for a in accessed] == [first["id"], second["id"]]
    assert all(
        a["details"]["how"] == "play" and a["details"]["mosaic"]["action_id"] == "A1" for a in accessed
    )
    assert got["mode"] == 0o600 and got["folder_mode"] == 0o700
    played = Path(got["argv"][-1])
    assert played.name == "mosaic-mosaic_A1.mp4" and not played.parent.exists(), "removed afterwards"
    assert "mosaic of action A1 played" in r.stdout
    # a successful viewing has no second event
    assert len(events(station.db_url, "accessed")) == 2


def test_a_flipped_byte_in_one_stored_object_shows_nothing(tmp_path: Path) -> None:
    station = MosaicStation(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", offset=5)
    second = station.recs["042000"]
    [stored] = (station.home / "vault").rglob(second["sha256"])
    stored.chmod(0o600)
    data = bytearray(stored.read_bytes())
    data[200] ^= 0x01
    stored.write_bytes(bytes(data))

    r = station.mosaic("--player", str(station.player))
    assert r.returncode == 3, r.stderr
    assert "Integrity failure" in r.stderr
    assert station.played() is None, "the player never started"
    logged = events(station.db_url, "accessed")
    accesses = [e for e in logged if "access_seq" not in e["details"]]
    outcomes = {e["recording_id"]: e["details"] for e in logged if "access_seq" in e["details"]}
    assert len(accesses) == 2
    assert outcomes[second["id"]]["outcome"] == "integrity-failure"
    assert outcomes[station.recs["031245"]["id"]]["outcome"] == "not-served"
    [flag] = [f for f in run_json(station.env, "flags") if f["kind"] == "integrity-failure"]
    assert flag["subject"] == f"recording:{second['id']}"
    # --out: nothing written either
    out = tmp_path / "out"
    out.mkdir()
    assert station.mosaic("--out", str(out)).returncode == 3
    assert list(out.iterdir()) == []


def test_sixty_seconds_apart_the_second_tile_waits_a_minute(tmp_path: Path) -> None:
    station = MosaicStation(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", offset=60, size="64x48", fps=2)
    out = tmp_path / "out"
    out.mkdir()
    r = station.mosaic("--out", str(out))
    assert r.returncode == 0, r.stderr
    clip = out / "mosaic_A1.mp4"
    for at, want in ((1.0, (RED, (0, 0, 0))), (58.0, (RED, (0, 0, 0))), (61.5, (RED, BLUE))):
        left, right = tile_centres(frame(clip, at))
        assert near(left, want[0]) and near(right, want[1]), (at, left, right)
    doc = json.loads((out / "mosaic_A1.mp4.provenance.json").read_bytes())
    assert [t["offset_s"] for t in doc["layout"]["tiles"]] == [0.0, 60.0]


@pytest.mark.slow
def test_mosaic_refusals_exit_2_and_log_nothing(tmp_path: Path) -> None:
    station = MosaicStation(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", offset=5)
    # ffplay without a display: said so, as `play` says, with the way out
    r = station.mosaic()
    assert r.returncode == 2 and "no display" in r.stderr and "--out DIR" in r.stderr, r.stderr
    r = station.mosaic("--from", "00:00:01", "--player", str(station.player))
    assert r.returncode == 2 and "whole action" in r.stderr
    r = replay(station.env, "play", station.recs["031245"]["id"], "--action", "A1", "--reason", "x")
    assert r.returncode == 2 and "either a recording (REC) or --action A" in r.stderr
    r = replay(station.env, "play", "--reason", "x")
    assert r.returncode == 2 and "either a recording (REC) or --action A" in r.stderr
    r = replay(station.env, "play", station.recs["031245"]["id"], "--out", str(tmp_path), "--reason", "x")
    assert r.returncode == 2 and "--out goes with --action" in r.stderr
    r = replay(station.env, "play", "--action", "A9", "--trust", str(station.trust), "--reason", "x")
    assert r.returncode == 6 and "action 'A9'" in r.stderr
    assert station.mosaic("--player", str(station.player), reason=" ").returncode == 2
    assert events(station.db_url, "accessed") == [] and events(station.db_url, "exported") == []
    assert station.played() is None


@pytest.mark.slow
def test_an_officers_mosaic_holds_only_their_own_footage(tmp_path: Path) -> None:
    station = MosaicStation(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", offset=5)
    set_roster(station.env, tmp_path, f"{USER},031245,officer,Unit 1")
    r = station.mosaic("--player", str(station.player))
    assert r.returncode == 0, r.stderr
    [access] = events(station.db_url, "accessed")
    assert access["recording_id"] == station.recs["031245"]["id"]
    assert access["details"]["mosaic"]["recordings"] == [station.recs["031245"]["id"]]
