"""The local evidence vault: a content-addressed, write-once ``ObjectStore`` on a file system.

Layout under ``root``::

    .recorder_sync_vault    marker: without it the vault counts as unavailable
    tmp/                    files being written (same file system, so linking is atomic)
    sha256/ab/cd/<sha256>   objects, named by ``domain.layout``, mode 0444

An object appears under its key only when complete and synced: it is written to
``tmp/``, fsynced, made read-only, hard-linked to its key (which never replaces
an existing object) and its folder fsynced.  Only ``restore_stream`` replaces: when
the object under a key is missing or fails its re-hash, the new copy (hashed while
written) is renamed over it, so the key never names no file.

The marker tells "the vault is gone or not mounted" (``StorageUnavailable``,
could not check) apart from "this object is missing" (``IntegrityFailure``,
verification failed): an empty mount point must never look like lost evidence.

Temporary files are cleaned when a ``Vault`` is constructed.  Each writer holds
an ``flock`` on its temporary file, so a second process opening the same vault
(a CLI next to the daemon) removes only files whose writer is dead.

Staging (``domain.ports.Staging``): the first hash of a dock file copies it into
``tmp/`` on the same read; once its recording is in the catalog the copy is synced,
made read-only and linked to ``tmp/staged-<sha256>``, and the store step links that
file to its key instead of reading the dock again.  A name ``staged-…`` therefore
only ever names a complete, synced copy of those bytes; such files survive the
start-up clean (the ingest service removes those no recording still needs).

The local vault records neither ``metadata`` nor ``retention_class``: it has no
object lock, and the manifest and the database hold both.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from recorder_sync.adapters.private import make_private_dir, make_private_dirs
from recorder_sync.domain.errors import (
    IntegrityFailure,
    NotFound,
    SourceChanged,
    SourceUnavailable,
    StorageUnavailable,
)
from recorder_sync.domain.model import StoredObject
from recorder_sync.domain.ports import Progress, Staged
from recorder_sync.io.hashing import SinkWriteError, sha256_copy, sha256_file
from recorder_sync.io.small_file import NotRegularFile, open_regular

log = logging.getLogger(__name__)

MARKER = ".recorder_sync_vault"
TMP = "tmp"
STAGED = "staged-"
OBJECT_MODE = 0o444

_KEY_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Where os.link fails because the file system has no hard links.
_NO_HARDLINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK})


class Vault:
    """``ObjectStore`` in a folder.  One process writes to a vault at a time (the daemon).

    ``create=False`` refuses to make a new vault, for tools that must only find an
    existing one (a missing marker then raises ``StorageUnavailable``).  ``read_only``
    (``recorder-audit``) also touches nothing: no ``tmp/`` made, no temporary file removed.
    """

    def __init__(self, root: Path, *, create: bool = True, read_only: bool = False) -> None:
        self.root = root.absolute()
        self._tmp = self.root / TMP
        self._marker = self.root / MARKER
        if read_only:
            self._check()
            return
        self._open(create)
        removed = self._clean_tmp()
        if removed:
            log.info("removed %d unfinished temporary file(s) from %s", removed, self._tmp)

    # --- ObjectStore -------------------------------------------------------

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        size: int,
        sha256: str,
        metadata: Mapping[str, str],
        retention_class: str | None = None,
        progress: Progress | None = None,
    ) -> StoredObject:
        path = self._path(key)
        if not _SHA256.match(sha256):
            raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
        self._check()
        existing = self._existing_size(key, path)
        if existing is not None:
            return self._same_size_or_fail(key, sha256, size, existing)

        with self._temp() as (fd, tmp):
            self._fill(fd, key, stream, size, sha256, progress)
            if not self._commit(fd, tmp, path, key):
                existing = self._existing_size(key, path)
                return self._same_size_or_fail(key, sha256, size, existing)
        return self._stored(key, path, size)

    def restore_stream(
        self,
        key: str,
        stream: BinaryIO,
        size: int,
        sha256: str,
        metadata: Mapping[str, str],
        retention_class: str | None = None,
        progress: Progress | None = None,
    ) -> StoredObject:
        """Put back a missing or damaged object.  The new file is complete and synced
        before it is renamed over the old one, so the key never names no file."""
        path = self._path(key)
        if not _SHA256.match(sha256):
            raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
        try:
            return self.verify(key, sha256, size)
        except IntegrityFailure as exc:
            log.warning("restoring %s in %s: %s", key, self.root, exc)
        with self._temp() as (fd, tmp):
            self._fill(fd, key, stream, size, sha256, progress)
            self._commit(fd, tmp, path, key, replace=True)
        return self._stored(key, path, size)

    def put_bytes(
        self, key: str, data: bytes, metadata: Mapping[str, str], retention_class: str | None = None
    ) -> StoredObject:
        """Store small objects (manifests, signatures).  Re-putting identical bytes is
        a no-op; different bytes under an existing key raise ``IntegrityFailure``."""
        path = self._path(key)
        self._check()
        if self._existing_size(key, path) is not None:
            return self._same_bytes_or_fail(key, path, data)
        with self._temp() as (fd, tmp):
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except OSError as exc:
                raise StorageUnavailable(f"writing {key} to {self.root}: {exc.strerror or exc}") from exc
            if not self._commit(fd, tmp, path, key):
                return self._same_bytes_or_fail(key, path, data)
        return self._stored(key, path, len(data))

    def stat(self, key: str) -> StoredObject | None:
        path = self._path(key)
        self._check()
        size = self._existing_size(key, path)
        return None if size is None else self._stored(key, path, size)

    def verify(
        self,
        key: str,
        sha256: str,
        size: int,
        progress: Progress | None = None,
        version_id: str | None = None,
    ) -> StoredObject:
        """Re-hash the stored object.  A missing object in an available vault is an
        ``IntegrityFailure``: the evidence is not where it was stored."""
        path = self._path(key)
        self._check()
        try:
            f = open_regular(path, buffering=0)
        except FileNotFoundError:
            self._check()
            raise IntegrityFailure(key, sha256, "no object (missing from the vault)") from None
        except NotRegularFile as e:  # a FIFO would block its reader for ever
            raise IntegrityFailure(key, sha256, f"no object: {e.what} in its place") from None
        except OSError as exc:
            raise StorageUnavailable(f"cannot open {key} in {self.root}: {exc.strerror or exc}") from exc
        with f:
            try:
                found, nbytes = sha256_file(f, progress)
            except OSError as exc:
                raise StorageUnavailable(f"cannot read {key} in {self.root}: {exc.strerror or exc}") from exc
        if found != sha256 or nbytes != size:
            raise IntegrityFailure(key, sha256, f"{found} over {nbytes} bytes (expected {size})")
        return self._stored(key, path, nbytes)

    def open(self, key: str, version_id: str | None = None) -> BinaryIO:
        path = self._path(key)
        self._check()
        try:
            return open_regular(path)
        except FileNotFoundError:
            self._check()
            raise NotFound(f"{key} in vault {self.root}") from None
        except NotRegularFile as e:
            raise NotFound(f"{key} in vault {self.root} ({e.what} in its place)") from None
        except OSError as exc:
            raise StorageUnavailable(f"cannot open {key} in {self.root}: {exc.strerror or exc}") from exc

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as f:
            try:
                return f.read()
            except OSError as exc:
                raise StorageUnavailable(f"cannot read {key} in {self.root}: {exc.strerror or exc}") from exc

    def list_keys(self, prefix: str, start_after: str | None = None) -> list[str]:
        folder, _, _ = prefix.rpartition("/")
        self._check()
        top = self._path(folder) if folder else self.root
        keys: list[str] = []
        try:
            for dirpath, dirnames, filenames in os.walk(top, onerror=_raise):
                if Path(dirpath) == self.root:
                    dirnames[:] = [d for d in dirnames if d != TMP]
                base = Path(dirpath).relative_to(self.root).as_posix()
                for name in filenames:
                    key = name if base == "." else f"{base}/{name}"
                    if (
                        key.startswith(prefix)
                        and key != MARKER
                        and (start_after is None or key > start_after)
                    ):
                        keys.append(key)
        except FileNotFoundError:
            self._check()
            return []
        except OSError as exc:
            raise StorageUnavailable(f"cannot list {prefix} in {self.root}: {exc.strerror or exc}") from exc
        return sorted(keys)

    # --- Staging -----------------------------------------------------------

    @contextlib.contextmanager
    def stage(self, stream: BinaryIO, max_bytes: int, progress: Progress | None = None) -> Iterator[Staged]:
        self._check()
        with self._temp() as (fd, tmp):
            with open(fd, "wb", buffering=0, closefd=False) as out:
                try:
                    found, nbytes = sha256_copy(stream, out, progress, max_bytes=max_bytes)
                except SinkWriteError as exc:
                    raise StorageUnavailable(f"staging a copy in {self._tmp}: {exc}") from exc
            yield _StagedCopy(fd, tmp, self._staged_path(found), found, nbytes)

    def put_staged(self, key: str, sha256: str, size: int) -> StoredObject | None:
        path = self._path(key)
        staged = self._staged_path(sha256)
        self._check()
        try:
            st = os.stat(staged, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageUnavailable(f"cannot stat {staged}: {exc.strerror or exc}") from exc
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            # not what staging leaves (the name is only ever linked to a complete copy):
            # unusable, so gone, and the caller stores from the source
            log.warning("removing %s: %d bytes, expected %d", staged, st.st_size, size)
            self.unstage(sha256)
            return None
        existing = self._existing_size(key, path)
        if existing is not None:
            return self._same_size_or_fail(key, sha256, size, existing)
        try:
            self._makedirs(path.parent)
            created = _link_no_replace(staged, path)
            if created:
                _fsync_dir(path.parent)
        except FileNotFoundError:
            self._check()
            if os.path.lexists(staged):  # the key's folder, not the staged copy, went missing
                raise StorageUnavailable(f"storing {key} in {self.root}: its folder vanished") from None
            return None  # removed meanwhile (another process's sweep): stored from the source
        except OSError as exc:
            raise StorageUnavailable(f"storing {key} in {self.root}: {exc.strerror or exc}") from exc
        if not created:
            return self._same_size_or_fail(key, sha256, size, self._existing_size(key, path))
        return self._stored(key, path, size)

    def unstage(self, sha256: str) -> None:
        staged = self._staged_path(sha256)
        try:
            os.unlink(staged)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageUnavailable(f"cannot remove {staged}: {exc.strerror or exc}") from exc

    def staged(self) -> list[str]:
        self._check()
        try:
            names = os.listdir(self._tmp)
        except OSError as exc:
            raise StorageUnavailable(f"cannot list {self._tmp}: {exc.strerror or exc}") from exc
        return sorted(name.removeprefix(STAGED) for name in names if _is_staged(name))

    # --- beyond the port ---------------------------------------------------

    def protection_problem(self, obj: StoredObject, now: datetime) -> str | None:
        """A vault object is protected by its mode (0444): a writable one could be changed
        in place without any trace (``EvidenceReader``)."""
        del now  # a file's mode does not run out
        path = self._path(obj.key)
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            return "missing from the vault"
        except OSError as exc:
            raise StorageUnavailable(f"cannot stat {obj.key} in {self.root}: {exc.strerror or exc}") from exc
        if mode & 0o222:
            return f"writable (mode {stat.S_IMODE(mode):04o}, expected {OBJECT_MODE:04o})"
        return None

    def uri(self, key: str) -> str:
        """``file://`` URI of the object, percent-quoted."""
        return self._path(key).as_uri()

    # --- internals ---------------------------------------------------------

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if parts[0] == TMP or not all(_KEY_PART.match(p) for p in parts):
            raise ValueError(f"not a vault key: {key!r}")
        return self.root.joinpath(*parts)

    def _staged_path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
        return self._tmp / f"{STAGED}{sha256}"

    def _stored(self, key: str, path: Path, size: int) -> StoredObject:
        return StoredObject(key=key, uri=path.as_uri(), size=size)

    def _open(self, create: bool) -> None:
        try:
            if not self._marker.exists():
                self._init(create)
            make_private_dir(self._tmp)
        except OSError as exc:
            raise StorageUnavailable(f"vault {self.root}: {exc.strerror or exc}") from exc

    def _init(self, create: bool) -> None:
        if not create:
            raise StorageUnavailable(f"no vault at {self.root} ({MARKER} not found; not mounted?)")
        make_private_dirs(self.root)
        if any(e.name != TMP for e in os.scandir(self.root)):
            raise StorageUnavailable(f"{self.root} holds files but no {MARKER}; refusing to make it a vault")
        fd = os.open(self._marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        try:
            os.write(fd, b"recorder_sync vault 1\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(self.root)
        log.info("created vault %s", self.root)

    def _check(self) -> None:
        try:
            os.stat(self._marker)
        except FileNotFoundError:
            raise StorageUnavailable(
                f"vault {self.root} is missing or not mounted ({MARKER} not found)"
            ) from None
        except OSError as exc:
            raise StorageUnavailable(f"vault {self.root}: {exc.strerror or exc}") from exc

    def _existing_size(self, key: str, path: Path) -> int | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._check()
            return None
        except OSError as exc:
            raise StorageUnavailable(f"cannot stat {key} in {self.root}: {exc.strerror or exc}") from exc
        if not stat.S_ISREG(st.st_mode):
            raise IntegrityFailure(key, "a regular file", f"a {stat.filemode(st.st_mode)[0]!r} entry")
        return st.st_size

    def _same_size_or_fail(self, key: str, sha256: str, size: int, existing: int | None) -> StoredObject:
        if existing is None:  # vanished between link and stat: not ours to explain away
            raise StorageUnavailable(f"{key} in {self.root} disappeared while being stored")
        if existing != size:
            raise IntegrityFailure(key, sha256, f"an existing object of {existing} bytes, not {size}")
        return self._stored(key, self._path(key), size)

    def _same_bytes_or_fail(self, key: str, path: Path, data: bytes) -> StoredObject:
        try:
            stored = path.read_bytes()
        except OSError as exc:
            raise StorageUnavailable(f"cannot read {key} in {self.root}: {exc.strerror or exc}") from exc
        if stored != data:
            raise IntegrityFailure(
                key,
                hashlib.sha256(data).hexdigest(),
                f"{hashlib.sha256(stored).hexdigest()} (stored earlier)",
            )
        return self._stored(key, path, len(stored))

    @contextlib.contextmanager
    def _temp(self) -> Iterator[tuple[int, Path]]:
        """A locked temporary file in ``tmp/``, removed on the way out (its data
        survives under the key when committed)."""
        try:
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        except OSError as exc:
            self._check()
            raise StorageUnavailable(f"cannot write to {self._tmp}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd, Path(name)
        finally:
            # Unlink before unlocking, so a cleaner never removes a file still in use.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            os.close(fd)

    def _fill(
        self, fd: int, key: str, stream: BinaryIO, size: int, sha256: str, progress: Progress | None
    ) -> None:
        """Copy the source into the temporary file, hashing it; ``SourceChanged`` unless it
        gave exactly ``size`` bytes that hash to ``sha256``."""
        source = _source_name(stream, key)
        with open(fd, "wb", buffering=0, closefd=False) as out:
            try:
                # One byte more than expected is enough to notice a growing source.
                found, nbytes = sha256_copy(stream, out, progress, max_bytes=size + 1)
            except SinkWriteError as exc:
                raise StorageUnavailable(f"writing {key} to {self.root}: {exc}") from exc
            except OSError as exc:
                raise SourceUnavailable(source, exc.strerror or str(exc)) from exc
        if nbytes != size:
            got = f"more than {size}" if nbytes > size else str(nbytes)
            raise SourceChanged(source, f"read {got} bytes, expected {size}")
        if found != sha256:
            raise SourceChanged(source, f"read sha256 {found}, expected {sha256}")

    def _commit(self, fd: int, tmp: Path, path: Path, key: str, *, replace: bool = False) -> bool:
        """Sync the temporary file and give it its key; False when the key already exists
        (``replace``: renamed over whatever the key held, and always True)."""
        try:
            os.fchmod(fd, OBJECT_MODE)
            os.fsync(fd)
            self._makedirs(path.parent)
            if replace:
                os.replace(tmp, path)
                created = True
            else:
                created = _link_no_replace(tmp, path)
            if created:
                _fsync_dir(path.parent)
            return created
        except OSError as exc:
            raise StorageUnavailable(f"storing {key} in {self.root}: {exc.strerror or exc}") from exc

    def _makedirs(self, folder: Path) -> None:
        current = self.root
        for part in folder.relative_to(self.root).parts:
            current = current / part
            if not make_private_dir(current):
                continue
            _fsync_dir(current.parent)

    def _clean_tmp(self) -> int:
        removed = 0
        try:
            entries = list(os.scandir(self._tmp))
        except OSError as exc:
            raise StorageUnavailable(f"cannot list {self._tmp}: {exc.strerror or exc}") from exc
        for entry in entries:
            if _is_staged(entry.name):
                continue  # complete copies that recordings may still need (see the module docstring)
            try:
                removed += _remove_if_unlocked(entry.path)
            except OSError as exc:
                log.warning("cannot remove temporary file %s: %s", entry.path, exc)
        return removed


@dataclass
class _StagedCopy:
    """``Staged``: the locked temporary file ``tmp`` (open as ``fd``) holding the bytes read."""

    fd: int
    tmp: Path
    staged: Path
    sha256: str
    size: int

    def keep(self) -> None:
        try:
            os.fchmod(self.fd, OBJECT_MODE)
            os.fsync(self.fd)
            # an existing staged copy of the same hash holds the same bytes (a duplicate
            # staged twice): it stays, and this one goes with its temporary name
            _link_no_replace(self.tmp, self.staged)
        except OSError as exc:
            raise StorageUnavailable(f"keeping {self.staged}: {exc.strerror or exc}") from exc


def _is_staged(name: str) -> bool:
    return name.startswith(STAGED) and _SHA256.fullmatch(name.removeprefix(STAGED)) is not None


def _remove_if_unlocked(path: str) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        os.unlink(path)  # a symbolic link: not one of ours, and nothing to lock
        return 1
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # its writer is alive
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return 0
        if same:
            os.unlink(path)
            return 1
        return 0
    finally:
        os.close(fd)


def _link_no_replace(src: Path, dst: Path) -> bool:
    try:
        os.link(src, dst)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARDLINKS:
            raise
    # Without hard links, check-then-rename; one writer per vault makes the gap harmless.
    if os.path.lexists(dst):
        return False
    os.rename(src, dst)
    return True


def _raise(exc: OSError) -> None:
    raise exc


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _source_name(stream: BinaryIO, key: str) -> str:
    name = getattr(stream, "name", None)
    if isinstance(name, str | bytes):
        return os.fsdecode(name)
    return key
