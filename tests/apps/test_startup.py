"""Start-up stays light: argument parsing imports none of the heavy libraries, so that
``--help`` is instant and a stop request right after start meets our handlers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from clirunner import EXE, env_for

HEAVY = ("sqlalchemy", "alembic", "minio", "watchdog", "ffmpeg", "cryptography")


def imported(env: dict[str, str], *args: str) -> set[str]:
    r = subprocess.run(
        [sys.executable, "-X", "importtime", EXE, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    lines = [line.split("|")[-1] for line in r.stderr.splitlines() if line.startswith("import time:")]
    return {name.strip() for name in lines[1:]}


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'db'}")
    for args in (["--help"], ["run", "--help"], ["cases", "import", "--help"]):
        modules = imported(env, *args)
        assert "recorder_sync.apps.parsers.cases" in modules  # the measurement sees our modules
        assert not {m for m in modules if m.split(".")[0] in HEAVY}, args
        assert not {m for m in modules if m.startswith("recorder_sync.apps.commands.")}, args


def test_status_imports_only_what_it_uses(tmp_path: Path) -> None:
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'db'}")
    modules = imported(env, "status")
    assert "sqlalchemy" in modules
    assert not {m for m in modules if m.split(".")[0] in ("minio", "watchdog", "ffmpeg", "cryptography")}
    # the schema is read, not migrated: Alembic is loaded only where it upgrades
    again = imported(env, "status")
    assert "recorder_sync.adapters.db.engine" in again and not {m for m in again if m.startswith("alembic")}
    # nor the case book and the deadline engine, which a view does not use
    assert "recorder_sync.adapters.db.casebook" not in again
    # status reads through SQLAlchemy Core: no ORM, no mapped schema, no catalog, no wiring
    # (and its adapters), no alert delivery (HTTP, SMTP): start-up is mostly imports.
    # (The first run above created the schema, with Alembic and the mapped tables.)
    assert not {m for m in again if m.startswith("sqlalchemy.orm")}
    assert not UNUSED_BY_STATUS & again, UNUSED_BY_STATUS & again
    assert "recorder_sync.adapters.db.status_view" in again


UNUSED_BY_STATUS = {
    "recorder_sync.adapters.db.schema",
    "recorder_sync.adapters.db.repository",
    "recorder_sync.adapters.db.log_repo",
    "recorder_sync.apps.wiring",
    "recorder_sync.services.ingest",
    "recorder_sync.adapters.alerts",
    "smtplib",
    "http.client",
}
