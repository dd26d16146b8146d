"""``recorder-replay`` through the real process, on a station that ingested real files.

The actor is the account running the tests (``user@host``); the roster decides what it may
do. The test player is a script that records what it was given and whether the access event
was already in the custody log when it started.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from clirunner import env_for, run, run_json, run_script

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.keys import load_key
from recorder_sync.domain.layout import media_key
from recorder_sync.domain.trust import StationKey, TrustAnchors

REPLAY = str(Path(sys.executable).with_name("recorder-replay"))
USER = pwd.getpwuid(os.geteuid()).pw_name
ACTOR = f"{USER}@{socket.gethostname()}"
OWN = "DSJ-A1_031245_20261127083015_0001.MP4"  # officer 031245, 08:30:15 Asia/Shanghai
OTHER = "DSJ-B2_099999_20261127090000_0002.MP4"  # officer 099999, 09:00:00
ACTIONS = (
    "case_id,action_id,action_type,unit,officers,start,end,target_id,target_name,place\n"
    "C1,A1,seizure,Unit 1,031245,2026-11-27T08:30:00+08:00,2026-11-27T08:40:00+08:00,P-1,Zhang San,Suzhou\n"
)

PLAYER = textwrap.dedent(
    """\
    #!{python}
    # A stand-in for ffplay: records what it was given, and what the custody log held then.
    import hashlib, json, os, stat, sys
    from recorder_sync.adapters.db.engine import make_engine
    from sqlalchemy import text

    path = sys.argv[-1]
    with make_engine(os.environ["RECORDER_SYNC_DATABASE_URL"]).connect() as c:
        logged = [json.loads(b) for (b,) in c.execute(text("SELECT body FROM custody_events"))]
    st = os.stat(path)
    record = {{
        "argv": sys.argv[1:],
        "mode": stat.S_IMODE(st.st_mode),
        "folder_mode": stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode),
        "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
        "accessed_before": [e for e in logged if e["action"] == "accessed"],
    }}
    with open(os.environ["PLAYER_LOG"], "w") as f:
        json.dump(record, f)
    sys.exit(int(os.environ.get("PLAYER_EXIT", "0")))
    """
)


def replay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_script("recorder-replay", env, *args)


def replay_json(env: dict[str, str], *args: str) -> Any:
    r = replay(env, *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def events(db_url: str, action: str) -> list[dict[str, Any]]:
    catalog = SqlCatalog(make_engine(db_url), station="st-test", actor="test")
    return [e.fields for e in catalog.events() if e.fields["action"] == action]


def set_roster(env: dict[str, str], tmp_path: Path, *lines: str) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("user,officer,role,unit\n" + "".join(line + "\n" for line in lines), encoding="utf-8")
    r = run(env, "users", "import", str(roster))
    assert r.returncode == 0, r.stderr


class Station:
    def __init__(self, tmp_path: Path, db_url: str) -> None:
        self.tmp, self.db_url = tmp_path, db_url
        home = tmp_path / "home"
        self.player_log = tmp_path / "player.json"
        # a temporary folder of its own: a private copy of another test's play is none of its business
        self.tmpdir = tmp_path / "tmp"
        self.tmpdir.mkdir()
        self.env = env_for(home, db_url, PLAYER_LOG=str(self.player_log), TMPDIR=str(self.tmpdir))
        self.env.pop("DISPLAY", None)
        self.env.pop("WAYLAND_DISPLAY", None)
        dock = tmp_path / "dock"
        dock.mkdir()
        (dock / OWN).write_bytes(b"own evidence " * 400)
        (dock / OTHER).write_bytes(b"other evidence " * 400)
        r = run(self.env, "ingest", str(dock), "--stable-seconds", "0")
        assert r.returncode == 0, r.stderr
        (tmp_path / "actions.csv").write_text(ACTIONS, encoding="utf-8")
        r = run(self.env, "cases", "import", str(tmp_path / "actions.csv"))
        assert r.returncode == 0, r.stderr
        recs = {rec["officer"]: rec for rec in run_json(self.env, "list")}
        self.own, self.other = recs["031245"], recs["099999"]
        self.trust = station_trust(home, tmp_path)
        self.player = tmp_path / "player.py"
        self.player.write_text(PLAYER.format(python=sys.executable), encoding="utf-8")
        self.player.chmod(0o755)

    def play(self, rec: dict[str, Any], *extra: str, reason: str = "review of case C1") -> Any:
        args = ["play", rec["id"], "--player", str(self.player), "--trust", str(self.trust)]
        return replay(self.env, *args, "--reason", reason, *extra)

    def played(self) -> dict[str, Any] | None:
        if not self.player_log.exists():
            return None
        value: dict[str, Any] = json.loads(self.player_log.read_text(encoding="utf-8"))
        return value


def station_trust(home: Path, folder: Path) -> Path:
    """A trust file holding the station's key, as an operator hands it out out of band."""
    signer = load_key(home / "keys" / "station.key")
    trust = folder / "trust.json"
    trust.write_bytes(trust_for(signer.key_id, signer.public_key_pem()))
    return trust


