"""Issue 12, faults survived: PostgreSQL restarted while the real daemon works.

The daemon runs against a PostgreSQL cluster of the test's own (stopping the shared one would
break every other test); files are on the dock and more arrive while the server is down.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import pytest
from clirunner import env_for, run, run_json
from pgserver import own_postgres
from test_daemon import Systemd, start, wait_until_done

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain.custody import verify_chain
from recorder_sync.domain.layout import media_key

MiB = 1024 * 1024
OUTAGE_SECONDS = float(os.environ.get("RECORDER_SYNC_TEST_PG_OUTAGE_SECONDS", "8"))
"""How long PostgreSQL stays down; longer than the first few backoff steps (1, 2, 4 s)."""


def write_files(dock: Path, prefix: str, count: int, size: int) -> dict[Path, str]:
    files = {}
    for i in range(count):
        p = dock / f"{prefix}{i}.bin"
        data = os.urandom(size)
        p.write_bytes(data)
        files[p] = hashlib.sha256(data).hexdigest()
    return files


@pytest.mark.slow
def test_postgresql_restarted_mid_work_loses_nothing_and_logs_the_outage_once(tmp_path: Path) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    with own_postgres() as pg:
        files = write_files(dock, "before", 8, 6 * MiB)
        env = env_for(tmp_path / "home", pg.url)
        log = tmp_path / "daemon.log"
        systemd = Systemd()
        proc = start(env, dock, log, systemd)
        try:
            deadline = time.monotonic() + 60
            while b" stored " not in log.read_bytes():  # mid-work: some stored, most not
                assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
                time.sleep(0.05)
            pg.stop()
            files |= write_files(dock, "during", 3, 2 * MiB)  # their events come while it is down
            down = systemd.wait_for(proc, "STATUS=database unreachable since ", 90, prefix=True)["STATUS"]
            time.sleep(OUTAGE_SECONDS)  # the outage itself: the daemon must live through it
            assert proc.poll() is None, log.read_text()[-3000:]
            # nothing to query while the server is down: what `status` says is its exit code
            r = run(env, "status")
            assert r.returncode == 4 and "Database unavailable" in r.stderr, r.stderr
            pg.start()
            systemd.wait_for(proc, "STATUS=ingesting 1 dock(s)", 90)  # back at work
            wait_until_done(env, dock, timeout=120)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        text = log.read_text()
        assert code == 0, text[-3000:]
        recs = run_json(env, "list")
        catalog = SqlCatalog(make_engine(pg.url), station="x", actor="x")
        events = catalog.events()
        catalog.engine.dispose()

    assert {r["sha256"] for r in recs} == set(files.values())
    assert {r["state"] for r in recs} == {"released"}
    stored = {p.name for p in (tmp_path / "home" / "vault" / "sha256").rglob("*") if "." not in p.name}
    assert {media_key(h).rsplit("/", 1)[1] for h in files.values()} <= stored
    assert verify_chain(events) == len(events)
    per_rec = Counter((e.fields.get("recording_id"), e.fields["action"]) for e in events)
    for r in recs:
        for action in ("hashed", "probed", "signed", "stored", "verified"):
            assert per_rec[(r["id"], action)] == 1, (r["id"], action)
    # said once when it went, once when it came back; no trace, no line per retry
    assert text.count("WARNING recorder_sync.services.daemon: database unreachable: ") == 1, text[-4000:]
    assert text.count("database reachable again after ") == 1, text[-4000:]
    assert "Traceback" not in text, text
    assert "could not record its failure" not in text
    assert "next attempt in" in down


def test_run_with_the_database_down_at_start_exits_4_and_says_why(tmp_path: Path) -> None:
    """Start-up needs the database (schema, and the log checked against what was published
    before any file is touched): exit 4 with the reason, for systemd's Restart=on-failure."""
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "a.bin").write_bytes(b"x" * 1000)
    env = env_for(tmp_path / "home", f"postgresql://postgres@127.0.0.1:{port}/postgres")
    r = run(env, "run", "--dock", str(dock), timeout=120)
    assert r.returncode == 4, r.stderr
    assert "Database unavailable" in r.stderr and "Traceback" not in r.stderr
    assert "systemd" in r.stderr  # what happens next: the unit restarts it
    assert (dock / "a.bin").exists()
