"""A dock mounted read-only (an SD card with its write-protect switch on) under policy
``delete``: the file is stored and verified, its release is refused with the reason and what
to do (exit 1), the dock copy is kept, and once the dock is writable again the next
``ingest`` releases it.  Needs a real read-only mount (tmpfs): root only."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirunner import env_for, run, run_json

MEDIA = "DSJ-A1_031245_20261127083015_0001.MP4"


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "card"
    point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a read-only mount needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "card", str(point)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode(errors='replace').strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)


def _remount(point: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(point)], check=True)


def test_a_read_only_dock_keeps_the_file_says_why_and_releases_it_once_writable(
    mount: Path, tmp_path: Path
) -> None:
    dock = mount / "dock"
    dock.mkdir()
    (dock / MEDIA).write_bytes(b"evidence on a locked card")
    _remount(mount, "ro")
    home = tmp_path / "home"
    env = env_for(home, f"sqlite:///{home / 'db.sqlite'}")
    r = run(env, "ingest", str(dock), "--stable-seconds", "0", "--max-attempts", "1")
    assert r.returncode == 1, r.stderr
    assert (
        f"Cannot release {dock}/{MEDIA} from the dock: the dock is mounted read-only (a card's "
        "write-protect switch?); remount it read-write, or set release_policy = 'keep'; the dock copy is "
        "kept and tried again"
    ) in r.stderr, r.stderr
    assert "I/O error" not in r.stderr
    assert (dock / MEDIA).read_bytes() == b"evidence on a locked card"
    [rec] = run_json(env, "list")
    assert rec["state"] == "verified"  # stored and checked; only the release waits
    _remount(mount, "rw")
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr
    assert not (dock / MEDIA).exists()
    assert [rec["state"] for rec in run_json(env, "list")] == ["released"]
