"""A dock folder, opened component by component so nothing ever leads out of it.

Every path is resolved with ``openat``-style calls relative to a directory file
descriptor, each component opened with ``O_NOFOLLOW``: a symbolic link anywhere in a
path is refused, not followed, and names from the camera are never joined into
paths as text.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from recorder_sync.domain.errors import SourceUnavailable, UnsafePath
from recorder_sync.domain.model import FileIdentity

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NOATIME", 0)


def identity_of(st: os.stat_result) -> FileIdentity:
    return FileIdentity(size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino, device=st.st_dev)


def split_relpath(relpath: str) -> list[str]:
    parts = relpath.split("/")
    if not relpath or relpath.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise UnsafePath(repr(relpath), "not a plain path inside the dock")
    return parts


class DockFolder:
    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root

    def _open_dir(self, parts: list[str]) -> int:
        """Descriptor of the folder holding the last component; the caller closes it."""
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise SourceUnavailable(str(self.root), f"dock folder unavailable: {e.strerror}") from e
        for part in parts[:-1]:
            try:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePath(
                        "/".join(parts), f"folder {part!r} is a symbolic link or not a folder"
                    ) from e
                raise SourceUnavailable("/".join(parts), e.strerror or str(e)) from e
            os.close(fd)
            fd = nfd
        return fd

    def walk(self) -> Iterator[tuple[str, FileIdentity | None, str | None]]:
        stack: list[str] = [""]
        while stack:
            rel = stack.pop()
            folder = self.root / rel if rel else self.root
            try:
                folder_dev = os.stat(folder, follow_symlinks=False).st_dev
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue  # vanished or unreadable folder: the next reconciliation tries again
            for entry in entries:
                child = f"{rel}/{entry.name}" if rel else entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISLNK(st.st_mode):
                    yield child, None, f"symbolic link to {_readlink(entry.path)!r} not followed"
                elif stat.S_ISDIR(st.st_mode):
                    if st.st_dev == folder_dev:
                        stack.append(child)
                    else:
                        yield child, None, "another file system mounted inside the dock; not entered"
                elif stat.S_ISREG(st.st_mode):
                    yield child, identity_of(st), None
                else:
                    yield child, None, "not a regular file (device, socket or pipe)"

    def stat(self, relpath: str) -> FileIdentity | None:
        parts = split_relpath(relpath)
        try:
            fd = self._open_dir(parts)
        except SourceUnavailable:
            return None
        try:
            st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        finally:
            os.close(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(relpath, "not a regular file (symbolic link or special file)")
        return identity_of(st)

    def open(self, relpath: str) -> tuple[BinaryIO, FileIdentity]:
        parts = split_relpath(relpath)
        fd = self._open_dir(parts)
        try:
            ffd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
        except PermissionError:
            # O_NOATIME is refused for files we do not own; plain read-only is fine
            ffd = os.open(parts[-1], _FILE_FLAGS & ~getattr(os, "O_NOATIME", 0), dir_fd=fd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise UnsafePath(relpath, "symbolic link not followed") from e
            raise SourceUnavailable(relpath, e.strerror or str(e)) from e
        finally:
            os.close(fd)
        st = os.fstat(ffd)
        if not stat.S_ISREG(st.st_mode):
            os.close(ffd)
            raise UnsafePath(relpath, "not a regular file")
        return os.fdopen(ffd, "rb", buffering=0), identity_of(st)

    def read_small(self, relpath: str, limit: int) -> bytes | None:
        try:
            f, ident = self.open(relpath)
        except (SourceUnavailable, UnsafePath, OSError):
            return None
        with f:
            if ident.size > limit:
                return None
            return f.read(limit + 1)[:limit]

    def local_path(self, relpath: str) -> Path:
        return self.root.joinpath(*split_relpath(relpath))

    def remove(self, relpath: str, expected: FileIdentity) -> bool:
        parts = split_relpath(relpath)
        fd = self._open_dir(parts)
        try:
            try:
                st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return True  # already gone: nothing of the camera's copy is left to release
            if not stat.S_ISREG(st.st_mode) or identity_of(st) != expected:
                return False
            os.unlink(parts[-1], dir_fd=fd)
            with contextlib.suppress(OSError):
                os.fsync(fd)
            return True
        finally:
            os.close(fd)


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"
