"""A console script's end: its database connections are closed by the command itself.

The scripts end without the interpreter's last walk over every object (``exit_with``), so
nothing may rely on that walk to close a connection: SQLite would keep its -wal and -shm
files until the next opener, and a copy of the data folder taken meanwhile would miss the
log. These run the real executables.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from clirunner import env_for


def execute(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name(name))
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=120)


def test_each_script_leaves_its_sqlite_database_closed(tmp_path: Path) -> None:
    db = tmp_path / "catalog.db"
    env = env_for(tmp_path / "home", f"sqlite:///{db}")
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "clip.bin").write_bytes(b"evidence " * 1000)
    # (recorder-audit is left out: it opens SQLite read-only, and a read-only connection
    # cannot fold the write-ahead log back; SQLite leaves that to the next writer)
    for name, args, code in (
        ("recorder-sync", ("ingest", str(dock), "--stable-seconds", "0"), 0),
        ("recorder-sync", ("list", "--json"), 0),
        ("recorder-replay", ("find", "--json"), 2),  # the roster is read: not in it
    ):
        r = execute(name, env, *args)
        assert r.returncode == code, (name, args, r.stderr)
        left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("catalog.db"))
        assert left == ["catalog.db"], (name, args, left)
