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

Nothing on a dock can stop the reader or escape a flag: the walk goes folder by folder
through descriptors (no path length limit, no path re-resolved), and reports every entry
it cannot take with the reason (unreadable folder, hard link, a vault's folder, …), so
nothing is skipped in silence. Files are opened non-blocking and checked with ``fstat``
before a byte is read, so a FIFO or device named like a sidecar never blocks the reader.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from recorder_sync.adapters.vault import MARKER as VAULT_MARKER
from recorder_sync.domain.errors import ReleaseBlocked, SourceUnavailable, UnsafePath
from recorder_sync.domain.model import FileIdentity
from recorder_sync.domain.places import Place

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NOATIME = getattr(os, "O_NOATIME", 0)
# O_NONBLOCK: opening a FIFO (or a device) must never wait; it is cleared once fstat shows a regular file
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | _NOATIME
# One descriptor is held per level: deeper than this, a folder is flagged rather than entered.
MAX_DEPTH = 100

HARD_LINK = "has {} names (hard link): releasing one would not remove the file, so it is left on the dock"
VAULT_FOLDER = f"holds a recorder_sync vault ({VAULT_MARKER}); never entered"


def identity_of(st: os.stat_result) -> FileIdentity:
    return FileIdentity(
        size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino, device=st.st_dev, ctime_ns=st.st_ctime_ns
    )


def place(what: str, path: Path) -> Place:
    """``path`` as found on disk now: resolved, with the (device, inode) of it and of each folder above."""
    resolved = Path(os.path.realpath(path))
    own: tuple[int, int] | None = None
    with contextlib.suppress(OSError):
        st = os.stat(resolved)
        own = (st.st_dev, st.st_ino)
    above: set[tuple[int, int]] = set()
    for folder in resolved.parents:
        with contextlib.suppress(OSError):
            st = os.stat(folder)
            above.add((st.st_dev, st.st_ino))
    return Place(what, PurePosixPath(resolved), own, frozenset(above))


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

    def _open_root(self) -> int:
        """The dock folder itself, not followed if it is a link (the caller closes it)."""
        try:
            return os.open(self.root, _DIR_FLAGS)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UnsafePath(str(self.root), "the dock folder is a symbolic link or not a folder") from e
            raise SourceUnavailable(str(self.root), f"dock folder unavailable: {e.strerror}") from e

    def _open_dir(self, parts: list[bytes]) -> int:
        """Descriptor of the folder holding the last component; the caller closes it."""
        fd = self._open_root()
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
        """Nothing when the dock folder is not there (undocked); UnsafePath when it is a link or
        holds a vault, SourceUnavailable when it cannot be read."""
        try:
            fd = self._open_root()
        except SourceUnavailable as e:
            if isinstance(e.__cause__, FileNotFoundError):
                return
            raise
        try:
            try:
                vault = _holds_vault(fd)
                entries = [] if vault else _entries(fd)
            except OSError as e:
                raise SourceUnavailable(str(self.root), f"dock folder cannot be read: {e.strerror}") from e
            if vault:
                raise UnsafePath(str(self.root), VAULT_FOLDER)
            yield from self._walk_in(fd, "", entries, os.fstat(fd).st_dev, 1)
        finally:
            os.close(fd)

    def _walk_in(
        self, fd: int, rel: str, entries: list[tuple[bytes, os.DirEntry[str]]], dev: int, depth: int
    ) -> Iterator[tuple[str, FileIdentity | None, str | None]]:
        for name, entry in entries:
            shown = shown_name(name)
            child = f"{rel}/{shown}" if rel else shown
            if name_text(name) is None:
                yield child, None, "name reads as escaped bytes (\\xNN); rename it on the dock"
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed since the folder was listed: nothing left to take
            except OSError as e:
                yield child, None, f"cannot be examined ({e.strerror}); left on the dock"
                continue
            if stat.S_ISLNK(st.st_mode):
                target = _readlink(name, fd)
                yield child, None, f"symbolic link to {target!r} not followed"
            elif stat.S_ISDIR(st.st_mode):
                if st.st_dev != dev:
                    yield child, None, "another file system mounted inside the dock; not entered"
                elif depth >= MAX_DEPTH:
                    yield child, None, f"folders nested deeper than {MAX_DEPTH} levels; not entered"
                else:
                    yield from self._walk_folder(fd, name, child, st, depth)
            elif stat.S_ISREG(st.st_mode):
                if st.st_nlink > 1:
                    yield child, None, HARD_LINK.format(st.st_nlink)
                elif not _readable(fd, name):
                    yield child, None, "cannot be read (permission denied); left on the dock"
                else:
                    yield child, identity_of(st), None
            else:
                yield child, None, "not a regular file (device, socket or pipe)"

    def _walk_folder(
        self, parent: int, name: bytes, child: str, st: os.stat_result, depth: int
    ) -> Iterator[tuple[str, FileIdentity | None, str | None]]:
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                yield child, None, "replaced by a symbolic link or a file while being examined; not entered"
            else:
                yield child, None, f"folder cannot be read ({e.strerror}); nothing in it was taken"
            return
        try:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                yield child, None, "folder replaced while being examined; not entered"
                return
            try:
                vault = _holds_vault(fd)
                entries = [] if vault else _entries(fd)
            except OSError as e:
                yield child, None, f"folder cannot be read ({e.strerror}); nothing in it was taken"
                return
            if vault:
                yield child, None, VAULT_FOLDER
                return
            yield from self._walk_in(fd, child, entries, st.st_dev, depth + 1)
        finally:
            os.close(fd)

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
        if st.st_nlink > 1:
            raise UnsafePath(relpath, HARD_LINK.format(st.st_nlink))
        return identity_of(st)

    def open(self, relpath: str) -> tuple[BinaryIO, FileIdentity]:
        parts = split_relpath(relpath)
        fd = self._open_dir(parts)
        try:
            try:
                # a device is refused before it is opened: opening one can have effects of its own
                st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            except OSError as e:
                raise SourceUnavailable(relpath, e.strerror or str(e)) from e
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePath(relpath, "symbolic link not followed")
            if not stat.S_ISREG(st.st_mode):
                raise UnsafePath(relpath, "not a regular file")
            ffd = _open_file(fd, parts[-1], relpath)
        finally:
            os.close(fd)
        try:
            st = os.fstat(ffd)
            if not stat.S_ISREG(st.st_mode):
                raise UnsafePath(relpath, "not a regular file")
            if st.st_nlink > 1:
                raise UnsafePath(relpath, HARD_LINK.format(st.st_nlink))
            fcntl.fcntl(ffd, fcntl.F_SETFL, fcntl.fcntl(ffd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        except BaseException:
            os.close(ffd)
            raise
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
            # a second name would keep the evidence on the dock while we count it released
            if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1 or identity_of(st) != expected:
                return False
            try:
                os.unlink(parts[-1], dir_fd=fd)
            except OSError as e:
                # a card locked by its write-protect switch mounts read-only: say so, not "I/O error"
                if e.errno == errno.EROFS:
                    why = (
                        "the dock is mounted read-only (a card's write-protect switch?); remount it "
                        "read-write, or set release_policy = 'keep'"
                    )
                    raise ReleaseBlocked(f"{self.root}/{_shown(parts)}", why) from None
                if e.errno in (errno.EACCES, errno.EPERM):
                    raise ReleaseBlocked(
                        f"{self.root}/{_shown(parts)}",
                        f"{e.strerror} (the file or its folder may not be changed)",
                    ) from None
                raise
            with contextlib.suppress(OSError):
                os.fsync(fd)
            return True
        finally:
            os.close(fd)


def _shown(parts: list[bytes]) -> str:
    return "/".join(map(shown_name, parts))


def _readlink(name: bytes, dir_fd: int) -> str:
    try:
        return shown_name(os.readlink(name, dir_fd=dir_fd))
    except OSError:
        return "?"


def _entries(fd: int) -> list[tuple[bytes, os.DirEntry[str]]]:
    """(name as bytes on disk, entry), by name; scandir on a descriptor lists that very
    folder, however long its path (its names come as text with surrogate escapes)."""
    with os.scandir(fd) as it:
        return sorted(((os.fsencode(e.name), e) for e in it), key=lambda pair: pair[0])


def _holds_vault(fd: int) -> bool:
    """Raises OSError when the folder cannot be examined (then it is not entered either)."""
    try:
        os.stat(VAULT_MARKER, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _readable(fd: int, name: bytes) -> bool:
    try:
        return os.access(name, os.R_OK, dir_fd=fd, effective_ids=True, follow_symlinks=False)
    except (OSError, NotImplementedError):
        return True  # cannot tell here: opening it says so, with the reason


def _open_file(dir_fd: int, name: bytes, relpath: str) -> int:
    try:
        try:
            return os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
        except PermissionError as e:
            if e.errno != errno.EPERM or not _NOATIME:
                raise
        # O_NOATIME is refused for files we do not own; plain read-only is fine
        return os.open(name, _FILE_FLAGS & ~_NOATIME, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePath(relpath, "symbolic link not followed") from e
        if e.errno == errno.ENXIO:
            raise UnsafePath(relpath, "not a regular file") from e
        raise SourceUnavailable(relpath, e.strerror or str(e)) from e
