"""Issue 12, faults survived: the vault's disk full, on a real small filesystem.

The vault is a tmpfs of a few MiB (``mount -t tmpfs -o size=…``; the tests run as root, as
``scripts/test`` does). Space "returns" by growing it (``mount -o remount,size=…``), as an
operator who frees space would make it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clirunner import env_for, run, run_json
from sqlalchemy import update
from test_daemon import Systemd, start
from test_s3_pipeline import wait_for

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.schema import RecordingRow
from recorder_sync.domain.layout import media_key
from recorder_sync.domain.times import utc_iso

MB = 1000 * 1000


@contextlib.contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[None]:
    assert os.geteuid() == 0, "mounting a small tmpfs needs root (CI runs scripts/test as root)"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def resize(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


@pytest.mark.slow
def test_vault_disk_full_keeps_the_file_shows_the_retry_and_ingest_retries_at_once(
    tmp_path: Path, db_url: str
) -> None:
    vault = tmp_path / "vault"
    dock = tmp_path / "dock"
    dock.mkdir()
    files = {}
    for i in range(3):  # two fit in 4 MB with their manifests, the third does not
        data = os.urandom(1500 * 1000)
        (dock / f"clip{i}.bin").write_bytes(data)
        files[dock / f"clip{i}.bin"] = hashlib.sha256(data).hexdigest()
    env = env_for(tmp_path / "home", db_url, RECORDER_SYNC_VAULT_PATH=str(vault))
    with small_filesystem(vault, "4m"):
        r = run(env, "ingest", str(dock), "--stable-seconds", "0", "--max-attempts", "2", timeout=300)
        out = r.stdout + r.stderr
        assert r.returncode == 1, out
        assert "No space left on device" in out and "1 of 3 file(s) could not be fully processed" in out
        [left] = [p for p in files if p.exists()]  # nothing released that is not stored
        [waiting] = [rec for rec in run_json(env, "list") if rec["state"] != "released"]
        assert waiting["sha256"] == files[left] and waiting["state"] == "signed"
        assert not (vault / media_key(files[left])).exists()
        assert not [p for p in (vault / "tmp").iterdir()]  # no half-written temp file left behind

        # status says when it is tried next, and why it waits
        status = run_json(env, "status")
        assert status["waiting_total"] == 1
        [entry] = status["waiting"]
        assert entry["recording_id"] == waiting["id"] and entry["attempts"] == 2
        assert "No space left on device" in entry["error"]
        assert entry["failed_at"] == status["last_error"]["at"]
        failed_at = datetime.fromisoformat(entry["failed_at"])
        assert datetime.fromisoformat(entry["next_attempt"]) > failed_at  # a backoff, from the failure on
        shown = run(env, "status").stdout
        assert "waiting to be tried again: 1" in shown and f"{waiting['id']} (signed, 2 failed" in shown

        resize(vault, "16m")  # space returns
        # The backoff after two failures is a few seconds, which a slow machine may let run out
        # before the next command starts: make it the hour that many failures earn, so that
        # "tried at once" cannot pass by waiting it out.
        retry_at = datetime.now(UTC) + timedelta(hours=1)
        engine = make_engine(db_url)
        try:
            with engine.begin() as conn:
                conn.execute(
                    update(RecordingRow)
                    .where(RecordingRow.id == waiting["id"])
                    .values(next_attempt_at=retry_at)
                )
        finally:
            engine.dispose()
        assert run_json(env, "status")["waiting"][0]["next_attempt"] == utc_iso(retry_at)
        # at once: not after the backoff, not the old error again; and the failures of the
        # first run do not count against this one (one attempt allowed, the first succeeds)
        r = run(env, "ingest", str(dock), "--stable-seconds", "0", "--max-attempts", "1", timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "No space left" not in r.stdout + r.stderr
        assert "retrying  1 recording(s)" in r.stderr  # progress lines go to stderr
        assert not any(p.exists() for p in files)
        recs = run_json(env, "list")
        assert {rec["sha256"] for rec in recs} == set(files.values())
        assert {rec["state"] for rec in recs} == {"released"}
        for digest in files.values():
            assert hashlib.sha256((vault / media_key(digest)).read_bytes()).hexdigest() == digest
        assert run_json(env, "status")["waiting_total"] == 0
        events = run_json(env, "show", waiting["id"])["custody_events"]
        stored_at = datetime.fromisoformat(next(e["at"] for e in events if e["action"] == "stored"))
        assert stored_at < retry_at, (stored_at, retry_at)


def test_the_daemon_keeps_the_file_while_the_vault_is_full_and_resumes_when_space_returns(
    tmp_path: Path,
) -> None:
    vault = tmp_path / "vault"
    dock = tmp_path / "dock"
    dock.mkdir()
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'c.db'}", RECORDER_SYNC_VAULT_PATH=str(vault))
    log = tmp_path / "daemon.log"
    with small_filesystem(vault, "2m"):
        data = os.urandom(3 * MB)  # more than the whole vault
        (dock / "big.bin").write_bytes(data)
        proc = start(env, dock, log, Systemd())
        try:
            wait_for(lambda: b"No space left on device" in log.read_bytes(), 60, "the vault to fill up")
            assert (dock / "big.bin").exists() and proc.poll() is None
            # the daemon logs the error before it records it: wait for the record
            wait_for(lambda: run_json(env, "status")["waiting"], 60, "the failure recorded as waiting")
            [waiting] = run_json(env, "status")["waiting"]
            assert "No space left on device" in waiting["error"]
            resize(vault, "16m")  # space returns: the daemon's own backoff (at most 45 s) brings it
            wait_for(lambda: not (dock / "big.bin").exists(), 120, "the file stored once space returned")
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        assert code == 0, log.read_text()[-3000:]
        [rec] = run_json(env, "list")
        assert rec["state"] == "released" and rec["sha256"] == hashlib.sha256(data).hexdigest()
        assert (vault / media_key(rec["sha256"])).read_bytes() == data
        assert "Traceback" not in log.read_text()
