"""The custody log end to end with the real ``recorder-sync``: a checkpoint published after
each ingest, and a database rolled back behind what was published refused by ``run`` and
``ingest`` (exit 3) until an operator runs ``log acknowledge``."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from clirunner import EXE, env_for, run
from sqlalchemy import delete, func, select

from recorder_sync.adapters import keys
from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.db.schema import CustodyEventRow, LogNodeRow
from recorder_sync.domain import merkle
from recorder_sync.domain.checkpoint import NoteKey, open_checkpoint

ORIGIN = "recorder-sync/st-test"


def dock_with(path: Path, *names: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name in names:
        (path / name).write_bytes(os.urandom(3000) + name.encode())
    return path


def ingest(env: dict[str, str], dock: Path) -> None:
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr


def checkpoints(home: Path) -> dict[int, Path]:
    folder = home / "vault" / "log" / ORIGIN / "checkpoint"
    return {int(p.name): p for p in folder.iterdir()} if folder.exists() else {}


def log_of(db_url: str) -> SqlCatalog:
    return SqlCatalog(make_engine(db_url), station="st-test", actor="test")


def test_ingest_publishes_a_signed_checkpoint_read_only_in_the_vault(tmp_path: Path, db_url: str) -> None:
    home = tmp_path / "home"
    env = env_for(home, db_url)
    ingest(env, dock_with(tmp_path / "dock", "a.bin", "b.bin"))
    leaves = [bytes.fromhex(e.leaf_hash) for e in log_of(db_url).events()]
    (size, path), *more = checkpoints(home).items()
    assert not more and size == len(leaves)
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    key_file = home / "keys" / "log.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    log_key = NoteKey(ORIGIN, keys.load_key(key_file).public_raw())
    cp = open_checkpoint(path.read_bytes(), [log_key])
    assert (cp.origin, cp.size, cp.root) == (ORIGIN, len(leaves), merkle.root(leaves))
    ingest(env, dock_with(tmp_path / "dock", "c.bin"))
    assert sorted(checkpoints(home)) == [size, len(log_of(db_url).events())]


@pytest.mark.slow
def test_a_sqlite_file_put_back_from_an_older_copy_stops_run_and_ingest_until_acknowledged(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    db = home / "recorder-sync.db"
    env = env_for(home, f"sqlite:///{db}")
    ingest(env, dock_with(tmp_path / "d1", "a.bin"))
    old_size = max(checkpoints(home))
    shutil.copy2(db, tmp_path / "backup.db")
    ingest(env, dock_with(tmp_path / "d2", "b.bin"))
    published = max(checkpoints(home))
    assert published > old_size
    shutil.copy2(tmp_path / "backup.db", db)  # the older copy put back

    for args in (["run", "--dock", str(dock_with(tmp_path / "d3"))], ["ingest", str(tmp_path / "d3")]):
        r = run(env, *args, timeout=120)
        assert r.returncode == 3, (args, r.stderr)
        assert f"has {old_size} events, but a checkpoint of {published} was published" in r.stderr
        assert f"recorder-sync log acknowledge --size {published} --reason WHY" in r.stderr

    wrong = run(env, "log", "acknowledge", "--size", str(old_size), "--reason", "restored")
    assert wrong.returncode == 2 and f"is of {published} events, not {old_size}" in wrong.stderr
    ack = run(env, "log", "acknowledge", "--size", str(published), "--reason", "restored from the backup")
    assert ack.returncode == 0, ack.stderr
    assert f"published checkpoint of {published}" in ack.stdout
    acknowledged = [
        e.fields for e in log_of(f"sqlite:///{db}").events() if e.fields["action"] == "log-acknowledged"
    ]
    assert [(a["reason"], a["details"]["published_size"]) for a in acknowledged] == [
        ("restored from the backup", published)
    ]
    ingest(env, dock_with(tmp_path / "d4", "c.bin", "d.bin", "e.bin"))  # goes on, and signs again past it
    assert max(checkpoints(home)) > published


def test_deleting_the_logs_tail_on_postgresql_stops_run(tmp_path: Path, pg_server_url: str) -> None:
    from conftest import pg_database

    with pg_database(pg_server_url) as url:
        home = tmp_path / "home"
        env = env_for(home, url)
        ingest(env, dock_with(tmp_path / "d1", "a.bin"))
        published = max(checkpoints(home))
        c = log_of(url)
        with c.transaction() as s:
            s.execute(delete(CustodyEventRow).where(CustodyEventRow.seq > published - 3))
            s.execute(delete(LogNodeRow).where(LogNodeRow.level == 0, LogNodeRow.idx >= published - 3))
            assert s.scalar(select(func.count()).select_from(CustodyEventRow)) == published - 3
        c.engine.dispose()
        r = run(env, "run", "--dock", str(dock_with(tmp_path / "d2")), timeout=120)
        assert r.returncode == 3, r.stderr
        assert f"has {published - 3} events, but a checkpoint of {published} was published" in r.stderr


@pytest.mark.parametrize("size", ["0", "999"])
def test_acknowledging_what_is_not_wrong_is_refused(tmp_path: Path, size: str) -> None:
    home = tmp_path / "home"
    env = env_for(home, f"sqlite:///{home / 'db'}")
    ingest(env, dock_with(tmp_path / "d1", "a.bin"))
    r = run(env, "log", "acknowledge", "--size", str(max(checkpoints(home))), "--reason", "why not")
    assert r.returncode == 2 and "nothing to acknowledge" in r.stderr
    r = run(env, "log", "acknowledge", "--size", size, "--reason", "why not")
    assert r.returncode == 2 and "not " + size in r.stderr


def test_the_daemon_publishes_a_checkpoint_once_the_log_grew(tmp_path: Path) -> None:
    home = tmp_path / "home"
    db_url = f"sqlite:///{home / 'db'}"
    env = env_for(home, db_url, RECORDER_SYNC_LOG_CHECKPOINT_SECONDS="1")
    dock = dock_with(tmp_path / "dock", "a.bin")
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        [EXE, "-v", "run", "--dock", str(dock), "--stable-seconds", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    try:
        deadline = time.monotonic() + 120
        while True:  # until a checkpoint covers every event of the released file
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            if not list(dock.iterdir()) and checkpoints(home):
                c = log_of(db_url)
                actions = [e.fields["action"] for e in c.events()]
                c.engine.dispose()
                if "released" in actions and max(checkpoints(home)) >= actions.index("released") + 1:
                    break
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()
    assert "published checkpoint log/recorder-sync/st-test/checkpoint/" in log.read_text()
    c = log_of(db_url)
    assert max(checkpoints(home)) == len(c.events())  # the last one, at stop, covers the whole log