def trust_for(key_id: str, pem: bytes) -> bytes:
    key = StationKey(key_id, "st-test", pem, valid_from=datetime(2000, 1, 1, tzinfo=UTC))
    return TrustAnchors((), (key,)).to_json()


@pytest.fixture
def station(tmp_path: Path, db_url: str) -> Station:
    return Station(tmp_path, db_url)


def test_play_logs_the_access_first_then_plays_a_verified_private_copy(station: Station) -> None:
    set_roster(station.env, station.tmp, f"{USER},,supervisor,Unit 1")
    r = station.play(station.own, "--from", "00:00:05", "--to", "00:01:30")
    assert r.returncode == 0, r.stderr
    assert f"{station.own['id']} (sha256 {station.own['sha256']}) verified and played" in r.stdout

    got = station.played()
    assert got is not None
    path = Path(got["argv"][-1])
    assert got["sha256"] == station.own["sha256"]
    assert got["mode"] == 0o600 and got["folder_mode"] == 0o700
    assert path.parent.parent == station.tmpdir, "the private copy is made in the temporary folder"
    assert not path.exists() and not path.parent.exists(), "the private copy is removed afterwards"
    # the access event was in the log when the player started
    [access] = got["accessed_before"]
    assert access["actor"] == ACTOR and access["reason"] == "review of case C1"
    assert access["recording_id"] == station.own["id"]
    assert access["details"]["how"] == "play" and access["details"]["role"] == "supervisor"
    assert access["details"]["recordings"] == [{"id": station.own["id"], "sha256": station.own["sha256"]}]
    assert access["details"]["range"] == {"from": "00:00:05", "to": "00:01:30"}
    # only that event: a successful viewing has no second one
    assert [e["seq"] for e in events(station.db_url, "accessed")] == [access["seq"]]


def test_the_trust_file_can_come_from_the_configuration(station: Station) -> None:
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    env = station.env | {"RECORDER_SYNC_TRUST_FILE": str(station.trust)}
    r = replay(env, "play", station.own["id"], "--player", str(station.player), "--reason", "check")
    assert r.returncode == 0, r.stderr
    r = replay(station.env, "play", station.own["id"], "--player", str(station.player), "--reason", "check")
    assert r.returncode == 2 and "--trust FILE" in r.stderr and "trust_file" in r.stderr


def test_a_flipped_byte_in_the_stored_object_is_never_played(station: Station) -> None:
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    sha = station.own["sha256"]
    [stored] = (station.tmp / "home" / "vault").rglob(sha)
    stored.chmod(0o600)
    data = bytearray(stored.read_bytes())
    data[100] ^= 0x01
    stored.write_bytes(bytes(data))

    r = station.play(station.own)
    assert r.returncode == 3, r.stderr
    assert "Integrity failure" in r.stderr
    assert station.played() is None, "the player never started"
    access, outcome = events(station.db_url, "accessed")
    assert access["details"]["how"] == "play" and access["reason"] == "review of case C1"
    assert outcome["details"]["access_seq"] == access["seq"]
    assert outcome["details"]["outcome"] == "integrity-failure"
    assert sha in outcome["details"]["problem"]
    [flag] = [f for f in run_json(station.env, "flags") if f["kind"] == "integrity-failure"]
    assert flag["subject"] == f"recording:{station.own['id']}" and "not played" in flag["detail"]
    assert not list(station.tmpdir.glob("recorder-replay-*/" + sha))


