"""systemd's watchdog with the real daemon: WATCHDOG=1 keeps coming while the loop turns, and stops
while the loop is stuck in a step (here: its ingest pass waits on a PostgreSQL table lock the
test holds), so that systemd's ``WatchdogSec=`` restarts a hung daemon and only a hung one."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirunner import EXE, env_for
from conftest import pg_database
from sqlalchemy import create_engine, text

from recorder_sync.adapters.sdnotify import Notifier, Watchdog, watchdog_seconds

PERIOD_USEC = 2_000_000  # WatchdogSec=2s: the daemon must ping at least every second


class NotifySocket:
    """What systemd listens on for a Type=notify service (abstract namespace: nothing on disk)."""

    def __init__(self) -> None:
        self.address = f"@recorder-sync-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.address[1:])

    def next(self, timeout: float) -> list[str] | None:
        """The next datagram's assignments, or None if none came within ``timeout`` s."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode().splitlines()
        except TimeoutError:
            return None

    def wait_for(self, proc: subprocess.Popen[bytes], assignment: str, count: int = 1) -> None:
        seen = 0
        deadline = time.monotonic() + 60
        while seen < count:
            assert time.monotonic() < deadline, f"{seen} of {count} {assignment} in 60 s"
            lines = self.next(0.5)
            if lines is None:
                assert proc.poll() is None, f"exited {proc.returncode}"
            elif assignment in lines:
                seen += 1

    def drain(self) -> list[list[str]]:
        out = []
        while (lines := self.next(0.01)) is not None:
            out.append(lines)
        return out


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    with pg_database(pg_server_url) as url:
        yield url


def test_pings_while_the_loop_turns_and_none_while_it_hangs(tmp_path: Path, pg_url: str) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    systemd = NotifySocket()
    env = env_for(tmp_path / "home", pg_url) | {
        "NOTIFY_SOCKET": systemd.address,
        "WATCHDOG_USEC": str(PERIOD_USEC),
    }
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        [EXE, "-v", "run", "--dock", str(dock), "--stable-seconds", "0.3"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        systemd.wait_for(proc, "READY=1")
        systemd.wait_for(proc, "WATCHDOG=1", count=3)  # an idle loop turns, and says so

        with engine.connect() as holder, engine.connect() as observer:
            # every ingest pass starts by claiming rows of these tables: the next one waits
            holder.execute(text("LOCK TABLE sightings, recordings IN ACCESS EXCLUSIVE MODE"))
            deadline = time.monotonic() + 60
            while not observer.execute(
                # this database's tables only: the server is shared with other tests
                text(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted"
                    " AND relation IN ('sightings'::regclass, 'recordings'::regclass)"
                )
            ).scalar():
                assert time.monotonic() < deadline, "the daemon never came to wait on the lock"
                assert proc.poll() is None, log.read_text()
                observer.rollback()
                time.sleep(0.05)
            systemd.drain()  # sent before it got stuck
            # stuck for two whole periods: systemd would have restarted it by now
            quiet = systemd.next(2 * PERIOD_USEC / 1e6)
            assert quiet is None or "WATCHDOG=1" not in quiet, quiet
            holder.rollback()  # the lock goes: the loop turns again
        systemd.wait_for(proc, "WATCHDOG=1", count=2)
    finally:
        engine.dispose()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        systemd.sock.close()
    assert code == 0, log.read_text()


def test_watchdog_period_as_sd_watchdog_enabled_reads_it() -> None:
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000"}, 42) == 30.0
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 42) == 30.0
    # a child that inherited its parent's environment must not keep the parent alive
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "41"}, 42) is None
    for bad in ("", "0", "-5", "1e6", "soon"):
        assert watchdog_seconds({"WATCHDOG_USEC": bad}, 42) is None
    assert watchdog_seconds({}, 42) is None


def test_pings_are_spaced_a_quarter_period_apart_however_often_the_loop_calls() -> None:
    sent: list[tuple[str, ...]] = []

    class Recorder(Notifier):
        def notify(self, *assignments: str) -> bool:
            sent.append(assignments)
            return True

    now = [100.0]
    dog = Watchdog(Recorder({}), {"WATCHDOG_USEC": "8000000"}, clock=lambda: now[0])
    for _ in range(100):  # a long hash: a ping per buffer, within one second
        dog.ping()
        now[0] += 0.01
    assert sent == [("WATCHDOG=1",)]
    now[0] += 2.0  # a quarter of 8 s since the last one
    dog.ping()
    assert sent == [("WATCHDOG=1",)] * 2
    silent = Watchdog(Recorder({}), {}, clock=lambda: now[0])
    silent.ping()
    assert len(sent) == 2
