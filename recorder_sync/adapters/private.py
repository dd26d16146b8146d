"""Folders and files of ours that only the service user may read, whatever the umask.

Evidence, the catalog and the key are nobody else's business on a shared machine: a
folder we create is 0700 and a file 0600. ``mkdir``/``open`` modes are cut by the
umask (which can only remove bits, but a umask of 0700 would remove ours too), so
the mode is set again explicitly. Folders that already exist are left as they are:
they may be an operator's choice (e.g. a mount point).
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dir(path: Path) -> bool:
    """Create one folder 0700; False when it already exists."""
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        return False
    os.chmod(path, DIR_MODE)
    return True


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and every missing folder above it, each 0700."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        make_private_dir(folder)


def touch_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (never truncates)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
