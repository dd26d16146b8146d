"""The ``DockReader`` contract, run on the in-memory fake and on a real dock folder, so that a
service test passing on the fake passes for the reason it would on a camera's folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakes import MemoryDock

from recorder_sync.adapters.dockfs import DockFolder
from recorder_sync.domain.errors import SourceUnavailable, UnsafePath
from recorder_sync.domain.model import FileIdentity
from recorder_sync.domain.ports import DockReader

NAME = "DSJ-A1_031245_20261127083015_0001.MP4"


@dataclass
class Backend:
    reader: DockReader
    write: Callable[[str, bytes], None]
    """The camera writes (or rewrites) a file."""
    delete: Callable[[str], None]
    link: Callable[[str], None]
    """An entry that must not be taken: a symbolic link to a file outside the dock."""


def _memory(tmp_path: Path) -> Backend:
    dock = MemoryDock("d")

    def link(relpath: str) -> None:
        dock.refused[relpath] = "symbolic link to '/etc/passwd' not followed"

    return Backend(dock, dock.write, dock.delete, link)


def _folder(tmp_path: Path) -> Backend:
    root = tmp_path / "dock"
    root.mkdir()

    def write(relpath: str, data: bytes) -> None:
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def delete(relpath: str) -> None:
        (root / relpath).unlink()

    def link(relpath: str) -> None:
        outside = tmp_path / "outside.MP4"
        outside.write_bytes(b"not the dock's")
        os.symlink(outside, root / relpath)

    return Backend(DockFolder("d", root), write, delete, link)


@pytest.fixture(params=["memory", "folder"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return {"memory": _memory, "folder": _folder}[request.param](tmp_path)


def test_walk_lists_every_file_with_its_identity(backend: Backend) -> None:
    backend.write(NAME, b"a" * 100)
    backend.write("DCIM/100/" + NAME, b"b" * 200)
    entries = list(backend.reader.walk())
    assert [(p, i is not None and i.size, why) for p, i, why in entries] == [
        ("DCIM/100/" + NAME, 200, None),
        (NAME, 100, None),
    ]
    for relpath, ident, _ in entries:
        assert backend.reader.stat(relpath) == ident


def test_a_link_is_reported_with_its_reason_and_never_opened(backend: Backend) -> None:
    backend.write(NAME, b"a" * 10)
    backend.link("link.MP4")
    refused = [(p, why) for p, ident, why in backend.reader.walk() if ident is None]
    assert len(refused) == 1 and refused[0][0] == "link.MP4" and "link" in (refused[0][1] or "")
    with pytest.raises(UnsafePath):
        backend.reader.stat("link.MP4")
    with pytest.raises(UnsafePath):
        backend.reader.open("link.MP4")


def test_open_gives_the_bytes_and_the_identity_stat_gives(backend: Backend) -> None:
    backend.write(NAME, b"evidence" * 100)
    f, ident = backend.reader.open(NAME)
    with f:
        assert f.read() == b"evidence" * 100
    assert ident == backend.reader.stat(NAME) and ident.size == 800


def test_a_rewritten_file_has_another_identity(backend: Backend) -> None:
    backend.write(NAME, b"a" * 100)
    before = backend.reader.stat(NAME)
    backend.write(NAME, b"b" * 150)
    assert backend.reader.stat(NAME) != before


def test_a_missing_file(backend: Backend) -> None:
    assert backend.reader.stat(NAME) is None
    assert backend.reader.read_small(NAME + ".json", 1000) is None
    with pytest.raises(SourceUnavailable):
        backend.reader.open(NAME)
    backend.write(NAME, b"a")
    backend.delete(NAME)
    assert backend.reader.stat(NAME) is None
    assert list(backend.reader.walk()) == []


@pytest.mark.parametrize("relpath", ["../outside.MP4", "/etc/passwd", "a//b.MP4", "./x.MP4", ""])
def test_a_path_that_is_not_plainly_inside_the_dock_is_refused(backend: Backend, relpath: str) -> None:
    with pytest.raises(UnsafePath):
        backend.reader.stat(relpath)
    with pytest.raises(UnsafePath):
        backend.reader.open(relpath)
    with pytest.raises(UnsafePath):
        backend.reader.remove(relpath, _any_identity(backend))


def _any_identity(backend: Backend) -> FileIdentity:
    backend.write("other.MP4", b"x")
    ident = backend.reader.stat("other.MP4")
    assert ident is not None
    return ident


def test_read_small_reads_only_small_files(backend: Backend) -> None:
    backend.write("meta.json", b"{}" * 10)
    assert backend.reader.read_small("meta.json", 20) == b"{}" * 10
    assert backend.reader.read_small("meta.json", 19) is None


def test_remove_only_the_file_that_was_read(backend: Backend) -> None:
    backend.write(NAME, b"a" * 100)
    seen = backend.reader.stat(NAME)
    assert seen is not None
    backend.write(NAME, b"b" * 150)  # rewritten since
    assert backend.reader.remove(NAME, seen) is False
    assert backend.reader.stat(NAME) is not None
    current = backend.reader.stat(NAME)
    assert current is not None
    assert backend.reader.remove(NAME, current) is True
    assert backend.reader.stat(NAME) is None
    assert backend.reader.remove(NAME, current) is True  # already gone: nothing left to release
