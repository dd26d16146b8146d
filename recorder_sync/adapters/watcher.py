"""watchdog observers per dock: they only say *which dock changed*; the pipeline rescans.

Events are hints, not truth: inotify drops events on overflow, USB and network
mounts deliver none (use the polling observer there), and files that arrived while
the daemon was down raise no event at all. So every event just marks its dock
dirty, and the daemon also rescans every dock at start and periodically.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

log = logging.getLogger(__name__)


class DirtyDocks:
    """Thread-safe set of docks to rescan, with a wake-up for the daemon's loop."""

    def __init__(self) -> None:
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self.wake = threading.Event()

    def mark(self, dock: str) -> None:
        with self._lock:
            self._dirty.add(dock)
            self.wake.set()

    def take(self) -> set[str]:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            # under the lock: a mark between the swap and a late clear would be left with
            # no wake-up, and the loop would sleep through it
            self.wake.clear()
        return dirty

    def wait(self, timeout: float) -> bool:
        """Until a dock is marked (or :attr:`wake` is set to stop), at most ``timeout`` seconds."""
        return self.wake.wait(timeout)


class _Handler(FileSystemEventHandler):
    def __init__(self, dock: str, dirty: DirtyDocks) -> None:
        self.dock = dock
        self.dirty = dirty

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type != "opened":
            self.dirty.mark(self.dock)


class DockWatcher:
    def __init__(self, dirty: DirtyDocks, poll_interval: float = 2.0) -> None:
        self.dirty = dirty
        self.poll_interval = poll_interval
        self._observers: list[BaseObserver] = []

    def start(self, docks: Iterable[tuple[str, Path, str]]) -> None:
        """``docks``: (name, folder, 'inotify' | 'polling')."""
        for name, path, mode in docks:
            observer: BaseObserver = (
                PollingObserver(timeout=self.poll_interval) if mode == "polling" else Observer()
            )
            try:
                observer.schedule(_Handler(name, self.dirty), str(path), recursive=True)
                observer.start()
            except OSError as e:
                # a dock that is not mounted yet is still rescanned periodically
                log.warning("dock %s: cannot watch %s (%s); relying on periodic rescans", name, path, e)
                # the inotify observer starts its reader thread when it is made, not when it
                # starts: a watch that failed must end it, or it runs on with its descriptor
                observer.stop()
                continue
            self._observers.append(observer)

    def stop(self) -> None:
        for o in self._observers:
            o.stop()
        for o in self._observers:
            o.join(timeout=5)
        self._observers.clear()
