"""A dock folder, opened component by component so nothing ever leads out of it.

Every path is resolved with ``openat``-style calls relative to a directory file
descriptor, each component opened with ``O_NOFOLLOW``: a symbolic link anywhere in a
path is refused, not followed, and names from the camera are never joined into
paths as text.

Names are bytes on disk; the catalog, the manifest and the custody log hold text. A
name that is valid UTF-8 is kept as it is. A name that is not (a camera writing GBK on
a FAT card, mounted with the wrong code page) is shown with each undecodable byte as
``\\xNN``, and turned back into the same bytes whenever the file is opened. So every
file is still ingested, under a name an operator can read. The two forms never meet: a
UTF-8 name that itself reads as escaped bytes is refused, with the reason, and left on
the dock.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
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


_ESCAPED_BYTE = re.compile(rb"\\x([0-9a-f]{2})")


def raw_name(text: str) -> bytes:
    """The bytes on disk of a name as the catalog holds it (see ``name_text``)."""
    literal = text.encode("utf-8")
    unescaped = _ESCAPED_BYTE.sub(lambda m: bytes([int(m[1], 16)]), literal)
    try:
        unescaped.decode("utf-8")
    except UnicodeDecodeError:
        return unescaped  # the text form of a name that is not UTF-8
    return literal


def shown_name(raw: bytes | str) -> str:
    """A name as text: bytes that are not UTF-8 as ``\\xNN``."""
    return os.fsencode(raw).decode("utf-8", "backslashreplace")


def name_text(raw: bytes) -> str | None:
    """The text form of a name on disk, or None when it has none (refuse the file)."""
    text = shown_name(raw)
    return text if raw_name(text) == raw else None


def split_relpath(relpath: str) -> list[bytes]:
    parts = relpath.split("/")
    if not relpath or relpath.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise UnsafePath(repr(relpath), "not a plain path inside the dock")
    return [raw_name(p) for p in parts]


class DockFolder:
    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root

    def _open_dir(self, parts: list[bytes]) -> int:
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
                shown = _shown(parts)
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    why = f"folder {_shown([part])!r} is a symbolic link or not a folder"
                    raise UnsafePath(shown, why) from e
                raise SourceUnavailable(shown, e.strerror or str(e)) from e
            os.close(fd)
            fd = nfd
        return fd

    def walk(self) -> Iterator[tuple[str, FileIdentity | None, str | None]]:
        root = os.fsencode(self.root)
        stack: list[tuple[str, bytes]] = [("", root)]
        while stack:
            rel, folder = stack.pop()
            try:
                folder_dev = os.stat(folder, follow_symlinks=False).st_dev
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue  # vanished or unreadable folder: the next reconciliation tries again
            for entry in entries:
                shown = shown_name(entry.name)
                child = f"{rel}/{shown}" if rel else shown
                if name_text(entry.name) is None:
                    yield child, None, "name reads as escaped bytes (\\xNN); rename it on the dock"
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISLNK(st.st_mode):
                    yield child, None, f"symbolic link to {_readlink(entry.path)!r} not followed"
                elif stat.S_ISDIR(st.st_mode):
                    if st.st_dev == folder_dev:
                        stack.append((child, entry.path))
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


def _shown(parts: list[bytes]) -> str:
    return "/".join(map(shown_name, parts))


def _readlink(path: bytes) -> str:
    try:
        return shown_name(os.readlink(path))
    except OSError:
        return "?"
