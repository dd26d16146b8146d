"""``recorder-sync health``: exit 0 only when the daemon's heartbeat is recent, the database and the
store answer and no critical flag is open; 1 otherwise, each reason on its own line (JSON: a list)."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clirunner import EXE, env_for, run

from recorder_sync.adapters.db.daemons_repo import DaemonsRepo
from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.heartbeat_repo import Heartbeat
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain.health import Facts, reasons
from recorder_sync.domain.model import Flag, FlagKind, Severity


def health(env: dict[str, str], *extra: str) -> tuple[int, list[str]]:
    r = run(env, "health", "--json", *extra, timeout=120)
    assert r.returncode in (0, 1), r.stderr
    out = json.loads(r.stdout)
    assert out["healthy"] == (r.returncode == 0) and out["healthy"] == (not out["reasons"])
    return r.returncode, out["reasons"]


def prepared(tmp_path: Path, db_url: str, **extra: str) -> dict[str, str]:
    """A home whose database has the schema and whose vault folder exists."""
    env = env_for(tmp_path / "home", db_url, **extra)
    assert run(env, "db", "upgrade").returncode == 0
    (tmp_path / "home" / "vault").mkdir(parents=True, exist_ok=True)
    return env


def beat(db_url: str, at: datetime) -> None:
    """A daemon of the station, on another machine, last heard from at ``at``."""
    catalog = SqlCatalog(make_engine(db_url), station="st-test", actor="test", owner="st-test/1/elsewhere")
    DaemonsRepo(catalog).register(at - timedelta(seconds=1))
    Heartbeat(catalog.engine, owner=catalog.owner, now=lambda: at, every=0).beat()


def test_a_running_daemon_is_healthy_and_a_stopped_one_is_not(tmp_path: Path, db_url: str) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    env = prepared(tmp_path, db_url)
    assert health(env) == (1, ["no daemon of station st-test is running (no heartbeat)"])
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        [EXE, "-v", "run", "--dock", str(dock)], env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab")
    )
    try:
        deadline = time.monotonic() + 60
        while (code := health(env))[0] != 0:  # healthy once its loop has turned
            assert proc.poll() is None and time.monotonic() < deadline, (code, log.read_text())
            time.sleep(0.2)
        r = run(env, "health", timeout=60)
        assert (r.returncode, r.stdout) == (0, "healthy: station st-test\n")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    # a clean stop takes its heartbeat with it
    assert health(env) == (1, ["no daemon of station st-test is running (no heartbeat)"])


def test_a_stale_heartbeat(tmp_path: Path, db_url: str) -> None:
    env = prepared(tmp_path, db_url)
    beat(db_url, datetime.now(UTC) - timedelta(seconds=600))  # e.g. killed, or stuck in a step
    code, found = health(env)
    assert code == 1 and len(found) == 1
    assert found[0].startswith("the daemon of station st-test last gave a sign of life 6")
    assert "(more than 120 s): stopped or stuck" in found[0]
    assert health(env, "--max-age", "900") == (0, [])


def test_a_critical_flag_open(tmp_path: Path, db_url: str) -> None:
    env = prepared(tmp_path, db_url)
    beat(db_url, datetime.now(UTC))
    catalog = SqlCatalog(make_engine(db_url), station="st-test", actor="test")
    catalog.raise_flag(
        Flag(FlagKind.BAD_METADATA, Severity.LOW, "recording:r1", "low: not a reason"), datetime.now(UTC)
    )
    assert health(env) == (0, [])
    catalog.raise_flag(
        Flag(FlagKind.INTEGRITY_FAILURE, Severity.CRITICAL, "recording:r2", "stored copy damaged"),
        datetime.now(UTC),
    )
    assert health(env) == (1, ["1 critical flag(s) open: integrity-failure 1"])


def test_the_database_does_not_answer(tmp_path: Path) -> None:
    # nothing listens on port 1: refused at once
    env = env_for(tmp_path / "home", "postgresql://postgres@127.0.0.1:1/none")
    (tmp_path / "home" / "vault").mkdir(parents=True)
    code, found = health(env)
    assert code == 1 and len(found) == 1 and found[0].startswith("database does not answer: "), found


def test_the_storage_does_not_answer(tmp_path: Path, db_url: str) -> None:
    env = prepared(tmp_path, db_url)
    beat(db_url, datetime.now(UTC))
    gone = tmp_path / "no-vault"
    assert health(env | {"RECORDER_SYNC_VAULT_PATH": str(gone)}) == (
        1,
        [f"storage does not answer: {gone}: the vault folder does not exist"],
    )
    s3 = {
        "RECORDER_SYNC_S3_ENDPOINT": "http://127.0.0.1:1",
        "RECORDER_SYNC_S3_BUCKET": "evidence",
        "RECORDER_SYNC_S3_ACCESS_KEY": "k",
        "RECORDER_SYNC_S3_SECRET_KEY": "s",
    }
    code, found = health(env | s3)
    assert (
        code == 1 and len(found) == 1 and found[0].startswith("storage does not answer: http://127.0.0.1:1: ")
    )


def test_every_reason_at_once_one_per_line(tmp_path: Path) -> None:
    env = env_for(tmp_path / "home", "postgresql://postgres@127.0.0.1:1/none")
    r = run(env, "health", timeout=60)
    lines = r.stdout.splitlines()
    assert r.returncode == 1 and len(lines) == 2, r.stdout
    assert lines[0].startswith("database does not answer") and lines[1].startswith("storage does not answer")


def test_reasons_are_decided_with_now_passed_in() -> None:
    now = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    ok = Facts("s", None, None, [now - timedelta(seconds=30)], {})
    assert reasons(ok, now) == []
    assert reasons(ok, now, timedelta(seconds=10)) != []
    # the newest of several daemons' beats counts
    two = Facts("s", None, None, [now - timedelta(hours=5), now - timedelta(seconds=1)], {})
    assert reasons(two, now) == []


def test_health_imports_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom recorder_sync.apps.cli import main\nmain(['health'])\n"
        "heavy = {'minio', 'alembic', 'cryptography', 'prometheus_client', 'watchdog', 'ffmpeg', 'rich'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'c.db'}") | {"PYTHONPATH": os.getcwd()}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout.splitlines()[-1] == "[]", r.stdout + r.stderr


def test_an_s3_endpoint_that_answers_at_all_is_up(tmp_path: Path, db_url: str) -> None:
    """Any HTTP answer counts, even 403 to an unsigned request: the server is up (credentials
    and the bucket are the daemon's business, seen in its flags and metrics)."""

    class Refuses(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(403)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    env = prepared(tmp_path, db_url)
    beat(db_url, datetime.now(UTC))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuses)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        s3 = {
            "RECORDER_SYNC_S3_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
            "RECORDER_SYNC_S3_BUCKET": "evidence",
            "RECORDER_SYNC_S3_ACCESS_KEY": "k",
            "RECORDER_SYNC_S3_SECRET_KEY": "s",
        }
        assert health(env | s3) == (0, [])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
