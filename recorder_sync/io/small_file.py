"""Read a small file an operator names (a configuration file, a secret, a certificate).

Such a path is typed by hand or comes from the environment, so it may name anything: a FIFO
(opening one for reading waits for a writer, and reading it never ends), a device such as
``/dev/zero`` (endless), a folder, a symbolic-link loop or a file far larger than any
configuration.  The file is opened without waiting, must be a regular file, and is read up
to a bound; every refusal is an ``OSError`` whose ``strerror`` says why, so the caller
reports it as a configuration error instead of hanging or failing with a traceback.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

SMALL_FILE_LIMIT = 4 * 1024 * 1024  # far above any configuration, key or certificate bundle


class NotSmallFile(OSError):
    """The path names something that is not a small regular file."""


class NotRegularFile(NotSmallFile):
    """The path names a FIFO, a device, a folder or a socket: ``what`` says which."""

    def __init__(self, what: str) -> None:
        super().__init__(0, f"{what}, not a regular file")
        self.what = what


def _what(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def open_regular(path: Path, buffering: int = -1) -> BinaryIO:
    """The regular file at ``path`` (symbolic links followed), open for reading; anything else
    is ``NotRegularFile`` and is never read: it is opened without waiting (a FIFO's reader
    would wait for a writer), looked at, and only then made blocking."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(_what(mode))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=buffering)
    except BaseException:
        os.close(fd)
        raise


def read_small_file(path: Path, limit: int = SMALL_FILE_LIMIT) -> bytes:
    """The bytes of the regular file at ``path`` (symbolic links followed), at most ``limit``."""
    with open_regular(path) as f:
        data = f.read(limit + 1)  # buffered: reads until EOF or the bound
    if len(data) > limit:
        raise NotSmallFile(0, f"larger than {limit // (1024 * 1024)} MiB; not a file of this kind")
    return data