def test_a_copy_signed_by_a_key_the_trust_file_does_not_hold_is_never_played(station: Station) -> None:
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    from recorder_sync.adapters.keys import create_key

    stranger = create_key(station.tmp / "other" / "k.key")
    station.trust.write_bytes(trust_for(stranger.key_id, stranger.public_key_pem()))
    r = station.play(station.own)
    assert r.returncode == 3 and "not a key of the trust anchors" in r.stderr, r.stderr
    assert station.played() is None
    assert [e["details"].get("outcome") for e in events(station.db_url, "accessed")] == [
        None,
        "integrity-failure",
    ]


@pytest.mark.slow
def test_refusals_exit_2_and_serve_nothing(station: Station) -> None:
    # no roster entry at all
    r = station.play(station.own)
    assert r.returncode == 2
    assert (
        f"Access refused: {ACTOR} is not in the roster; `play` needs the role officer or supervisor"
        in r.stderr
    )
    # an auditor reviews the log, not the footage
    set_roster(station.env, station.tmp, f"{USER},,auditor,")
    r = station.play(station.own)
    assert (
        r.returncode == 2 and "has the role auditor; `play` needs the role officer or supervisor" in r.stderr
    )
    r = replay(station.env, "find")
    assert r.returncode == 2 and "`find` needs the role" in r.stderr
    # a supervisor without a reason
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    r = replay(station.env, "play", station.own["id"], "--player", str(station.player))
    assert r.returncode == 2 and "--reason" in r.stderr
    r = station.play(station.own, reason="   ")
    assert r.returncode == 2 and "say why with --reason" in r.stderr
    # ffplay without a display: said so, export suggested, before anything is logged
    r = replay(station.env, "play", station.own["id"], "--trust", str(station.trust), "--reason", "x")
    assert r.returncode == 2 and "no display" in r.stderr and "recorder-replay export" in r.stderr
    assert station.played() is None
    # a URL is an S3 feature
    r = replay(station.env, "url", station.own["id"], "--reason", "x", "--trust", str(station.trust))
    assert r.returncode == 2 and "S3 presigned URLs" in r.stderr
    assert events(station.db_url, "accessed") == []


def test_an_officer_replays_only_their_own_recordings_and_that_is_logged(station: Station) -> None:
    set_roster(station.env, station.tmp, f"{USER},031245,officer,Unit 1")
    r = station.play(station.other)
    assert r.returncode == 2 and "an officer may replay only their own recordings" in r.stderr
    assert station.played() is None and events(station.db_url, "accessed") == []
    r = station.play(station.own, reason="writing my report")
    assert r.returncode == 0, r.stderr
    [access] = events(station.db_url, "accessed")
    assert access["details"]["role"] == "officer" and access["reason"] == "writing my report"
    # an officer's search finds their own footage only
    assert [f["id"] for f in replay_json(station.env, "find")] == [station.own["id"]]
    assert replay_json(station.env, "find", "--officer", "099999") == []


