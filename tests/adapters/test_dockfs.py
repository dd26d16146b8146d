"""DockFolder on real folders: links are refused, never followed; release only deletes what was hashed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder_sync.adapters import dockfs
from recorder_sync.adapters.dockfs import DockFolder
from recorder_sync.adapters.vault import MARKER, Vault
from recorder_sync.domain.errors import UnsafePath

NOBODY = 65534


@pytest.fixture
def world_readable_tmp() -> Iterator[Path]:
    """A folder another user can reach (pytest's own temporary folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="dockfs-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


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


def test_a_hard_link_is_refused_and_never_released(tmp_path: Path) -> None:
    root = tmp_path / "dock"
    root.mkdir()
    (root / "a.mp4").write_bytes(b"evidence")
    os.link(root / "a.mp4", root / "b.mp4")  # two names on the dock
    (tmp_path / "c.mp4").write_bytes(b"more")
    os.link(tmp_path / "c.mp4", root / "c.mp4")  # the other name is outside the dock
    dock = DockFolder("d", root)

    entries = {rel: (ident, why) for rel, ident, why in dock.walk()}
    for rel in ("a.mp4", "b.mp4", "c.mp4"):
        ident, why = entries[rel]
        assert ident is None and "has 2 names (hard link)" in str(why), rel
    with pytest.raises(UnsafePath, match="hard link"):
        dock.open("a.mp4")
    with pytest.raises(UnsafePath, match="hard link"):
        dock.stat("c.mp4")
    # a link made after the file was looked at: release removes nothing
    (root / "d.mp4").write_bytes(b"d")
    ident = dock.stat("d.mp4")
    assert ident is not None
    os.link(root / "d.mp4", tmp_path / "d-elsewhere.mp4")
    assert dock.remove("d.mp4", ident) is False
    assert (root / "d.mp4").read_bytes() == b"d" and (root / "a.mp4").read_bytes() == b"evidence"


def test_a_rewrite_with_its_mtime_set_back_is_a_changed_file(dock: DockFolder) -> None:
    path = dock.root / "DCIM" / "100" / "a.mp4"
    before = dock.stat("DCIM/100/a.mp4")
    assert before is not None
    st = path.stat()
    path.write_bytes(b"zzz")  # same size, other bytes
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # touch -d back to the old time
    after = dock.stat("DCIM/100/a.mp4")
    assert after is not None and (after.size, after.mtime_ns, after.inode) == (
        before.size,
        before.mtime_ns,
        before.inode,
    )
    assert after != before
    assert dock.remove("DCIM/100/a.mp4", before) is False
    assert path.read_bytes() == b"zzz"


def test_a_fifo_named_like_a_sidecar_never_blocks_the_reader(tmp_path: Path) -> None:
    root = tmp_path / "dock"
    root.mkdir()
    os.mkfifo(root / "a.json")
    os.mkfifo(root / "clock.json")
    dock = DockFolder("d", root)
    outcome: dict[str, object] = {}

    def read() -> None:
        outcome["sidecar"] = dock.read_small("a.json", 1024)
        try:
            dock.open("clock.json")
        except UnsafePath as e:
            outcome["clock"] = str(e)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=30)  # a guard against hanging the suite, not a measure of speed
    assert not reader.is_alive(), "opening a FIFO blocked the reader"
    assert outcome == {"sidecar": None, "clock": "Refusing clock.json: not a regular file"}


