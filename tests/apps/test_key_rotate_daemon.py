"""Keys rotated while the daemon runs: it never signs with a key whose window has ended. Its
next manifest is signed by the new station key, its next checkpoint by both log keys (then the
old log key is destroyed), and the auditor finds nothing wrong, with no restart in between."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from clirunner import EXE, env_for, run, run_json
from softhsm import Token
from test_key_lifecycle_cli import audit, export_trust, station_keys
from test_log_cli import ORIGIN, checkpoints, dock_with

from recorder_sync.adapters import keys
from recorder_sync.adapters.keys import load_key
from recorder_sync.domain.checkpoint import NoteKey, open_note
from recorder_sync.domain.times import utc_iso


@contextmanager
def daemon(env: dict[str, str], dock: Path, log: Path) -> Iterator[Callable[[Callable[[], bool]], None]]:
    """``run`` on ``dock``; yields ``until(done)``, which waits while the daemon runs. SIGTERM at
    the end must stop it with 0."""
    proc = subprocess.Popen(
        [EXE, "-v", "run", "--dock", str(dock), "--stable-seconds", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )

    def until(done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 120
        while not done():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)

    try:
        yield until
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()


def released(env: dict[str, str]) -> dict[str, str]:
    """Released recordings: file name in the dock → the key that signed its manifest."""
    return {r["source_path"]: r["key_id"] for r in run_json(env, "list") if r["state"] == "released"}


def test_a_running_daemon_follows_both_key_rotations(tmp_path: Path, db_url: str) -> None:
    home = tmp_path / "home"
    env = env_for(home, db_url, RECORDER_SYNC_LOG_CHECKPOINT_SECONDS="1")
    dock, log = dock_with(tmp_path / "dock", "one.bin"), tmp_path / "daemon.log"
    log_key = home / "keys" / "log.key"
    with daemon(env, dock, log) as until:
        until(lambda: "one.bin" in released(env) and bool(checkpoints(home)))
        old_station = released(env)["one.bin"]
        old_log = NoteKey(ORIGIN, load_key(log_key).public_raw())
        before = max(checkpoints(home))
        for rotate in (["keys", "rotate"], ["keys", "rotate", "--log"]):
            r = run(env, *rotate, "--reason", "yearly rotation")
            assert r.returncode == 0, r.stderr
        new_log = NoteKey(ORIGIN, load_key(log_key).public_raw())
        dock_with(dock, "two.bin")
        # the old log key goes once it has co-signed a checkpoint with the new one
        until(lambda: "two.bin" in released(env) and not keys.previous_key_path(log_key).exists())
        until(lambda: max(checkpoints(home)) > before)

    (_, new_station) = (k["key_id"] for k in station_keys(env))
    assert released(env) == {"one.bin": old_station, "two.bin": new_station}
    cosigned = [
        size
        for size, path in checkpoints(home).items()
        if size > before and set(open_note(path.read_bytes(), [old_log, new_log])[1]) == {old_log, new_log}
    ]
    assert len(cosigned) == 1, sorted(checkpoints(home))
    for size, path in checkpoints(home).items():
        if size > min(cosigned):  # after the co-signed one: the new key alone
            assert open_note(path.read_bytes(), [old_log, new_log])[1] == (new_log,)
    trust = tmp_path / "trust.json"
    export_trust(env, trust)
    done = audit(env, trust, tmp_path / "state")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_token_key_rotated_under_a_running_daemon_waits_for_its_restart(
    tmp_path: Path, db_url: str, token: Token
) -> None:
    """A token's new key has a new label in the configuration, read only at start: until the
    restart the daemon signs nothing, says why, and keeps the dock copy."""
    home = tmp_path / "home"
    env = env_for(home, db_url, **token.env)
    env2 = env_for(home, db_url, **token.with_label("station-2027").env)
    dock, log = dock_with(tmp_path / "dock", "one.bin"), tmp_path / "daemon.log"
    with daemon(env, dock, log) as until:
        until(lambda: "one.bin" in released(env))
        r = run(env2, "keys", "rotate", "--reason", "yearly rotation")
        assert r.returncode == 0, r.stderr
        dock_with(dock, "two.bin")
        until(lambda: any(rec["last_error"] for rec in run_json(env, "list")))
        (waiting,) = [rec for rec in run_json(env, "list") if rec["last_error"]]
        assert waiting["source_path"] == "two.bin" and waiting["state"] == "probed", waiting
        assert f"the station key {token.settings.label!r} in PKCS#11 token" in waiting["last_error"], waiting
        assert "is gone (destroyed by keys rotate?): restart recorder-sync" in waiting["last_error"], waiting
        assert (dock / "two.bin").exists()
    with daemon(env2, dock, log) as until:
        until(lambda: "two.bin" in released(env2))
    (old, new) = (k["key_id"] for k in station_keys(env2))
    assert released(env2) == {"one.bin": old, "two.bin": new}


def test_a_running_daemon_waits_out_a_revoked_key_and_takes_its_replacement(
    tmp_path: Path, db_url: str
) -> None:
    home = tmp_path / "home"
    env = env_for(home, db_url)
    dock, log = dock_with(tmp_path / "dock", "one.bin"), tmp_path / "daemon.log"
    with daemon(env, dock, log) as until:
        until(lambda: "one.bin" in released(env))
        revoked = released(env)["one.bin"]
        r = run(
            env, "keys", "revoke", revoked, "--at", utc_iso(datetime.now(UTC)), "--reason", "laptop stolen"
        )
        assert r.returncode == 0, r.stderr
        dock_with(dock, "two.bin")
        until(lambda: any(rec["last_error"] for rec in run_json(env, "list")))
        (waiting,) = [rec for rec in run_json(env, "list") if rec["last_error"]]
        assert f"signs with {revoked}, which was revoked at" in waiting["last_error"], waiting
        assert (dock / "two.bin").exists()
        r = run(env, "keys", "init", "--replace", "--reason", "after the theft")
        assert r.returncode == 0, r.stderr
        until(lambda: "two.bin" in released(env))
    (_, new) = (k["key_id"] for k in station_keys(env))
    assert released(env) == {"one.bin": revoked, "two.bin": new}