def test_find_filters_shows_corrected_times_links_flags_and_is_logged_as_a_search(station: Station) -> None:
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    found = replay_json(station.env, "find")
    assert [f["id"] for f in found] == [station.own["id"], station.other["id"]]
    own = found[0]
    assert own["start"] == "2026-11-27T00:30:15+00:00" and own["clock_correction_s"] is None
    assert own["state"] in ("verified", "released") and own["sha256"] == station.own["sha256"]
    assert own["links"] == [{"action_id": "A1", "confidence": "auto"}]
    assert own["flags"] == ["unreadable-media"]  # not a real MP4

    for args, expected in (
        (("--case", "C1"), [station.own["id"]]),
        (("--action", "A1"), [station.own["id"]]),
        (("--target", "Zhang San"), [station.own["id"]]),
        (("--officer", "099999"), [station.other["id"]]),
        (("--device", "DSJ-B2"), [station.other["id"]]),
        (("--from", "2026-11-27T08:50:00+08:00"), [station.other["id"]]),
        (("--to", "2026-11-27T08:50:00+08:00"), [station.own["id"]]),
        (("--case", "C9"), []),
    ):
        assert [f["id"] for f in replay_json(station.env, "find", *args)] == expected, args
    table = replay(station.env, "find", "--case", "C1")
    assert table.returncode == 0, table.stderr
    assert "2026-11-27 08:30:15+08:00" in table.stdout and "A1(auto)" in table.stdout
    r = replay(station.env, "find", "--from", "yesterday")
    assert r.returncode == 2 and "--from 'yesterday'" in r.stderr

    searches = events(station.db_url, "searched")
    assert searches[-1]["actor"] == ACTOR and searches[-1]["details"]["query"] == {"case_id": "C1"}
    assert "reason" not in searches[-1]
    assert events(station.db_url, "accessed") == []


def test_find_shows_the_clock_correction_of_a_camera_that_ran_ahead(tmp_path: Path, db_url: str) -> None:
    env = env_for(tmp_path / "home", db_url)
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / OWN).write_bytes(b"evidence " * 400)
    docked = datetime.now(UTC).replace(microsecond=0)
    camera = (docked + timedelta(seconds=90)).astimezone(UTC).isoformat()
    (dock / "clock.json").write_text(json.dumps({"device": "DSJ-A1", "camera_time": camera}), "utf-8")
    os.utime(dock / "clock.json", (docked.timestamp(), docked.timestamp()))
    assert run(env, "ingest", str(dock), "--stable-seconds", "0").returncode == 0
    set_roster(env, tmp_path, f"{USER},,supervisor,")
    [found] = [f for f in replay_json(env, "find") if f["device"] == "DSJ-A1"]
    assert found["camera_start"] == "2026-11-27T00:30:15+00:00"
    assert found["start"] == "2026-11-27T00:28:45+00:00" and found["clock_correction_s"] == -90.0
    table = replay(env, "find", "--device", "DSJ-A1")
    assert "2026-11-27 08:28:45+08:00" in table.stdout and "-90 s" in table.stdout, table.stdout
    # the corrected time is what --from/--to select on
    assert replay_json(env, "find", "--to", "2026-11-27T08:29:00+08:00") != []


def test_a_player_that_fails_is_recorded_by_a_second_event(station: Station) -> None:
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    station.env["PLAYER_EXIT"] = "4"
    r = station.play(station.own)
    assert r.returncode == 1 and "exited with status 4" in r.stderr
    access, outcome = events(station.db_url, "accessed")
    assert outcome["details"] == {
        "via": "recorder-replay",
        "access_seq": access["seq"],
        "outcome": "player-failed",
        "problem": f"{station.player} exited with status 4",
    }


