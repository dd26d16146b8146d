"""The players replay starts, and the private copies it plays from."""

from __future__ import annotations

import os
import stat
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from fakes import MemoryStore

from recorder_sync.adapters.player import CommandPlayer, StoreCopies, remove_abandoned
from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.replay import ClipRange

SPAN = ClipRange(timedelta(seconds=5), timedelta(seconds=90))


def test_builtin_players_get_the_range_and_the_file_last() -> None:
    env = {"DISPLAY": ":0", "PATH": "/usr/bin:/bin"}
    ffplay = CommandPlayer("ffplay", env).command(Path("/p/clip.mp4"), SPAN)
    assert ffplay[0] == "ffplay" and ffplay[-1] == "/p/clip.mp4"
    assert ffplay[ffplay.index("-ss") + 1] == "5.000" and ffplay[ffplay.index("-t") + 1] == "85.000"
    mpv = CommandPlayer("mpv", env).command(Path("/p/clip.mp4"), SPAN)
    assert mpv == ["mpv", "--start=5.000", "--end=90.000", "/p/clip.mp4"]
    custom = CommandPlayer("vlc --play-and-exit", env).command(Path("/p/clip.mp4"), SPAN)
    assert custom == ["vlc", "--play-and-exit", "/p/clip.mp4"]  # the range is only logged


def test_without_a_display_a_builtin_player_says_so_and_suggests_export() -> None:
    why = CommandPlayer("ffplay", {"PATH": "/usr/bin:/bin"}).unusable()
    assert why is not None and "no display" in why and "recorder-replay export" in why
    why = CommandPlayer("no-such-player-here", {"PATH": "/usr/bin:/bin"}).unusable()
    assert why is not None and "not installed" in why
    with pytest.raises(UsageError, match="empty command"):
        CommandPlayer("  ", {})


def test_a_private_copy_is_0600_in_a_0700_folder_and_gone_afterwards(tmp_path: Path) -> None:
    store = MemoryStore()
    store.objects["k/obj"] = b"evidence"
    with StoreCopies(store, tmp_path).fetch("k/obj") as copy:
        assert copy.path.read_bytes() == b"evidence" and copy.size == 8
        assert stat.S_IMODE(copy.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(copy.path.parent.stat().st_mode) == 0o700
    assert not copy.path.parent.exists()
    with pytest.raises(RuntimeError), StoreCopies(store, tmp_path).fetch("k/obj"):
        raise RuntimeError("the player crashed")
    assert list(tmp_path.iterdir()) == []


def test_only_the_private_folders_of_replays_that_are_gone_are_removed(tmp_path: Path) -> None:
    dead_pid = subprocess.Popen(["true"])  # a process that has ended and was reaped
    dead_pid.wait()
    dead = tmp_path / f"recorder-replay-{dead_pid.pid}-abc123"
    live = tmp_path / f"recorder-replay-{os.getpid()}-def456"  # a replay still playing
    other = tmp_path / "recorder-replay-notapid"
    elsewhere = tmp_path / "elsewhere"
    for folder in (dead, live, other, elsewhere):
        folder.mkdir()
        (folder / "copy.mp4").write_bytes(b"evidence")
    (tmp_path / f"recorder-replay-{dead_pid.pid}-link").symlink_to(elsewhere)  # not followed
    assert remove_abandoned(tmp_path) == [dead]
    assert not dead.exists() and (live / "copy.mp4").exists() and (other / "copy.mp4").exists()
    assert (elsewhere / "copy.mp4").exists()


def test_a_fetch_names_its_folder_after_its_process_and_removes_it(tmp_path: Path) -> None:
    store = MemoryStore()
    store.objects["sha256/x"] = b"evidence"
    with StoreCopies(store, tmp_path).fetch("sha256/x") as copy:
        assert copy.path.parent.name.startswith(f"recorder-replay-{os.getpid()}-")
    assert list(tmp_path.iterdir()) == []
