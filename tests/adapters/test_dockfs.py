"""DockFolder on real folders: links are refused, never followed; release only deletes what was hashed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recorder_sync.adapters.dockfs import DockFolder
from recorder_sync.domain.errors import UnsafePath


@pytest.fixture
def dock(tmp_path: Path) -> DockFolder:
    root = tmp_path / "dock"
    (root / "DCIM" / "100").mkdir(parents=True)
    (root / "DCIM" / "100" / "a.mp4").write_bytes(b"aaa")
    (root / "名字 with space\nnewline.mp4").write_bytes(b"bb")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"secret")
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    (root / "linkdir").symlink_to(outside)
    os.mkfifo(root / "fifo")
    return DockFolder("d", root)


def test_walk_lists_regular_files_and_refuses_the_rest(dock: DockFolder) -> None:
    entries = {rel: (ident, why) for rel, ident, why in dock.walk()}
    assert entries["DCIM/100/a.mp4"][0] is not None and entries["DCIM/100/a.mp4"][0].size == 3
    assert entries["名字 with space\nnewline.mp4"][0] is not None
    assert entries["link.mp4"][0] is None and "symbolic link" in str(entries["link.mp4"][1])
    assert entries["linkdir"][0] is None and "symbolic link" in str(entries["linkdir"][1])
    assert "not a regular file" in str(entries["fifo"][1])
    assert not any(rel.startswith("linkdir/") for rel in entries)  # never descended


def test_open_refuses_links_anywhere_in_the_path(dock: DockFolder) -> None:
    with pytest.raises(UnsafePath):
        dock.open("link.mp4")
    with pytest.raises(UnsafePath):
        dock.open("linkdir/secret.mp4")
    with pytest.raises(UnsafePath):
        dock.stat("link.mp4")


@pytest.mark.parametrize("bad", ["../outside/secret.mp4", "/etc/passwd", "DCIM/../link.mp4", "", "a//b"])
def test_paths_leaving_the_dock_are_refused(dock: DockFolder, bad: str) -> None:
    with pytest.raises(UnsafePath):
        dock.open(bad)


def test_open_and_identity(dock: DockFolder) -> None:
    f, ident = dock.open("名字 with space\nnewline.mp4")
    with f:
        assert f.read() == b"bb"
    assert dock.stat("名字 with space\nnewline.mp4") == ident
    assert dock.stat("missing.mp4") is None


def test_remove_only_when_unchanged(dock: DockFolder) -> None:
    ident = dock.stat("DCIM/100/a.mp4")
    assert ident is not None
    path = dock.root / "DCIM" / "100" / "a.mp4"
    path.write_bytes(b"changed!")  # the camera rewrote it after we hashed it
    assert dock.remove("DCIM/100/a.mp4", ident) is False
    assert path.read_bytes() == b"changed!"
    now = dock.stat("DCIM/100/a.mp4")
    assert now is not None and dock.remove("DCIM/100/a.mp4", now) is True
    assert not path.exists()


def test_read_small_limits_size(dock: DockFolder) -> None:
    assert dock.read_small("DCIM/100/a.mp4", 10) == b"aaa"
    assert dock.read_small("DCIM/100/a.mp4", 2) is None
    assert dock.read_small("link.mp4", 100) is None


def test_names_that_are_not_utf8_round_trip_through_their_text_form(tmp_path: Path) -> None:
    root = tmp_path / "dock"
    gbk_folder = "执法记录".encode("gbk")  # a FAT card mounted with the wrong code page
    gbk_name = "查封_0001.mp4".encode("gbk")
    os.makedirs(os.path.join(os.fsencode(root), gbk_folder))
    with open(os.path.join(os.fsencode(root), gbk_folder, gbk_name), "wb") as f:
        f.write(b"evidence")
    (root / "plain.mp4").write_bytes(b"p")
    (root / "\\xb7\\xa8.mp4").write_bytes(b"x")  # UTF-8 text that reads as escaped bytes
    dock = DockFolder("d", root)

    entries = {rel: (ident, why) for rel, ident, why in dock.walk()}
    rel = f"{gbk_folder.decode('utf-8', 'backslashreplace')}/{gbk_name.decode('utf-8', 'backslashreplace')}"
    # some GBK byte pairs happen to be valid UTF-8 (d6 b4 = U+05B4, c2 bc = ¼); only the rest is escaped
    assert rel == "\u05b4\\xb7\\xa8\\xbc\\xc7\u00bc/\\xb2\\xe9\\xb7\\xe2_0001.mp4"
    assert entries[rel][0] is not None and entries[rel][1] is None
    assert entries["plain.mp4"][1] is None
    assert entries["\\xb7\\xa8.mp4"][0] is None
    assert "escaped bytes" in str(entries["\\xb7\\xa8.mp4"][1])

    f, ident = dock.open(rel)
    with f:
        assert f.read() == b"evidence"
    assert dock.stat(rel) == ident
    assert dock.remove(rel, ident) is True
    assert os.listdir(os.path.join(os.fsencode(root), gbk_folder)) == []
    # the refused file is left alone, and is not confused with the other form
    assert dock.stat("plain.mp4") is not None
    assert (root / "\\xb7\\xa8.mp4").read_bytes() == b"x"