def test_unreadable_entries_are_reported_not_skipped(world_readable_tmp: Path) -> None:
    """Run as an unprivileged user (root reads everything), so the kernel really says EACCES."""
    root = world_readable_tmp / "dock"
    for folder, mode in (("ok", 0o755), ("locked", 0o700), ("listonly", 0o744)):
        (root / folder).mkdir(parents=True)
        (root / folder / "x.mp4").write_bytes(b"x")
        (root / folder).chmod(mode)
    (root / "secret.mp4").write_bytes(b"s")
    (root / "secret.mp4").chmod(0o600)
    root.chmod(0o755)
    # imports first, then drop to another user: that user could not start this interpreter
    script = (
        "import json, os, sys; from pathlib import Path; "
        "from recorder_sync.adapters.dockfs import DockFolder; "
        f"os.setgroups([]); os.setresgid({NOBODY}, {NOBODY}, {NOBODY}); "
        f"os.setresuid({NOBODY}, {NOBODY}, {NOBODY}); "
        "print(json.dumps([[r, i is not None, w] for r, i, w in DockFolder('d', Path(sys.argv[1])).walk()]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(root)], capture_output=True, text=True, check=True, timeout=60
    )
    entries = {rel: (ok, why) for rel, ok, why in json.loads(out.stdout)}
    assert entries["ok/x.mp4"] == (True, None)
    assert entries["locked"] == (False, "folder cannot be read (Permission denied); nothing in it was taken")
    # names can be listed, but nothing in it can be looked at: no more readable than "locked"
    assert entries["listonly"] == entries["locked"]
    assert entries["secret.mp4"] == (False, "cannot be read (permission denied); left on the dock")
    assert set(entries) == {"ok/x.mp4", "locked", "listonly", "secret.mp4"}


def test_paths_longer_than_path_max_are_walked_opened_and_released(tmp_path: Path) -> None:
    root = tmp_path / "dock"
    root.mkdir()
    part = "d" * 250
    depth = os.pathconf(root, "PC_PATH_MAX") // len(part) + 2
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):  # built through descriptors: the path itself is too long to name
        os.mkdir(part, dir_fd=fd)
        nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    ffd = os.open("deep.mp4", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(ffd, b"deep evidence")
    os.close(ffd)
    os.close(fd)
    relpath = "/".join([part] * depth + ["deep.mp4"])
    assert len(relpath) > os.pathconf(root, "PC_PATH_MAX")
    dock = DockFolder("d", root)

    entries = {rel: (ident, why) for rel, ident, why in dock.walk()}
    assert list(entries) == [relpath]
    ident = entries[relpath][0]
    assert ident is not None and ident.size == len(b"deep evidence")
    f, opened = dock.open(relpath)
    with f:
        assert f.read() == b"deep evidence"
    assert opened == ident and dock.stat(relpath) == ident
    assert dock.remove(relpath, ident) is True
    assert dock.stat(relpath) is None


def test_a_folder_holding_a_vault_is_never_entered(tmp_path: Path) -> None:
    root = tmp_path / "dock"
    root.mkdir()
    (root / "a.mp4").write_bytes(b"a")
    Vault(root / "disk" / "vault").put_bytes("manifests/x", b"stored", {})
    entries = {rel: (ident, why) for rel, ident, why in DockFolder("d", root).walk()}
    assert entries["disk/vault"] == (None, f"holds a recorder_sync vault ({MARKER}); never entered")
    assert not [rel for rel in entries if rel.startswith("disk/vault/")]
    assert entries["a.mp4"][0] is not None
    with pytest.raises(UnsafePath, match="vault"):
        list(DockFolder("v", root / "disk" / "vault").walk())


def test_a_dock_folder_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.mp4").write_bytes(b"a")
    (tmp_path / "dock").symlink_to(real)
    dock = DockFolder("d", tmp_path / "dock")
    with pytest.raises(UnsafePath, match="symbolic link"):
        list(dock.walk())
    with pytest.raises(UnsafePath, match="symbolic link"):
        dock.open("a.mp4")
    assert (real / "a.mp4").exists()
    assert list(DockFolder("gone", tmp_path / "missing").walk()) == []  # an empty mount point: nothing


def test_folders_nested_too_deep_are_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dockfs, "MAX_DEPTH", 2)  # one descriptor is held per level; the real bound is 100
    root = tmp_path / "dock"
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "one.mp4").write_bytes(b"1")
    (root / "a" / "b" / "two.mp4").write_bytes(b"2")
    (root / "a" / "b" / "c" / "three.mp4").write_bytes(b"3")
    entries = {rel: (ident, why) for rel, ident, why in DockFolder("d", root).walk()}
    assert entries["a/one.mp4"][0] is not None
    assert entries["a/b"] == (None, "folders nested deeper than 2 levels; not entered")
    assert set(entries) == {"a/one.mp4", "a/b"}
