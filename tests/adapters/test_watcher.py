"""Real watchdog observers (inotify and polling) on real folders."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from recorder_sync.adapters.watcher import DirtyDocks, DockWatcher


@pytest.mark.parametrize("mode", ["inotify", "polling"])
def test_new_file_marks_its_dock_dirty(tmp_path: Path, mode: str) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    dirty = DirtyDocks()
    watcher = DockWatcher(dirty, poll_interval=0.2)
    watcher.start([("A", a, mode), ("B", b, mode)])
    try:
        time.sleep(0.3)
        (b / "sub").mkdir()
        (b / "sub" / "clip.mp4").write_bytes(b"x" * 100)
        assert dirty.wake.wait(timeout=10)
        deadline = time.monotonic() + 5
        seen: set[str] = set()
        while time.monotonic() < deadline and "B" not in seen:
            seen |= dirty.take()
            time.sleep(0.1)
        assert seen == {"B"}
    finally:
        watcher.stop()


def test_missing_dock_does_not_stop_the_others(tmp_path: Path) -> None:
    ok = tmp_path / "ok"
    ok.mkdir()
    dirty = DirtyDocks()
    watcher = DockWatcher(dirty)
    watcher.start([("gone", tmp_path / "not-mounted", "inotify"), ("ok", ok, "inotify")])
    try:
        time.sleep(0.2)
        (ok / "f").write_bytes(b"1")
        assert dirty.wake.wait(timeout=10)
        time.sleep(0.2)
        assert dirty.take() == {"ok"}
    finally:
        watcher.stop()


class _LockThatLetsOthersIn:
    """A lock that, the first time ``take`` releases it, runs ``between`` (a watcher thread's
    ``mark``) right there: the interleaving that lost a wake-up, made deterministic."""

    def __init__(self, between: Callable[[], None]) -> None:
        self._lock = threading.Lock()
        self._between: Callable[[], None] | None = between

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
        between, self._between = self._between, None
        if between is not None:
            between()


def test_a_dock_marked_while_take_returns_still_wakes_the_loop() -> None:
    dirty = DirtyDocks()
    dirty.mark("A")
    dirty._lock = _LockThatLetsOthersIn(lambda: dirty.mark("B"))  # type: ignore[assignment]
    assert dirty.take() == {"A"}
    # B is waiting to be rescanned: the loop must not sleep through it
    assert dirty.wake.is_set()
    assert dirty.wait(timeout=0) is True
    assert dirty.take() == {"B"}
    assert not dirty.wake.is_set() and dirty.wait(timeout=0) is False
