"""What a first run creates is the service user's alone, whatever the umask: the real daemon
is started on an empty home with a permissive umask and every file and folder it made is
checked while it still holds the database open (so SQLite's -wal and -shm files exist)."""

from __future__ import annotations

import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from clirunner import EXE, env_for


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def wait_for(predicate: object, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask022", "umask000"])
def test_first_run_creates_home_vault_keys_and_database_private(tmp_path: Path, umask: int) -> None:
    home = tmp_path / "data" / "home"  # two folders to create: both must be private
    env = env_for(home, "unused")
    del env["RECORDER_SYNC_DATABASE_URL"]  # the embedded default: SQLite inside the home
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "note.txt").write_bytes(b"evidence\n")
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        [EXE, "-v", "run", "--dock", str(dock), "--stable-seconds", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        umask=umask,
    )
    try:
        db = home / "recorder-sync.db"
        # released: hashed, signed, stored, verified, so every file of ours exists by now
        wait_for(lambda: not (dock / "note.txt").exists(), proc, log)
        wait_for(lambda: Path(f"{db}-wal").exists() and Path(f"{db}-shm").exists(), proc, log)

        assert mode(tmp_path / "data") == 0o700
        folders = [home, *(p for p in home.rglob("*") if p.is_dir() and not p.is_symlink())]
        assert home / "vault" in folders and home / "keys" in folders and len(folders) >= 5
        assert {str(p.relative_to(tmp_path)): mode(p) for p in folders} == {
            str(p.relative_to(tmp_path)): 0o700 for p in folders
        }
        private = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), home / "keys" / "station.key"]
        assert {p.name: mode(p) for p in private} == {p.name: 0o600 for p in private}
        # stored vault objects are read-only (0444) by design. A file in vault/tmp is a write
        # in progress (the daemon may be publishing a checkpoint right now): private (0600)
        # while it is filled, then read-only like the object it is about to become (it is
        # hard-linked to its key), and gone a moment later.
        for p in (home / "vault").rglob("*"):
            try:
                found = mode(p) if p.is_file() else None
            except FileNotFoundError:
                continue  # a temporary file that finished while we looked
            if found is None:
                continue
            if p.parent != home / "vault" / "tmp":
                assert found & 0o222 == 0, p
            else:
                assert found in (0o600, 0o444), (p, oct(found))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert mode(db) == 0o600


def test_one_shot_ingest_with_umask_000_creates_a_private_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = env_for(home, "unused")
    del env["RECORDER_SYNC_DATABASE_URL"]
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "note.txt").write_bytes(b"evidence\n")
    r = subprocess.run(
        [EXE, "ingest", str(dock), "--stable-seconds", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        umask=0,
    )
    assert r.returncode == 0, r.stderr
    made = [home, *home.rglob("*")]
    assert {str(p): mode(p) for p in made if p.is_dir()} == {str(p): 0o700 for p in made if p.is_dir()}
    assert mode(home / "recorder-sync.db") == 0o600
    assert not [p for p in made if p.is_file() and mode(p) & 0o022], "nothing writable by others"
