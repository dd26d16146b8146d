"""Issue 7, item 2 as processes: re-docked copies of damaged vault objects, with the daemon
killed (SIGKILL) at random moments while it checks, restores and verifies them."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from clirunner import env_for, run, run_json
from test_daemon import Systemd, start, wait_until_done

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain.custody import verify_chain
from recorder_sync.domain.layout import media_key

MiB = 1024 * 1024
# what the daemon logs as it goes through a restore; each round kills it after one of them
STEPS = (b" integrity-failure ", b" restoring ", b" restored ", b" verified ")


def good_copies(dock: Path, vault: Path, files: dict[str, bytes]) -> dict[str, list[str]]:
    """Where each file's bytes are intact: on the dock, in the vault, or both."""
    where: dict[str, list[str]] = {}
    for name, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        places = []
        if (dock / name).exists() and (dock / name).read_bytes() == data:
            places.append("dock")
        stored = vault / media_key(digest)
        if stored.exists() and hashlib.sha256(stored.read_bytes()).hexdigest() == digest:
            places.append("vault")
        where[name] = places
    return where


@pytest.mark.slow
def test_sigkill_while_restoring_never_leaves_a_file_without_a_good_copy(tmp_path: Path, db_url: str) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    rng = random.Random(20261129)
    files = {f"DSJ-RD{i}_031250_20261127120000_000{i}.MP4": rng.randbytes(40 * MiB) for i in range(4)}
    for name, data in files.items():
        (dock / name).write_bytes(data)
    env = env_for(tmp_path / "home", db_url)
    assert run(env, "ingest", str(dock), "--stable-seconds", "0", "-q").returncode == 0
    vault = tmp_path / "home" / "vault"
    for i, data in enumerate(files.values()):
        stored = vault / media_key(hashlib.sha256(data).hexdigest())
        if i % 2:
            stored.unlink()
        else:
            stored.chmod(0o644)
            with stored.open("r+b") as f:
                f.seek(i * MiB)
                f.write(b"\0" * 16)
            stored.chmod(0o444)
    for name, data in files.items():  # the cameras are docked again
        (dock / name).write_bytes(data)

    log = tmp_path / "daemon.log"
    mid_restore = 0
    for round_ in range(10):
        offset = log.stat().st_size if log.exists() else 0
        proc = start(env, dock, log)
        step = STEPS[round_ % len(STEPS)]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None and step not in log.read_bytes()[offset:]:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # the invariant, at every kill: no file is without a good copy
        where = good_copies(dock, vault, files)
        assert all(where.values()), where
        states = run_json(env, "status")["recordings"]
        mid_restore += any(state != "released" for state in states)
        if not any(p.is_file() for p in dock.iterdir()):
            break
    assert mid_restore >= 1  # the kills did land inside restores
    # READY=1 before anything else: the kills may have left nothing to do, and a stop sent
    # while the daemon is still starting would end it before it handles signals
    proc = start(env, dock, log, Systemd())
    try:
        wait_until_done(env, dock, timeout=180)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0

    assert all(places == ["vault"] for places in good_copies(dock, vault, files).values())
    events = SqlCatalog(make_engine(db_url), station="x", actor="x").events()
    assert verify_chain(events) == len(events)
    per_rec = Counter((e.fields.get("recording_id"), e.fields["action"]) for e in events)
    recs = run_json(env, "list")
    assert len(recs) == len(files)
    for rec in recs:
        assert rec["state"] == "released" and "integrity-failure" in rec["flags"]
        # each damage found once and repaired once, however often the daemon was killed
        assert per_rec[(rec["id"], "integrity-failure")] == 1, rec
        assert per_rec[(rec["id"], "restored")] == 1, rec
