"""Migrations run in ``db upgrade`` and at the daemon's start only: every other command
refuses an old (or newer) schema with what to do, and leaves it as it is; a database with
no tables at all still gets the schema, so ``ingest DIR`` on a fresh home needs no set-up."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from clirunner import EXE, env_for, run
from sqlalchemy import text

from recorder_sync.adapters.db.engine import alembic_config, make_engine, revisions

OLD = "0003"


def revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found: str | None = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            conn.rollback()
            return found
    finally:
        engine.dispose()


def migrate_to(url: str, target: str) -> None:
    engine = make_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)
    engine.dispose()


def test_the_shipped_revisions_are_alembics_own_reading() -> None:
    """The commands that do not migrate read the chain without Alembic; it must be Alembic's."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    chain = [s.revision for s in reversed(list(script.walk_revisions()))]
    assert list(revisions()) == chain
    assert script.get_heads() == [revisions()[-1]]


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["list", "--json"],
        ["flags"],
        ["report"],
        ["ingest", "DOCK"],
    ],
)
def test_an_old_schema_is_refused_with_what_to_do_and_left_alone(
    tmp_path: Path, db_url: str, args: list[str]
) -> None:
    migrate_to(db_url, OLD)
    env = env_for(tmp_path / "home", db_url)
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "a.mp4").write_bytes(b"not really a video")
    r = run(env, *[str(dock) if a == "DOCK" else a for a in args])
    assert r.returncode == 2, r.stderr
    assert f"has schema revision {OLD}, this recorder-sync needs {revisions()[-1]}" in r.stderr
    assert "run: recorder-sync db upgrade" in r.stderr and "Traceback" not in r.stderr
    assert revision(db_url) == OLD
    assert (dock / "a.mp4").exists()

    r = run(env, "db", "upgrade")
    assert r.returncode == 0, r.stderr
    assert revision(db_url) == revisions()[-1]
    assert run(env, "status").returncode == 0


def test_a_newer_schema_is_refused(tmp_path: Path, db_url: str) -> None:
    migrate_to(db_url, "head")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    env = env_for(tmp_path / "home", db_url)
    for args in (["status"], ["db", "upgrade"]):
        r = run(env, *args)
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    r = run(env, "status")
    assert r.returncode == 2 and "9999" in r.stderr and "newer than this recorder-sync" in r.stderr
    assert revision(db_url) == "9999"


def test_a_database_with_no_tables_gets_the_schema_from_any_command(tmp_path: Path, db_url: str) -> None:
    env = env_for(tmp_path / "home", db_url)
    r = run(env, "status")
    assert r.returncode == 0, r.stderr
    assert revision(db_url) == revisions()[-1]


def test_the_daemon_upgrades_an_old_schema_at_start(tmp_path: Path, db_url: str) -> None:
    migrate_to(db_url, OLD)
    dock = tmp_path / "dock"
    dock.mkdir()
    env = env_for(tmp_path / "home", db_url)
    log = tmp_path / "daemon.log"
    with log.open("ab") as err:
        proc = subprocess.Popen([EXE, "-v", "run", "--dock", str(dock)], env=env, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while "ready:" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        assert "ready:" in log.read_text()
        assert revision(db_url) == revisions()[-1]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()
