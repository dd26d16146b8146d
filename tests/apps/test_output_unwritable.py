"""Output that cannot be written: ``recorder-sync list --json > out.json`` on a full disk.

The real executables write their standard output to ``/dev/full`` (every write fails with
ENOSPC, as on a full disk): each must end with exit 2 and the reason, never as an internal
error (exit 70, a trace asking to report a bug) and never with exit 0 as if it had printed.
A reader that goes away is still exit 141.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from clirunner import env_for


def _execute(
    name: str, env: dict[str, str], *args: str, stdout: int | None = None
) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name(name))
    with open("/dev/full", "w") as full:
        return subprocess.run(
            [exe, *args],
            env=env,
            stdout=full if stdout is None else stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'catalog.db'}")
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "DSJ-A1_031245_20261127083015_0001.MP4").write_bytes(b"evidence " * 1000)
    r = _execute(
        "recorder-sync", env, "ingest", str(dock), "--stable-seconds", "0", stdout=subprocess.DEVNULL
    )
    assert r.returncode == 0, r.stderr
    return env


@pytest.mark.parametrize(
    "name,args",
    [
        ("recorder-sync", ("status",)),
        ("recorder-sync", ("status", "--json")),
        ("recorder-sync", ("list",)),
        ("recorder-sync", ("list", "--json")),
        ("recorder-sync", ("flags", "--all")),
        ("recorder-sync", ("keys", "export-public")),
    ],
)
def test_output_to_a_full_disk_is_exit_2_with_the_reason(
    env: dict[str, str], name: str, args: tuple[str, ...]
) -> None:
    r = _execute(name, env, *args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert "Cannot write the output to standard output: No space left on device" in r.stderr, r.stderr


def test_a_reader_that_went_away_is_still_exit_141(env: dict[str, str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write
    try:
        r = _execute("recorder-sync", env, "list", "--json", stdout=write_end)
    finally:
        os.close(write_end)
    assert r.returncode == 141, r.stderr
    assert "Traceback" not in r.stderr and "Cannot write" not in r.stderr
