"""The leader among real ``recorder-sync run`` processes: a sweep held up never holds up a
dock (PostgreSQL, the sweep's table locked by the test), a stop with a sweep held up ends
within the shutdown's grace, and two daemons on one SQLite file lead one at a time."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sample_dock
from clirunner import EXE, env_for, run, run_json
from pglocks import leader_lock_holders
from sqlalchemy import create_engine, text
from test_daemon import _stop

DEADLINE = 120.0
"""How long a condition may take on a loaded machine before the test fails instead of hanging."""


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    from conftest import pg_database

    with pg_database(pg_server_url) as url:
        yield url


def until(condition: Callable[[], bool], what: str, *procs: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"not seen: {what}"
        for p in procs:
            assert p.poll() is None, f"daemon exited {p.returncode} before: {what}"
        time.sleep(0.05)


def daemon(env: dict[str, str], dock: Path, log: Path, *more: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [EXE, "-v", "run", "--dock", str(dock), "--stable-seconds", "0.3", *more],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def clip(dock: Path, n: int) -> Path:
    """One real video, made aside and moved in whole."""
    staging = dock.parent / f"staging-{n}"
    staging.mkdir(exist_ok=True)
    name = f"DSJ-A1_031245_2026112708301{n}_000{n}.MP4"
    sample_dock.make_video(staging / name, start=sample_dock.sample_plan()[0].start, seconds=1)
    return (staging / name).rename(dock / name)


def status(env: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = run_json(env, "status")
    return found


@pytest.mark.slow
def test_a_dock_file_is_released_while_a_sweep_is_held_and_a_stop_does_not_wait_for_it(
    tmp_path: Path, pg_url: str
) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    env = env_for(tmp_path / "home", pg_url, RECORDER_SYNC_RELEASE_POLICY="delete")
    assert run(env, "db", "upgrade").returncode == 0
    admin = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    held = admin.connect()
    log = tmp_path / "daemon.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        # the sweep's first read (the linking cursor) waits for the test's lock, as behind a
        # full sweep of a year, or an operator's long transaction
        held.execute(text("LOCK TABLE sweep_marks IN ACCESS EXCLUSIVE MODE"))

        def sweep_waits() -> bool:
            with admin.connect() as c:
                waiting = c.execute(
                    text(
                        "SELECT count(*) FROM pg_locks"
                        " WHERE relation = 'sweep_marks'::regclass AND NOT granted"
                    )
                ).scalar()
                return bool(waiting)

        proc = daemon(env, dock, log)
        first = proc.pid
        until(sweep_waits, "the leader's sweep waiting for the sweep_marks lock", proc)
        shown = status(env)
        assert shown["leader"]["pid"] == proc.pid
        assert shown["last_sweep"]["ended_at"] is None  # in progress, and stays so

        # a file docked now goes all the way to its release while the sweep stays held
        file = clip(dock, 1)
        until(lambda: not file.exists(), "the dock file released", proc)
        assert [r["state"] for r in run_json(env, "list")] == ["released"]
        assert sweep_waits()
        assert status(env)["last_sweep"]["ended_at"] is None

        # a stop does not wait for the held sweep for ever: the shutdown's grace ends it,
        # exit 0, and the server rolls its transaction back and frees the lead
        assert _stop(proc) == 0
        text_ = log.read_text()
        assert "still busy 4 s after SIGTERM: exiting now" in text_, text_
        # the lead is free at once (its session was idle: the server saw it close); the sweep's
        # own statement waits on the server until the lock is granted, then finds no client
        until(lambda: leader_lock_holders(pg_url) == [], "the lead given back")
    finally:
        held.rollback()
        held.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    # the next start sweeps (the held one was rolled back) and stops cleanly, at once
    log2 = tmp_path / "daemon2.log"
    proc = daemon(env, dock, log2)
    try:
        until(lambda: (status(env)["last_sweep"] or {}).get("ok") is True, "a sweep done", proc)
    finally:
        assert _stop(proc) == 0
    admin.dispose()
    assert "stopped cleanly" in log2.read_text()
    assert leader_lock_holders(pg_url) == []
    # a clean stop removes its row; the one cut short by the grace is left, no longer
    # leading (the next leader cleared that), shown silent once it has been quiet a while
    assert [(d["pid"], d["leading_since"]) for d in status(env)["daemons"]] == [(first, None)]


def test_two_daemons_on_one_sqlite_file_lead_one_at_a_time(tmp_path: Path) -> None:
    db = tmp_path / "catalog.db"
    url = f"sqlite:///{db}"
    docks = [tmp_path / "dock-a", tmp_path / "dock-b"]
    for d in docks:
        d.mkdir()
    envs = [env_for(tmp_path / f"home-{i}", url, RECORDER_SYNC_STATION_ID=f"st-{i}") for i in "ab"]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    a = daemon(envs[0], docks[0], logs[0], "--sweep-seconds", "0.5")
    procs = [a]
    try:
        until(lambda: b"leading: this daemon" in logs[0].read_bytes(), "a leading", a)
        b = daemon(envs[1], docks[1], logs[1], "--sweep-seconds", "0.5")
        procs.append(b)
        until(lambda: len(status(envs[1])["daemons"]) == 2, "both daemons registered", a, b)
        shown = status(envs[1])
        assert shown["leader"]["pid"] == a.pid
        # b sweeps nothing while a leads: every sweep so far is a's
        until(lambda: b"ready:" in logs[1].read_bytes(), "b ready", a, b)
        assert b"leading" not in logs[1].read_bytes()

        os.kill(a.pid, signal.SIGKILL)  # the kernel frees a's flock with it
        a.wait()
        until(lambda: b"leading: this daemon" in logs[1].read_bytes(), "b taking the lead", b)
        until(lambda: status(envs[1])["leader"]["pid"] == b.pid, "status naming b the leader", b)
        assert [d["pid"] for d in status(envs[1])["daemons"] if d["leading_since"]] == [b.pid]
        shown_text = run(envs[1], "status").stdout
        assert f"daemons: 2 running; leader st-b (pid {b.pid} on " in shown_text, shown_text
        assert "last sweep: " in shown_text
        assert (db.parent / "catalog.db.leader").exists()
    finally:
        codes = [_stop(p) for p in procs]
    assert codes[1] == 0, logs[1].read_text()
    assert logs[1].read_text().count("leading: this daemon") == 1
