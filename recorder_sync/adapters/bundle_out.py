"""Where an evidence bundle is written: a new folder, or one new ``.tar`` file.

Nothing existing is overwritten, and an unfinished bundle is removed (``abort``): a
recipient never gets a half bundle that looks whole.  Media are copied in chunks, hashed
on the way (``IntegrityFailure`` when the bytes are not the ones the manifest signs).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import time
from pathlib import Path
from typing import BinaryIO

from recorder_sync.domain.errors import IntegrityFailure, UsageError

_CHUNK = 1 << 20


class _Hashing(io.RawIOBase):
    """Reads through, hashing what passes (tarfile reads the member's bytes from it)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.hash, self.count = stream, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.hash.update(data)
        self.count += len(data)
        return data


def _check(name: str, found: _Hashing, size: int, sha256: str) -> None:
    if found.hash.hexdigest() != sha256 or found.count != size:
        raise IntegrityFailure(
            name, sha256, f"{found.hash.hexdigest()} over {found.count} bytes, while copied"
        )


class FolderTarget:
    """A bundle as a new folder (an empty existing one is accepted)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made = False

    def check(self) -> None:
        if self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
            raise UsageError(f"--out {self.root}: exists and is not an empty folder; nothing is overwritten")

    def _path(self, name: str) -> Path:
        if not self._made:
            self.root.mkdir(parents=True, exist_ok=True)
            self._made = True
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def add_bytes(self, name: str, data: bytes) -> None:
        self._path(name).write_bytes(data)

    def add_stream(self, name: str, stream: BinaryIO, size: int, sha256: str) -> None:
        reader = _Hashing(stream)
        with open(self._path(name), "wb") as out:
            while chunk := reader.read(_CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        _check(name, reader, size, sha256)

    def close(self) -> Path:
        return self.root

    def abort(self) -> None:
        if self._made:
            shutil.rmtree(self.root, ignore_errors=True)


class TarTarget:
    """A bundle as one ``.tar`` whose members sit in a folder named after the file (``x.tar``
    unpacks to ``x/``); written beside as ``.part`` and renamed when whole."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.top = path.name.removesuffix(".tar") or "bundle"
        self._part = path.with_name(path.name + ".part")
        self._tar: tarfile.TarFile | None = None
        self._now = time.time()

    def check(self) -> None:
        if self.path.exists():
            raise UsageError(f"--out {self.path}: exists already; nothing is overwritten")
        if self._part.exists():  # left by a bundle killed while written (kill -9, power cut)
            raise UsageError(
                f"--out {self.path}: {self._part} exists, the part of a bundle that was never "
                "finished (a process killed while writing it?); remove it, or give another --out"
            )

    def _open(self) -> tarfile.TarFile:
        if self._tar is None:
            # held open across add_* calls; closed by close() or abort()
            self._tar = tarfile.open(self._part, "x", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        return self._tar

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(f"{self.top}/{name}")
        info.size, info.mtime, info.mode = size, int(self._now), 0o644
        return info

    def add_bytes(self, name: str, data: bytes) -> None:
        self._open().addfile(self._info(name, len(data)), io.BytesIO(data))

    def add_stream(self, name: str, stream: BinaryIO, size: int, sha256: str) -> None:
        reader = _Hashing(stream)
        self._open().addfile(self._info(name, size), reader)
        _check(name, reader, size, sha256)

    def close(self) -> Path:
        tar = self._open()
        tar.close()
        with open(self._part, "rb") as f:
            os.fsync(f.fileno())
        os.replace(self._part, self.path)
        return self.path

    def abort(self) -> None:
        if self._tar is not None:
            self._tar.close()
        self._part.unlink(missing_ok=True)
