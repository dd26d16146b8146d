"""The auditor's own memory: the last checkpoint of each log it verified, in its state folder.

It lives with the auditor, not with the station: a log rolled back or rewritten since the
auditor last looked is caught by comparing with it, even if the database and the store now
agree with each other.  One file per log origin, replaced atomically (written aside, synced,
renamed), 0600 in a 0700 folder.
"""

from __future__ import annotations

import os
import secrets
import urllib.parse
from pathlib import Path

from recorder_sync.adapters.private import FILE_MODE, make_private_dirs
from recorder_sync.domain.errors import UsageError


class StateFolder:
    """``AuditorState`` in a folder (``recorder-audit --state DIR``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, origin: str) -> Path:
        return self.folder / (urllib.parse.quote(origin, safe="") + ".checkpoint")

    def last_verified(self, origin: str) -> bytes | None:
        try:
            return self._path(origin).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise UsageError(f"auditor state {self._path(origin)}: {e.strerror or e}") from None

    def remember(self, origin: str, note: bytes) -> None:
        path = self._path(origin)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            make_private_dirs(self.folder)
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
