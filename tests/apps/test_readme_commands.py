"""The README's ``eval "$(scripts/…-server-start)"`` commands, run as written: the values
they set must reach a child process (the benchmark), so they must be exported."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from s3server import S3Server

ROOT = Path(__file__).resolve().parents[2]
EVAL = re.compile(r'eval "\$\(scripts/([a-z0-9-]+)\)"')
CHILD = "import os, sys; print(' '.join(os.environ.get(n, '-') for n in sys.argv[1:]))"


def documented(script: str) -> str:
    """The README's own spelling of the command that starts ``script``."""
    found = {m.group(1): m.group(0) for m in EVAL.finditer((ROOT / "README.md").read_text(encoding="utf-8"))}
    assert script in found, f'the README no longer documents eval "$(scripts/{script})"'
    return found[script]


def in_child(command: str, names: list[str], env: dict[str, str]) -> list[str]:
    shell = f'{command} && "{sys.executable}" -c "{CHILD}" {" ".join(names)}'
    done = subprocess.run(
        ["bash", "-c", shell], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_pg_server_start_exports_database_url(pg_server_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    (url,) = in_child(documented("pg-server-start"), ["DATABASE_URL"], env)
    assert url.startswith("postgresql://"), url


def test_s3_server_start_exports_endpoint_and_keys(s3_server: S3Server) -> None:
    if s3_server.state_dir is None:
        pytest.skip("an external S3 server (RECORDER_SYNC_TEST_S3_ENDPOINT) was not started by the script")
    names = ["S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY"]
    env = {k: v for k, v in os.environ.items() if k not in names}
    env["RECORDER_SYNC_S3_DIR"] = str(s3_server.state_dir)  # the running test cluster answers
    endpoint, access, secret = in_child(documented("s3-server-start"), names, env)
    assert endpoint == s3_server.endpoint
    assert (access, secret) == (s3_server.owner.access_key, s3_server.owner.secret_key)
