"""Dock locks on a real lock folder, between real processes (flock is per open file, so two
DockLocks in one process already exclude each other; a child process shows the kernel
releasing the lock when its holder is killed)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from recorder_sync.adapters.docklock import DockBusy, DockLocks
from recorder_sync.apps import config
from recorder_sync.domain.errors import ConfigError


def locks(tmp_path: Path, home: str) -> DockLocks:
    return DockLocks(tmp_path / "locks", station=f"st-{home}", home=tmp_path / home)


def test_one_holder_per_dock_keyed_by_real_path(tmp_path: Path) -> None:
    dock, other = tmp_path / "dock", tmp_path / "other"
    dock.mkdir()
    other.mkdir()
    (tmp_path / "link").symlink_to(dock)
    a, b = locks(tmp_path, "a"), locks(tmp_path, "b")
    assert a.try_take(dock) is None and a.holds(tmp_path / "link")
    assert a.try_take(dock) is None  # taking it again is a no-op
    holder = b.try_take(tmp_path / "link")  # another spelling of the same folder
    assert holder is not None
    assert (holder.pid, holder.station, holder.home, holder.dock) == (
        os.getpid(),
        "st-a",
        str(tmp_path / "a"),
        str(dock),
    )
    with pytest.raises(DockBusy) as e:
        b.take(dock)
    assert e.value.exit_code == 2
    assert f"dock {dock} is being ingested by another recorder-sync process (pid {os.getpid()}" in str(
        e.value
    )
    assert b.try_take(other) is None  # docks are independent


def test_the_lock_goes_with_its_holder_even_after_kill_9(tmp_path: Path) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from recorder_sync.adapters.docklock import DockLocks;"
            f"DockLocks(Path({str(tmp_path / 'locks')!r}), station='st-child', home=Path('/h')).take("
            f"Path({str(dock)!r})); print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        holder = locks(tmp_path, "b").try_take(dock)
        assert holder is not None and (holder.pid, holder.station) == (child.pid, "st-child")
    finally:
        child.kill()
        child.wait()
    assert locks(tmp_path, "b").try_take(dock) is None


def test_lock_folder_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        locks(tmp_path, "a").take(tmp_path)
    finally:
        os.umask(old)
    folder = tmp_path / "locks"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    [lock] = folder.iterdir()
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_unusable_lock_folder_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "locks").write_text("not a folder")
    with pytest.raises(ConfigError) as e:
        locks(tmp_path, "a").take(tmp_path)
    assert e.value.exit_code == 2 and "lock_dir" in str(e.value) and "RECORDER_SYNC_LOCK_DIR" in str(e.value)


def test_lock_dir_setting(tmp_path: Path) -> None:
    home = {"RECORDER_SYNC_HOME": str(tmp_path / "home")}
    assert config.load(env=home).lock_dir == Path("/run/lock/recorder-sync")
    assert config.load(env=home | {"RECORDER_SYNC_LOCK_DIR": str(tmp_path)}).lock_dir == tmp_path
    toml = tmp_path / "c.toml"
    toml.write_text('lock_dir = "/srv/locks"\n')
    assert config.load(toml, env=home).lock_dir == Path("/srv/locks")
    with pytest.raises(ConfigError) as e:
        config.load(env=home | {"RECORDER_SYNC_LOCK_DIR": "locks"})
    assert "lock_dir" in str(e.value) and "absolute" in str(e.value)
