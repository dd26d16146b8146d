"""Replay's local side: private temporary copies of stored objects, and the players that show them.

A copy is written to a file only its owner can read (0600, in a fresh 0700 folder) and
removed when the player is done, whatever happened: evidence must not linger in /tmp. A
replay killed outright (SIGKILL, a second Ctrl-C, a power cut) cannot remove its copy: each
folder is named after its process, and the next fetch of that account removes those whose
process is gone.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from recorder_sync.domain.errors import StorageUnavailable, UsageError
from recorder_sync.domain.ports import ObjectStore
from recorder_sync.domain.replay import ClipRange, FetchedCopy
from recorder_sync.io import processes
from recorder_sync.io.hashing import SinkWriteError, sha256_copy
from recorder_sync.io.processes import pid_alive

log = logging.getLogger(__name__)

_PREFIX = "recorder-replay-"
_PRIVATE = re.compile(re.escape(_PREFIX) + r"(\d+)-[^/]+")  # recorder-replay-PID-XXXXXXXX


def remove_abandoned(folder: Path) -> list[Path]:
    """Remove the private folders in ``folder`` that this account's replays left when they were
    killed (their process is gone), and say which."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _PRIVATE.fullmatch(entry.name)
        if m is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or pid_alive(int(m.group(1))):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        log.warning("removed %s, a private copy of evidence left by a replay that was killed", entry.path)
        removed.append(Path(entry.path))
    return removed


class StoreCopies:
    """Implements ``PrivateCopies`` on an object store."""

    def __init__(self, store: ObjectStore, folder: Path | None = None) -> None:
        self.store = store
        self.folder = folder  # None: the system's temporary folder

    @contextmanager
    def fetch(self, key: str, version_id: str | None = None) -> Iterator[FetchedCopy]:
        remove_abandoned(Path(self.folder or tempfile.gettempdir()))
        private = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=self.folder))  # 0700
        path = private / Path(key).name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "wb") as out, self.store.open(key, version_id) as src:
                try:
                    sha256, size = sha256_copy(src, out)
                except SinkWriteError as e:
                    cause = e.__cause__
                    why = cause.strerror if isinstance(cause, OSError) else str(e)
                    raise UsageError(f"cannot write the private copy in {private}: {why}") from e
                except OSError as e:
                    raise StorageUnavailable(f"reading {key}: {e.strerror or e}") from e
            yield FetchedCopy(path, sha256, size)
        finally:
            shutil.rmtree(private, ignore_errors=True)


_DISPLAY_VARS = ("DISPLAY", "WAYLAND_DISPLAY")


class CommandPlayer:
    """Implements ``Player``: ``ffplay``, ``mpv``, or any command given with the file's path
    as its last argument."""

    def __init__(self, spec: str, env: Mapping[str, str] | None = None) -> None:
        self.name = spec
        self.env = dict(os.environ if env is None else env)
        self.builtin = spec in ("ffplay", "mpv")
        try:
            self.argv: Sequence[str] = [spec] if self.builtin else shlex.split(spec)
        except ValueError as e:
            raise UsageError(f"--player {spec!r}: {e}") from None
        if not self.argv:
            raise UsageError("--player: empty command")

    def unusable(self) -> str | None:
        if self.builtin and not any(self.env.get(v) for v in _DISPLAY_VARS):
            return (
                f"no display to play on (neither DISPLAY nor WAYLAND_DISPLAY is set) for {self.name}; "
                "hand the footage over as a file instead: recorder-replay export"
            )
        if shutil.which(self.argv[0], path=self.env.get("PATH")) is None:
            return f"--player {self.name!r}: {self.argv[0]} is not installed (or not on PATH)"
        return None

    def command(self, path: Path, span: ClipRange) -> list[str]:
        argv = list(self.argv)
        if self.name == "ffplay":
            argv += ["-autoexit", "-hide_banner", "-loglevel", "error"]
            if span.start is not None:
                argv += ["-ss", f"{span.start.total_seconds():.3f}"]
            if span.end is not None:
                duration = span.end - (span.start or timedelta(0))
                argv += ["-t", f"{duration.total_seconds():.3f}"]
        elif self.name == "mpv":
            if span.start is not None:
                argv.append(f"--start={span.start.total_seconds():.3f}")
            if span.end is not None:
                argv.append(f"--end={span.end.total_seconds():.3f}")
        return [*argv, str(path)]

    def play(self, path: Path, span: ClipRange) -> int:
        try:
            return processes.run(self.command(path, span), env=self.env).returncode
        except OSError as e:
            raise UsageError(f"--player {self.name!r} could not start: {e.strerror or e}") from e
