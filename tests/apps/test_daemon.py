"""The daemon as a real process: watches a dock, survives SIGKILL anywhere, stops cleanly on SIGTERM."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sample_dock
from clirunner import EXE, env_for, run, run_json

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.repository import Catalog
from recorder_sync.domain.custody import verify_chain
from recorder_sync.domain.layout import media_key


def start(env: dict[str, str], dock: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [EXE, "-v", "run", "--dock", str(dock), "--stable-seconds", "0.3"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def wait_until_done(env: dict[str, str], dock: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        remaining = [p for p in dock.rglob("*") if p.is_file()]
        if not remaining:
            status = run_json(env, "status")
            if status["backlog"] == 0:
                return
        time.sleep(0.3)
    raise AssertionError(f"not done after {timeout}s: {remaining}")


def test_daemon_ingests_new_files_and_stops_on_sigterm(tmp_path: Path, db_url: str) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    env = env_for(tmp_path / "home", db_url, RECORDER_SYNC_RECONCILE_SECONDS="3600")
    log = tmp_path / "daemon.log"
    proc = start(env, dock, log)
    try:
        time.sleep(1.5)
        # arrives while the daemon runs: found through the watcher, not the start-up scan
        start_at = sample_dock.sample_plan()[0].start
        sample_dock.make_video(dock / "DSJ-A1_031245_20261127083015_0001.MP4", start=start_at, seconds=2)
        wait_until_done(env, dock, timeout=60)
        recs = run_json(env, "list")
        assert [(r["device"], r["state"]) for r in recs] == [("DSJ-A1", "released")]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "stopped cleanly" in log.read_text()


def test_sigkill_at_random_moments_loses_nothing_and_stores_once(tmp_path: Path, db_url: str) -> None:
    dock = tmp_path / "dock"
    sample_dock.build_sample_dock(dock)
    rng = random.Random(20261128)
    for i in range(5):  # larger files, so that kills land inside hashing, storing and verifying
        (dock / f"DSJ-BIG{i}_031250_20261127120000_000{i}.MP4").write_bytes(rng.randbytes(48 * 1024 * 1024))
    before = {hashlib.sha256(p.read_bytes()).hexdigest() for p in dock.rglob("*") if p.is_file()}
    env = env_for(tmp_path / "home", db_url)
    log = tmp_path / "daemon.log"
    in_flight: list[dict[str, int]] = []
    for _ in range(12):
        offset = log.stat().st_size if log.exists() else 0
        proc = start(env, dock, log)
        # kill at a random moment once the daemon is at work on something
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if any(
                w in log.read_bytes()[offset:]
                for w in (b" hashing ", b" storing ", b" verified ", b" signed ")
            ):
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        status = run_json(env, "status")
        if status["backlog"]:
            in_flight.append(status["recordings"] | status["sightings"])
        if not any(p.is_file() for p in dock.rglob("*")):
            break
    # the kills interrupted real work: evidence was caught mid-pipeline several times
    assert len(in_flight) >= 3, in_flight
    proc = start(env, dock, log)
    try:
        wait_until_done(env, dock, timeout=180)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0

    vault = tmp_path / "home" / "vault"
    stored = {p.name for p in (vault / "sha256").rglob("*") if p.is_file() and "." not in p.name}
    assert stored == before  # every file, nothing else
    for digest in before:
        assert hashlib.sha256((vault / media_key(digest)).read_bytes()).hexdigest() == digest
    assert not [p for p in (vault / "tmp").iterdir()] if (vault / "tmp").exists() else True

    catalog = Catalog(make_engine(db_url), station="x", actor="x")
    events = catalog.events()
    assert verify_chain(events) == len(events)
    per_rec = Counter((e.fields.get("recording_id"), e.fields["action"]) for e in events)
    recs = run_json(env, "list")
    assert {r["sha256"] for r in recs} == before
    for r in recs:
        assert r["state"] == "released"
        for action in ("hashed", "probed", "signed", "stored", "verified"):
            assert per_rec[(r["id"], action)] == 1, (r["id"], action, json.dumps(r))


def test_daemon_sweeps_deadlines_and_resolves_when_footage_arrives(tmp_path: Path, db_url: str) -> None:
    """The daemon's own tick: a seizure three days ago with no footage is flagged while the
    daemon runs; the late footage then docks, is linked, resolves the flag, and the upload
    counts as late."""
    dock = tmp_path / "dock"
    dock.mkdir()
    env = env_for(tmp_path / "home", db_url, RECORDER_SYNC_RECONCILE_SECONDS="3600")
    shanghai = ZoneInfo("Asia/Shanghai")
    start_at = (datetime.now(tz=shanghai) - timedelta(days=3)).replace(microsecond=0)
    end_at = start_at + timedelta(seconds=3)
    actions = tmp_path / "actions.csv"
    actions.write_text(
        "case_id,action_id,action_type,unit,officers,start,end,target_id,target_name,place\n"
        f"C-1,A-1,seizure,Unit 3,031245,{start_at.isoformat()},{end_at.isoformat()},P-1,某某商贸,Road 8\n",
        encoding="utf-8",
    )
    r = run(env, "cases", "import", str(actions))
    assert r.returncode == 0, r.stderr
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        # the default period (300 s): the sweep at start raises the flag, and the one right
        # after the late footage is ingested settles it
        [EXE, "-v", "run", "--dock", str(dock), "--stable-seconds", "0.3"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )

    def flags() -> set[tuple[str, str, str]]:
        return {(f["kind"], f["state"], f["subject"]) for f in run_json(env, "flags", "--all")}

    def wait_for(flag: tuple[str, str, str], timeout: float = 60) -> set[tuple[str, str, str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = flags()
            if flag in seen:
                return seen
            time.sleep(0.3)
        raise AssertionError(f"{flag} not seen after {timeout}s: {flags()}\n{log.read_text()}")

    try:
        missing = ("footage-missing", "open", "action:A-1:officer:031245")
        assert wait_for(missing) == {missing}
        name = f"DSJ-A1_031245_{start_at.strftime('%Y%m%d%H%M%S')}_0001.MP4"
        sample_dock.make_video(dock / name, start=start_at, seconds=3)
        wait_until_done(env, dock, timeout=60)
        [rec] = run_json(env, "list")
        late = ("upload-late", "resolved-late", f"recording:{rec['id']}")
        seen = wait_for(("footage-missing", "resolved", "action:A-1:officer:031245"))
        seen = wait_for(late)
        assert {f for f in seen if f[1] == "open"} == set(), seen
        [link] = run_json(env, "links", "--action", "A-1")
        assert (link["recording_id"], link["confidence"]) == (rec["id"], "auto")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()
