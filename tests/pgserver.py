"""A private PostgreSQL cluster for a test that stops and restarts its server.

The session's shared server (fixture ``pg_server_url``) serves every other test, so a test
that takes PostgreSQL down gets its own cluster: ``scripts/pg-server-start`` with a folder of
its own (``RECORDER_SYNC_PG_DIR``) on a free port (``RECORDER_SYNC_PG_PORT``), stopped with
``scripts/pg-server-stop`` (``pg_ctl stop -m fast``) and wiped at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from s3server import _free_port, exported

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@dataclass(frozen=True)
class OwnPostgres:
    folder: Path
    port: int
    url: str

    def _run(self, script: str, *args: str) -> str:
        env = dict(os.environ, RECORDER_SYNC_PG_DIR=str(self.folder), RECORDER_SYNC_PG_PORT=str(self.port))
        done = subprocess.run(
            [str(SCRIPTS / script), *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"{script} failed: {done.stderr}"
        return done.stdout

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: every session is cut, as in a restart for an upgrade."""
        self._run("pg-server-stop")

    def start(self) -> None:
        self._run("pg-server-start")


@contextlib.contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    # straight under the temporary folder: the server runs as 'postgres' when we are root,
    # and must be able to reach its folder (pytest's own folders are private to us)
    folder = Path(tempfile.mkdtemp(prefix="rs-pg-"))
    port = _free_port()
    server = OwnPostgres(folder, port, f"postgresql://postgres@127.0.0.1:{port}/postgres")
    try:
        url = exported(server._run("pg-server-start"))["DATABASE_URL"]
        assert url == server.url, url
        yield server
    finally:
        with contextlib.suppress(AssertionError):
            server._run("pg-server-stop", "--wipe")
        shutil.rmtree(folder, ignore_errors=True)