def test_replay_help_lists_its_commands_and_exit_codes() -> None:
    r = subprocess.run([REPLAY, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "find" in r.stdout and "play" in r.stdout and "exit codes:" in r.stdout


def test_timeline_of_an_action_marks_gaps_and_officers_without_footage(station: Station) -> None:
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    # A1 again: 031245 (filmed at 08:30:15) and 077777 (no footage), from 08:30 to 08:31
    actions = station.tmp / "a1.csv"
    actions.write_text(
        ACTIONS.splitlines()[0]
        + "\nC1,A1,seizure,Unit 1,031245;077777,2026-11-27T08:30:00+08:00,2026-11-27T08:31:00+08:00,,,\n",
        encoding="utf-8",
    )
    assert run(station.env, "cases", "import", str(actions)).returncode == 0
    out = station.tmp / "a1.html"
    [timeline] = replay_json(station.env, "timeline", "--action", "A1", "--html", str(out))
    assert timeline["missing_officers"] == ["077777"]
    lanes = {(lane["officer"], lane["device"]): lane for lane in timeline["lanes"]}
    [bar] = lanes[("031245", "DSJ-A1")]["bars"]
    # the file is no real video: no duration, so its footage is the instant it started
    assert bar["recording_id"] == station.own["id"] and bar["start"] == "2026-11-27T00:30:15+00:00"
    assert lanes[("077777", None)]["missing"]
    assert timeline["gaps"] == [
        {"start": "2026-11-27T00:30:00+00:00", "end": "2026-11-27T00:30:15+00:00"},
        {"start": "2026-11-27T00:30:15+00:00", "end": "2026-11-27T00:31:00+00:00"},
    ]
    page = out.read_text(encoding="utf-8")
    assert f'data-recording="{station.own["id"]}"' in page and 'class="gap"' in page

    shown = replay(station.env | {"COLUMNS": "100"}, "timeline", "--case", "C1")
    assert shown.returncode == 0, shown.stderr
    assert "officer 077777 (no footage)" in shown.stdout and "2 gap(s)" in shown.stdout
    assert max(len(line) for line in shown.stdout.splitlines()) <= 100

    [search] = [e for e in events(station.db_url, "searched") if e["details"]["query"] == {"case_id": "C1"}]
    assert search["details"]["command"] == "timeline" and search["actor"] == ACTOR
    r = replay(station.env, "timeline")
    assert r.returncode == 2 and "give one of --action A, --case C" in r.stderr
    r = replay(station.env, "timeline", "--action", "A9")
    assert r.returncode == 6 and "action 'A9'" in r.stderr


def test_a_timeline_page_is_never_written_into_a_dock(station: Station) -> None:
    """A page written into a dock would be ingested by the next `ingest` as camera footage."""
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    dock = station.tmp / "dock2"
    dock.mkdir()
    config = station.tmp / "replay.toml"
    config.write_text(f'[[docks]]\nname = "bay1"\npath = "{dock}"\n', encoding="utf-8")
    env = station.env | {"RECORDER_SYNC_CONFIG": str(config)}
    r = replay(env, "timeline", "--action", "A1", "--html", str(dock / "a1.html"))
    assert r.returncode == 2 and f"--html {dock} is inside dock 'bay1' ({dock})" in r.stderr, r.stderr
    assert list(dock.iterdir()) == [] and events(station.db_url, "searched") == []
    page = station.tmp / "a1.html"  # outside the docks: written as before
    assert replay(env, "timeline", "--action", "A1", "--html", str(page)).returncode == 0
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    value: dict[str, Any] = json.loads(out.stdout)
    return value


def test_export_trims_by_stream_copy_with_signed_provenance(tmp_path: Path, db_url: str) -> None:
    import sample_dock

    from recorder_sync.domain.signatures import verify_signature

    home = tmp_path / "home"
    env = env_for(home, db_url)
    dock = tmp_path / "dock"
    dock.mkdir()
    start = datetime(2026, 11, 27, 8, 30, 15, tzinfo=ZoneInfo("Asia/Shanghai"))
    name = sample_dock.default_name("DSJ-A1", "031245", start.replace(tzinfo=None), 1, "MP4")
    sample_dock.make_video(dock / name, start=start, seconds=6.0, label="export test")
    assert run(env, "ingest", str(dock), "--stable-seconds", "0").returncode == 0
    [rec] = run_json(env, "list")
    set_roster(env, tmp_path, f"{USER},,supervisor,")
    trust = station_trust(home, tmp_path)
    signer = load_key(home / "keys" / "station.key")
    stored = home / "vault" / media_key(rec["sha256"])
    out = tmp_path / "out"
    out.mkdir()
    args = ["export", rec["id"], "--from", "00:00:02", "--to", "00:00:04", "--out", str(out)]
    r = replay(env, *args, "--trust", str(trust), "--reason", "court request 17")
    assert r.returncode == 0, r.stderr

    clip = out / f"{rec['id']}_00-00-02_00-00-04.mp4"
    provenance = (out / (clip.name + ".provenance.json")).read_bytes()
    verify_signature(
        signer.public_key_pem(), provenance, (out / (clip.name + ".provenance.sig")).read_bytes()
    )
    doc = json.loads(provenance)
    assert doc["sources"] == [
        {
            "recording_id": rec["id"],
            "sha256": rec["sha256"],
            "manifest_sha256": doc["sources"][0]["manifest_sha256"],
        }
    ]
    assert doc["output"] == {
        "name": clip.name,
        "sha256": hashlib.sha256(clip.read_bytes()).hexdigest(),
        "size": clip.stat().st_size,
    }
    assert doc["operations"] == [{"op": "trim", "mode": "stream-copy", "from": "00:00:02", "to": "00:00:04"}]
    assert doc["tool"].startswith("ffmpeg version") and "copy" in doc["command"] and "INPUT" in doc["command"]
    assert not [part for part in doc["command"] if str(tmp_path) in part or "recorder-replay-" in part]
    assert (doc["exported_by"], doc["reason"], doc["key_id"]) == (ACTOR, "court request 17", signer.key_id)

    source, derived = ffprobe(stored), ffprobe(clip)
    assert float(derived["format"]["duration"]) < float(source["format"]["duration"]) - 1
    # a stream copy: the same codecs, no re-encoding
    assert [s["codec_name"] for s in derived["streams"]] == [s["codec_name"] for s in source["streams"]]
    # the original is untouched
    assert hashlib.sha256((stored).read_bytes()).hexdigest() == rec["sha256"]
    [event] = events(db_url, "exported")
    assert event["seq"] == doc["access_seq"] and event["reason"] == "court request 17"
    assert event["details"]["range"] == {"from": "00:00:02", "to": "00:00:04"}

    # the same export again would overwrite: refused before anything is logged
    r = replay(env, *args, "--trust", str(trust), "--reason", "again")
    assert r.returncode == 2 and "exists already" in r.stderr
    assert len(events(db_url, "exported")) == 1


def test_an_export_ffmpeg_cannot_cut_leaves_nothing_and_a_second_event(station: Station) -> None:
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    out = station.tmp / "out"
    out.mkdir()
    args = [
        "export",
        station.own["id"],
        "--from",
        "00:00:01",
        "--out",
        str(out),
        "--trust",
        str(station.trust),
    ]
    r = replay(station.env, *args, "--reason", "court request")
    assert r.returncode == 2 and "ffmpeg could not make a clip" in r.stderr, r.stderr
    assert list(out.iterdir()) == []
    access, outcome = events(station.db_url, "exported")
    assert outcome["details"]["access_seq"] == access["seq"] and outcome["details"]["outcome"] == "failed"


@pytest.mark.slow
def test_the_access_report_finds_a_planted_self_access_and_footage_of_no_case(station: Station) -> None:
    # officer 031245 views the footage of A1, in which they took part (a self-access)
    set_roster(station.env, station.tmp, f"{USER},031245,officer,Unit 1")
    assert station.play(station.own, reason="writing my report").returncode == 0
    # later a supervisor views a recording linked to no action
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    assert station.play(station.other, reason="spot check").returncode == 0
    r = replay(station.env, "access-report")
    assert r.returncode == 0, r.stderr
    # the two planted findings; an out-of-hours one comes on top when the test runs outside
    # the default office hours (08:00-18:00, station time), so the count is checked below
    assert "self-access" in r.stdout and "no-link-access" in r.stdout, r.stdout

    set_roster(station.env, station.tmp, f"{USER},,auditor,")  # auditors review the log
    report = replay_json(station.env, "access-report")
    first, second = report["accesses"]
    assert (first["user"], first["how"], first["reason"], first["officer"]) == (
        ACTOR,
        "play",
        "writing my report",
        "031245",
    )
    assert first["recordings"] == [{"id": station.own["id"], "sha256": station.own["sha256"]}]
    assert second["recordings"][0]["id"] == station.other["id"] and second["outcome"] == "served"
    planted = [f for f in report["findings"] if f["kind"] != "out-of-hours-access"]
    assert len(report["findings"]) - len(planted) <= len(report["accesses"])  # at most one per access
    self_access, no_link = planted
    assert self_access["kind"] == "self-access" and self_access["access_seq"] == first["seq"]
    assert (self_access["action_id"], self_access["officer"], self_access["after_action_end"]) == (
        "A1",
        "031245",
        True,
    )
    assert no_link["kind"] == "no-link-access" and no_link["recording_id"] == station.other["id"]

    assert [
        a["seq"] for a in replay_json(station.env, "access-report", "--officer", "031245")["accesses"]
    ] == [first["seq"]]
    assert replay_json(station.env, "access-report", "--user", "nobody") == {"accesses": [], "findings": []}
    assert replay_json(station.env, "access-report", "--to", "2026-01-01T00:00:00+00:00")["accesses"] == []
    csv_out = replay(station.env, "access-report", "--csv")
    assert csv_out.returncode == 0 and csv_out.stdout.splitlines()[0] == (
        "seq,at,user,how,recordings,range,reason,outcome,findings"
    )
    assert f"self-access:{station.own['id']}" in csv_out.stdout
    # an auditor may read the log, not the footage; an officer may not read the log
    assert station.play(station.own).returncode == 2
    set_roster(station.env, station.tmp, f"{USER},031245,officer,")
    r = replay(station.env, "access-report")
    assert r.returncode == 2 and "`access-report` needs the role auditor or supervisor" in r.stderr


STUCK_PLAYER = """#!/bin/sh
# a player that says which file it was given, then plays until told to stop
printf '%s' "$1" > "$READY.part" && mv "$READY.part" "$READY"
read line < "$STOP"
"""


def _stop_player(stop: Path) -> None:
    """Let a player still waiting on ``stop`` end (one orphaned by a SIGKILL)."""
    try:
        fd = os.open(stop, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:  # ENXIO: no player waits on it any more
        assert e.errno == errno.ENXIO, e
        return
    with os.fdopen(fd, "w") as f:
        f.write("stop\n")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_replay_stopped_while_playing_leaves_no_private_copy_behind(
    station: Station, signum: signal.Signals
) -> None:
    """SIGTERM: the player is stopped, the copy removed, the access's outcome is `interrupted`.
    SIGKILL cannot be handled: the copy stayed in TMPDIR for good; the next replay of that
    account removes it (its process is gone)."""
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    ready, stop = station.tmp / "ready", station.tmp / "stop"
    os.mkfifo(stop)
    player = station.tmp / "stuck.sh"
    player.write_text(STUCK_PLAYER, encoding="utf-8")
    player.chmod(0o755)
    env = station.env | {"READY": str(ready), "STOP": str(stop)}
    args = ["play", station.own["id"], "--player", str(player), "--trust", str(station.trust)]
    proc = subprocess.Popen([REPLAY, *args, "--reason", "review"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():  # the player has the verified copy
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.05)
        copy = Path(ready.read_text(encoding="utf-8"))
        assert copy.is_file() and copy.parent.parent == station.tmpdir
        proc.send_signal(signum)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        _stop_player(stop)
        assert proc.stderr is not None
        proc.stderr.close()
    if signum == signal.SIGTERM:
        assert proc.returncode == 130
        assert not copy.parent.exists(), "the private copy is removed"
        access, outcome = events(station.db_url, "accessed")
        assert outcome["details"] == {
            "via": "recorder-replay",
            "access_seq": access["seq"],
            "outcome": "interrupted",
            "problem": "SIGTERM",
        }
        return
    assert proc.returncode == -signal.SIGKILL
    r = station.play(station.own)  # the next replay of that account
    assert r.returncode == 0, r.stderr
    assert not copy.parent.exists(), "the killed replay's private copy is removed"
    assert f"removed {copy.parent}, a private copy of evidence left by a replay that was killed" in r.stderr
    assert list(station.tmpdir.iterdir()) == []


def test_a_stored_object_gone_from_the_vault_is_an_integrity_failure_not_a_typo(station: Station) -> None:
    """It was `Not found: sha256/… in vault …` (exit 6, as for a mistyped name), and no flag:
    evidence missing from the store went unnoticed by everyone but the person who asked."""
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    sha = station.own["sha256"]
    [stored] = (station.tmp / "home" / "vault").rglob(sha)
    stored.chmod(0o600)
    stored.unlink()

    r = station.play(station.own)
    assert r.returncode == 3, r.stderr
    assert (
        f"Integrity failure for {station.own['id']}: expected sha256 {sha}, found no stored copy" in r.stderr
    )
    assert station.played() is None, "the player never started"
    access, outcome = events(station.db_url, "accessed")
    assert outcome["details"]["access_seq"] == access["seq"]
    assert outcome["details"]["outcome"] == "integrity-failure"
    [flag] = [f for f in run_json(station.env, "flags") if f["kind"] == "integrity-failure"]
    assert flag["subject"] == f"recording:{station.own['id']}" and flag["severity"] == "critical"
    assert "no stored copy" in flag["detail"] and "not played" in flag["detail"]
    assert list(station.tmpdir.iterdir()) == []


def test_a_fifo_in_the_stored_objects_place_is_an_integrity_failure_not_a_hang(station: Station) -> None:
    """The replay blocked for ever opening it, its access logged and nothing ever served."""
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    [stored] = (station.tmp / "home" / "vault").rglob(station.own["sha256"])
    stored.chmod(0o600)
    stored.unlink()
    os.mkfifo(stored)
    r = run_script(
        "recorder-replay",
        station.env,
        *("play", station.own["id"], "--player", str(station.player), "--trust", str(station.trust)),
        *("--reason", "review"),
        timeout=120,
    )
    assert r.returncode == 3 and "found no stored copy" in r.stderr and "a FIFO in its place" in r.stderr
    assert station.played() is None
    _, outcome = events(station.db_url, "accessed")
    assert outcome["details"]["outcome"] == "integrity-failure"


@pytest.mark.parametrize("command", ["find", "access-report"])
def test_a_period_that_ends_before_it_starts_is_refused_not_answered_empty(
    station: Station, command: str
) -> None:
    """access-report over 28 to 27 November said `findings: 0` (exit 0), as if no one had
    looked at anything; find said nothing was recorded."""
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    assert station.play(station.own).returncode == 0  # an access the report must not hide
    r = replay(
        station.env, command, "--from", "2026-11-28T00:00:00+08:00", "--to", "2026-11-27T00:00:00+08:00"
    )
    assert r.returncode == 2, r.stdout
    assert f"{command}: --to 2026-11-26T16:00:00+00:00 is before --from 2026-11-27T16:00:00+00:00" in r.stderr
    assert events(station.db_url, "searched") == []


def test_the_actor_is_the_account_running_the_command_never_user_or_logname(station: Station) -> None:
    """Held: setting $USER and $LOGNAME to someone in the roster neither lets one in nor
    changes who the access event names."""
    set_roster(station.env, station.tmp, "mallory,,supervisor,")
    env = station.env | {"USER": "mallory", "LOGNAME": "mallory"}
    args = ["play", station.own["id"], "--player", str(station.player), "--trust", str(station.trust)]
    r = replay(env, *args, "--reason", "review")
    assert r.returncode == 2 and f"{ACTOR} is not in the roster" in r.stderr, r.stderr
    set_roster(station.env, station.tmp, "mallory,,supervisor,", f"{USER},,supervisor,")
    assert replay(env, *args, "--reason", "review").returncode == 0
    [access] = events(station.db_url, "accessed")
    assert access["actor"] == ACTOR
