"""Run the real ``recorder-sync`` console script as a separate process (forked from a server
that imported it once: ``forked_cli``; ``RECORDER_SYNC_TEST_EXEC=1`` execs it instead)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import forked_cli

if TYPE_CHECKING:
    from s3server import S3Server

EXE = str(Path(sys.executable).with_name("recorder-sync"))


def env_for(home: Path, db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDER_SYNC_")}
    env.update(
        RECORDER_SYNC_HOME=str(home), RECORDER_SYNC_DATABASE_URL=db_url, RECORDER_SYNC_STATION_ID="st-test"
    )
    # the dock locks are machine-wide: homes of one test (siblings) share them, tests do not
    env.setdefault("RECORDER_SYNC_LOCK_DIR", str(home.parent / "locks"))
    # recorder-audit's own memory (the last checkpoint it verified) lives in the per-user
    # state folder: each test's auditor has its own
    env.setdefault("XDG_STATE_HOME", str(home.parent / "xdg-state"))
    env.update(extra)
    return env


def s3_env(home: Path, db_url: str, server: S3Server, bucket: str, **extra: str) -> dict[str, str]:
    """``env_for`` with the S3 store of ``server``'s ``bucket``, as its owner."""
    settings = {
        "RECORDER_SYNC_S3_ENDPOINT": server.endpoint,
        "RECORDER_SYNC_S3_ACCESS_KEY": server.owner.access_key,
        "RECORDER_SYNC_S3_SECRET_KEY": server.owner.secret_key,
        "RECORDER_SYNC_S3_BUCKET": bucket,
    }
    return env_for(home, db_url, **(settings | extra))


def run(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_script("recorder-sync", env, *args, timeout=timeout)


def run_script(
    name: str, env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The console script ``name`` with ``args`` and exactly ``env``, output captured as text."""
    if os.environ.get("RECORDER_SYNC_TEST_EXEC"):
        exe = str(Path(sys.executable).with_name(name))
        return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=timeout)
    return forked_cli.run(name, args, env, timeout)


def run_json(env: dict[str, str], *args: str) -> Any:
    r = run(env, *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


RESTORE_STORY = ["duplicate-seen", "integrity-failure", "flagged", "restored", "verified", "released"]
"""A recording's custody events from a re-docked copy on, when its stored copy had been damaged."""


def story_from(events: list[dict[str, Any]], first: str) -> list[str]:
    """The actions of ``show --json``'s custody events, from the first ``first`` on."""
    actions = [e["action"] for e in events]
    return actions[actions.index(first) :]
