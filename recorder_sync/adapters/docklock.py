"""One process per dock, machine-wide: an exclusive ``flock`` per dock folder.

Two processes on one dock (two daemons, or a daemon and a one-shot ``ingest``, with different
homes) would split its evidence between two vaults, and each would flag the other's releases
as ``source-unavailable``. So each dock is locked, keyed by the real path of its folder, in a
lock folder of the machine (default ``/run/lock/recorder-sync``), never on the dock (it may be
read-only, or another machine's mount) and never inside one home (two homes must see the same
lock). The kernel releases a ``flock`` when its holder dies, even by ``kill -9``: a standby
daemon takes the dock over on its next try, and no stale lock ever needs clearing by hand.

Lock files are never deleted: unlinking a file that someone else has just opened would let two
processes each lock "the" file. The holder writes who it is (pid, station, home) into the file,
so that a refused process can name it.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recorder_sync.adapters.private import make_private_dirs
from recorder_sync.domain.errors import ConfigError, UsageError

log = logging.getLogger(__name__)


class DockBusy(UsageError):
    """dock {} is being ingested by another recorder-sync process ({}); nothing done here: let it finish or stop it, then try again"""  # noqa: E501


@dataclass(frozen=True)
class Holder:
    pid: int | None
    station: str
    home: str
    dock: str
    since: str = ""

    def __str__(self) -> str:
        if self.pid is None:
            return "holder unknown"
        return f"pid {self.pid}, station {self.station}, home {self.home}, since {self.since or '?'}"


class DockLocks:
    """The dock locks this process holds; each is kept until the process ends."""

    def __init__(self, folder: Path, *, station: str, home: Path, source: str = "lock_dir") -> None:
        self.folder = folder
        self.station = station
        self.home = str(home)
        self.source = source
        self._held: dict[str, int] = {}  # real path of the dock → the locked file's descriptor

    def try_take(self, dock: Path) -> Holder | None:
        """Lock ``dock`` unless another process holds it: None when ours, else who holds it."""
        real = os.path.realpath(dock)
        if real in self._held:
            return None
        fd = self._open(real)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                os.close(fd)
                raise self._unusable(f"cannot lock {self._file(real)}: {e.strerror}") from None
            holder = _read_holder(fd, real)
            os.close(fd)
            return holder
        me = Holder(
            os.getpid(), self.station, self.home, real, datetime.now(UTC).isoformat(timespec="seconds")
        )
        data = json.dumps(me.__dict__, ensure_ascii=False).encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        self._held[real] = fd
        log.debug("dock %s: locked (%s)", real, self._file(real))
        return None

    def take(self, dock: Path) -> None:
        """Lock ``dock`` or refuse with :class:`DockBusy` naming the holder."""
        holder = self.try_take(dock)
        if holder is not None:
            raise DockBusy(os.path.realpath(dock), holder)

    def holds(self, dock: Path) -> bool:
        return os.path.realpath(dock) in self._held

    def _file(self, real: str) -> Path:
        # hashed: a real path may be longer than a file name, and must not be parsed back
        return self.folder / (hashlib.sha256(os.fsencode(real)).hexdigest()[:32] + ".lock")

    def _open(self, real: str) -> int:
        self._ensure_folder()
        path = self._file(real)
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise self._unusable(f"cannot open {path}: {e.strerror}") from None

    def _ensure_folder(self) -> None:
        try:
            make_private_dirs(self.folder)  # with any missing folder above it, 0700 whatever the umask
        except OSError as e:
            raise self._unusable(f"cannot create {self.folder}: {e.strerror}") from None
        st = os.lstat(self.folder)
        if not stat.S_ISDIR(st.st_mode):
            raise self._unusable(f"{self.folder} is not a folder (a symbolic link or a file)")
        if st.st_uid != os.geteuid() and st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            # anyone could swap the lock files under us
            raise self._unusable(f"{self.folder} is writable by others and not sticky")

    def _unusable(self, why: str) -> ConfigError:
        return ConfigError(
            self.source,
            "lock_dir",
            f"{why}; the dock locks need a folder this user can write, shared by every "
            "recorder-sync on the machine (set RECORDER_SYNC_LOCK_DIR or lock_dir)",
        )


def _read_holder(fd: int, real: str) -> Holder:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return Holder(
            int(data["pid"]), str(data["station"]), str(data["home"]), real, str(data.get("since", ""))
        )
    except (OSError, ValueError, KeyError, TypeError):
        # being written this very moment, or not ours
        return Holder(None, "?", "?", real)
