"""The players replay starts, and the private copies it plays from."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from fakes import MemoryStore

from recorder_sync.adapters.player import CommandPlayer, StoreCopies
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
