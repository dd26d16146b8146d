"""Two stations that see one dock folder (a network mount) and share one PostgreSQL and one
vault: the dock locks cannot meet (each machine has its own lock folder), so only the work
claims keep them apart. Real ``recorder-sync run`` processes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from clirunner import env_for, run_json
from sqlalchemy import text
from sqlalchemy.engine import Engine
from test_daemon import Systemd, start, wait_until_done

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain.custody import verify_chain
from recorder_sync.domain.layout import media_key


@pytest.fixture
def pg_url(pg_server_url: str) -> object:
    from conftest import pg_database

    with pg_database(pg_server_url) as url:
        yield url


def station(tmp_path: Path, name: str, db_url: str, **extra: str) -> dict[str, str]:
    """Its own home, key and lock folder (another machine); the shared database and vault."""
    return env_for(
        tmp_path / name,
        db_url,
        RECORDER_SYNC_STATION_ID=f"st-{name}",
        RECORDER_SYNC_LOCK_DIR=str(tmp_path / f"locks-{name}"),
        RECORDER_SYNC_VAULT_PATH=str(tmp_path / "vault"),
        RECORDER_SYNC_RELEASE_POLICY="delete",
        **extra,
    )


def files(dock: Path, n: int, size: int) -> dict[str, str]:
    """``n`` files of their own content; their SHA-256 by name."""
    dock.mkdir(exist_ok=True)
    digests = {}
    for i in range(n):
        data = os.urandom(size) + bytes([i])
        (dock / f"clip{i}.bin").write_bytes(data)
        digests[f"clip{i}.bin"] = hashlib.sha256(data).hexdigest()
    return digests


def check_once(db_url: str, vault: Path, digests: dict[str, str]) -> Counter[tuple[str, str]]:
    """Every file hashed, stored, verified and released exactly once; no duplicate-seen; the
    chain intact. Returns the custody actions by (action, station)."""
    events = SqlCatalog(make_engine(db_url), station="x", actor="x").events()
    assert verify_chain(events) == len(events)
    fields = [e.fields for e in events]
    assert [f for f in fields if f["action"] == "duplicate-seen"] == []
    hashed = Counter(f["subject"] for f in fields if f["action"] == "hashed")
    assert hashed == Counter({f"dock:dock/{name}": 1 for name in digests}), hashed
    released = Counter(f["subject"] for f in fields if f["action"] == "released")
    assert released == Counter({f"dock:dock/{name}": 1 for name in digests}), released
    for action in ("probed", "signed", "stored", "verified"):
        per_rec = Counter(f["recording_id"] for f in fields if f["action"] == action)
        assert sorted(per_rec.values()) == [1] * len(digests), (action, per_rec)
    for digest in digests.values():
        assert hashlib.sha256((vault / media_key(digest)).read_bytes()).hexdigest() == digest
    return Counter((f["action"], f["station"]) for f in fields)


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.mark.slow
def test_two_stations_on_one_dock_folder_hash_and_store_each_file_once(tmp_path: Path, pg_url: str) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    env_a, env_b = station(tmp_path, "a", pg_url), station(tmp_path, "b", pg_url)
    a = start(env_a, dock, tmp_path / "a.log", Systemd())
    b = start(env_b, dock, tmp_path / "b.log", Systemd())
    digests: dict[str, str] = {}
    try:
        # neither stands by: the flocks are on different machines, so both ingest the dock
        for log in ("a.log", "b.log"):
            assert "ready: ingesting 1 dock(s)" in (tmp_path / log).read_text()
        # docked while both run, in two rounds: both daemons find each file at once
        for round_ in range(2):
            staging = tmp_path / f"staging{round_}"
            made = files(staging, 8, (3 << 20) if round_ else (1 << 20))
            for name, digest in made.items():
                (staging / name).rename(dock / f"{round_}-{name}")
                digests[f"{round_}-{name}"] = digest
            wait_until_done(env_a, dock, timeout=180)
    finally:
        stop(a, b)
    assert (a.returncode, b.returncode) == (0, 0), (tmp_path / "a.log").read_text()
    check_once(pg_url, tmp_path / "vault", digests)
    assert run_json(env_b, "status")["backlog"] == 0
    for env in (env_a, env_b):
        kinds = {f["kind"] for f in run_json(env, "flags", "--all")}
        assert not kinds & {"source-unavailable", "file-vanished", "source-changed"}, kinds


BIG = 2 << 30  # sparse: some seconds to hash, so that its claim is renewed meanwhile


def _claimed_by(engine: Engine, relpath: str) -> str | None:
    with engine.connect() as c:
        found: str | None = c.execute(
            text("SELECT claimed_by FROM sightings WHERE relpath = :p"), {"p": relpath}
        ).scalar()
        return found


def _wait_for(logs: list[Path], word: bytes, procs: list[subprocess.Popen[bytes]]) -> int:
    """The index of the first log that shows ``word``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for i, log in enumerate(logs):
            if word in log.read_bytes():
                return i
        assert all(p.poll() is None for p in procs), [log.read_text() for log in logs]
        time.sleep(0.01)
    raise AssertionError(f"{word!r} not logged: {[log.read_text() for log in logs]}")


@pytest.mark.slow
def test_when_one_station_is_killed_mid_hash_the_other_takes_its_work_over(
    tmp_path: Path, pg_url: str
) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    envs = [station(tmp_path, name, pg_url, RECORDER_SYNC_CLAIM_SECONDS="3") for name in ("a", "b")]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start(env, dock, log, Systemd()) for env, log in zip(envs, logs, strict=True)]
    try:
        # sparse: long to hash, nothing to write; a few small files beside it
        big = dock / "big.bin"
        with big.open("wb") as f:
            f.truncate(BIG)
        digests = files(dock, 3, 1 << 20)
        zeros = hashlib.sha256()
        for _ in range(BIG >> 20):
            zeros.update(bytes(1 << 20))
        digests["big.bin"] = zeros.hexdigest()
        holder = _wait_for(logs, b"hashing dock/big.bin", procs)
        other = 1 - holder
        # the file is the holder's alone: its claim is in the database, the other does not read it
        claim = f"st-{'ab'[holder]}/{procs[holder].pid}/"
        engine = make_engine(pg_url)
        deadline = time.monotonic() + 60
        while not (_claimed_by(engine, "big.bin") or "").startswith(claim):
            assert time.monotonic() < deadline, (_claimed_by(engine, "big.bin"), claim)
            time.sleep(0.01)
        os.kill(procs[holder].pid, signal.SIGKILL)
        procs[holder].wait()
        at_kill = logs[other].stat().st_size
        # the survivor finds the claim live, waits for it to lapse, then hashes the file itself
        wait_until_done(envs[other], dock, timeout=240)
        said = logs[other].read_bytes()
        assert said.count(b"hashing dock/big.bin") == 1, said.decode()
        assert said.index(b"hashing dock/big.bin") >= at_kill, said.decode()
    finally:
        stop(*procs)
    assert procs[other].returncode == 0, logs[other].read_text()
    actions = check_once(pg_url, tmp_path / "vault", digests)
    # the killed one's hash never reached the database; the survivor did it
    assert actions[("hashed", f"st-{'ab'[other]}")] >= 1
