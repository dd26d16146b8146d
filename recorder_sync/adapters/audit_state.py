"""The auditor's own memory: the last checkpoint of each log it verified, in its state folder.

It lives with the auditor, not with the station: a log rolled back or rewritten since the
auditor last looked is caught by comparing with it, even if the database and the store now
agree with each other.  One file per log origin, replaced atomically (written aside, synced,
renamed), 0600 in a 0700 folder.  It never moves back: two audits run at once (a timer and
a person) may finish in either order, and the one that verified the smaller log must not
replace what the other kept (a rollback between the two sizes would then go unseen).  A
state file that is not a regular file (a FIFO would be read forever) is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from recorder_sync.adapters.private import FILE_MODE, make_private_dirs
from recorder_sync.domain.checkpoint import Checkpoint
from recorder_sync.domain.errors import Error, UsageError
from recorder_sync.io.small_file import NotSmallFile, read_small_file

_LOCK = ".lock"


def _size(note: bytes) -> int | None:
    """The size a kept note states (its signature was checked when it was kept)."""
    text, sep, _ = note.partition(b"\n\n")
    try:
        return Checkpoint.parse(text + b"\n").size if sep else None
    except Error:
        return None


class StateFolder:
    """``AuditorState`` in a folder (``recorder-audit --state DIR``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, origin: str) -> Path:
        return self.folder / (urllib.parse.quote(origin, safe="") + ".checkpoint")

    def last_verified(self, origin: str) -> bytes | None:
        path = self._path(origin)
        try:
            return read_small_file(path)  # a FIFO there is refused, never waited on
        except FileNotFoundError:
            return None
        except NotSmallFile as e:
            raise UsageError(f"auditor state {path}: {e.strerror}; move it away") from None
        except OSError as e:
            raise UsageError(f"auditor state {path}: {e.strerror or e}") from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One audit at a time between reading what is kept and replacing it."""
        make_private_dirs(self.folder)
        fd = os.open(self.folder / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def remember(self, origin: str, note: bytes) -> None:
        path = self._path(origin)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            with self._locked():
                kept = self.last_verified(origin)
                kept_size, size = (_size(kept) if kept else None), _size(note)
                if kept_size is not None and (size is None or size < kept_size):
                    return  # another audit kept a larger checkpoint meanwhile: keep it
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
                try:
                    os.write(fd, note)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise UsageError(f"cannot keep the auditor state in {self.folder}: {e.strerror or e}") from None
