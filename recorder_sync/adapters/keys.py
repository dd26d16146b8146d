"""The station's Ed25519 signing key, kept in a PKCS#8 PEM file only its owner can read.

The file is never world- or group-accessible, not even for an instant: it is
written to a fresh name opened with ``O_EXCL`` and mode 0600, synced, then
hard-linked to its final name (which refuses to replace an existing key), so a
crash leaves either no key or a whole one. The folder holding it must be the
effective user's and closed to group and others (0700), the file the effective
user's and 0600 or 0400: anything else is refused, not repaired behind the
operator's back.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from recorder_sync.adapters.private import make_private_dirs
from recorder_sync.domain.errors import KeyFolderPermissionError, KeyPermissionError, KeyProblem
from recorder_sync.domain.signatures import key_id

INIT_HINT = "run: recorder-sync keys init"

_KEY_MODE = 0o600
_MAX_KEY_FILE = 64 * 1024


class FileSigner:
    """``Signer`` holding the private key in memory; ``path`` is where it was read from."""

    def __init__(self, private_key: Ed25519PrivateKey, path: Path) -> None:
        self._private_key = private_key
        self.path = path
        self.key_id: str = key_id(private_key.public_key())

    def sign(self, data: bytes) -> bytes:
        """The 64-byte raw Ed25519 signature of ``data``."""
        return self._private_key.sign(data)

    def public_key_pem(self) -> bytes:
        return self._private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def public_raw(self) -> bytes:
        """The 32 raw bytes of the public key (a C2SP note verifier key holds these)."""
        return self._private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def __repr__(self) -> str:
        return f"FileSigner(key_id={self.key_id!r}, path={str(self.path)!r})"


def create_key(path: Path) -> FileSigner:
    """Generate a key and write it to ``path`` (mode 0600); never overwrites.

    A missing folder is created with mode 0700 (and so is every missing folder above
    it); an existing one is refused unless only the effective user can enter it.
    """
    folder = path.parent
    try:
        make_private_dirs(folder)
    except OSError as exc:
        raise KeyProblem(f"cannot create folder {folder}: {exc.strerror or exc}") from exc
    _check_folder(folder)
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    tmp = folder / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, _KEY_MODE)
    except OSError as exc:
        raise KeyProblem(f"cannot write a key in {folder}: {exc.strerror or exc}") from exc
    try:
        try:
            os.fchmod(fd, _KEY_MODE)
            view = memoryview(pem)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)
    except FileExistsError:
        raise KeyProblem(f"{path} already exists; refusing to overwrite a signing key") from None
    except OSError as exc:
        raise KeyProblem(f"cannot write key {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(folder)
    return FileSigner(private_key, path)


def load_key(path: Path) -> FileSigner:
    """Read the key at ``path``; refuse it when group or others have any access to it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KeyProblem(f"no signing key at {path}; {INIT_HINT}") from None
    except OSError as exc:
        raise KeyProblem(f"cannot read key {path}: {exc.strerror or exc}") from exc
    try:
        # Check the file we opened, not the name: it cannot be swapped in between.
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyProblem(f"{path} is not a regular file")
        _check_owner(path, st)
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise KeyPermissionError(path, oct(mode), path)
        _check_folder(path.parent)
        with os.fdopen(os.dup(fd), "rb") as f:
            pem = f.read(_MAX_KEY_FILE + 1)
    except OSError as exc:
        raise KeyProblem(f"cannot read key {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(pem) > _MAX_KEY_FILE:
        raise KeyProblem(f"{path} is too large to be a key file; {INIT_HINT}")
    try:
        private_key = load_pem_private_key(pem, password=None)
    except TypeError:
        raise KeyProblem(f"{path} is encrypted; the station key must be unencrypted PKCS#8 PEM") from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyProblem(f"{path} is not a readable PEM private key (damaged?); {INIT_HINT}") from None
    if not isinstance(private_key, Ed25519PrivateKey):
        raise KeyProblem(f"{path} holds a {type(private_key).__name__}, not an Ed25519 key; {INIT_HINT}")
    return FileSigner(private_key, path)


def load_if_present(path: Path) -> FileSigner | None:
    """The key at ``path``, or None when there is no file there at all."""
    if not os.path.lexists(path):
        return None
    return load_key(path)


def retire_key(path: Path, now: datetime) -> Path | None:
    """Move the key at ``path`` aside to ``<name>.retired-<UTC time>``; None if there is none.

    Kept rather than deleted: whether an old private key is destroyed is the operator's
    decision (e.g. ``shred``), and a mistaken replacement can then be undone.
    """
    if not os.path.lexists(path):
        return None
    target = path.with_name(f"{path.name}.retired-{now.strftime('%Y%m%dT%H%M%S%fZ')}")
    move_key(path, target)
    return target


def previous_key_path(path: Path) -> Path:
    """Where a rotated log key waits (``<name>.previous``) until it co-signs one checkpoint."""
    return path.with_name(f"{path.name}.previous")


def staged_key_path(path: Path) -> Path:
    """Where a new log key waits (``<name>.next``) until the database has registered it."""
    return path.with_name(f"{path.name}.next")


def swap_in(new: Path, path: Path, previous: Path) -> None:
    """Make the key at ``new`` the one at ``path`` and keep the one there as ``previous``, with
    never a moment without a key at ``path``. Taken up again after a kill half-way."""
    try:
        if not os.path.lexists(previous):
            os.link(path, previous, follow_symlinks=False)
        os.replace(new, path)
    except OSError as exc:
        raise KeyProblem(f"cannot put the new key {new} in place of {path}: {exc.strerror or exc}") from exc
    _fsync_dir(path.parent)


def move_key(path: Path, target: Path) -> None:
    """Give the key at ``path`` the name ``target`` (which must not exist: never replaces a key)."""
    try:
        os.link(path, target, follow_symlinks=False)
        os.unlink(path)
    except OSError as exc:
        raise KeyProblem(f"cannot move key {path} aside to {target}: {exc.strerror or exc}") from exc
    _fsync_dir(path.parent)


def destroy_key_file(path: Path) -> None:
    """Overwrite the key file at ``path`` with random bytes, sync it, then remove it: the
    private key is not left whole in the file's blocks. (On copy-on-write or journalled data
    the old blocks may survive; a token key is the stronger choice there.)"""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            size = os.fstat(fd).st_size
            view = memoryview(secrets.token_bytes(size))
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(path)
    except OSError as exc:
        raise KeyProblem(f"cannot destroy the old key file {path}: {exc.strerror or exc}") from exc
    _fsync_dir(path.parent)


def load_or_create(path: Path) -> FileSigner:
    if path.exists():
        return load_key(path)
    try:
        return create_key(path)
    except KeyProblem:
        # Lost a race with another process creating the same key: use theirs.
        if path.exists():
            return load_key(path)
        raise


def _check_owner(path: Path, st: os.stat_result) -> None:
    if st.st_uid != os.geteuid():
        raise KeyProblem(
            f"refusing {path}: it belongs to uid {st.st_uid}, not to the user running "
            f"recorder-sync (uid {os.geteuid()}); run: chown {os.geteuid()} {path}"
        )


def _check_folder(folder: Path) -> None:
    """Others must not be able to list, replace or hard-link the key from its folder."""
    try:
        st = os.stat(folder)
    except OSError as exc:
        raise KeyProblem(f"cannot check key folder {folder}: {exc.strerror or exc}") from exc
    _check_owner(folder, st)
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise KeyFolderPermissionError(folder, oct(mode), folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise KeyProblem(f"cannot sync folder {folder}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
