"""The export folder places a clip with its provenance and signature all or none: a file cut
short, or a clip without its signature, must never be left under the names of an export."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from recorder_sync.adapters.clips import ExportFolder
from recorder_sync.domain.errors import UsageError

CLIP = b"\x00clip" * 100_000


@pytest.fixture
def out(tmp_path: Path) -> ExportFolder:
    (tmp_path / "out").mkdir()
    (tmp_path / "clip.mp4").write_bytes(CLIP)
    return ExportFolder(tmp_path / "out")


def files(folder: ExportFolder) -> list[str]:
    return sorted(p.name for p in folder.folder.iterdir())


def test_every_file_is_placed_whole_readable_by_the_group(out: ExportFolder, tmp_path: Path) -> None:
    paths = out.place_all([("c.mp4", tmp_path / "clip.mp4"), ("c.mp4.provenance.json", b"{}")])
    assert paths == [out.folder / "c.mp4", out.folder / "c.mp4.provenance.json"]
    assert files(out) == ["c.mp4", "c.mp4.provenance.json"]
    assert paths[0].read_bytes() == CLIP and paths[1].read_bytes() == b"{}"
    assert stat.S_IMODE(paths[0].stat().st_mode) == 0o640


def test_ctrl_c_half_way_through_a_copy_leaves_nothing(
    out: ExportFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(src: Any, dst: Any, length: int = 0) -> None:
        dst.write(src.read(1000))  # a part of the clip written, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "copyfileobj", interrupted)
    with pytest.raises(KeyboardInterrupt):
        out.place_all([("c.mp4.provenance.json", b"{}"), ("c.mp4", tmp_path / "clip.mp4")])
    assert files(out) == []


def test_a_name_taken_meanwhile_is_never_overwritten_and_nothing_else_is_left(
    out: ExportFolder, tmp_path: Path
) -> None:
    (out.folder / "c.mp4.provenance.sig").write_bytes(b"theirs")
    with pytest.raises(UsageError, match=r"c\.mp4\.provenance\.sig exists already"):
        out.place_all(
            [
                ("c.mp4", tmp_path / "clip.mp4"),
                ("c.mp4.provenance.json", b"{}"),
                ("c.mp4.provenance.sig", b"s"),
            ]
        )
    assert files(out) == ["c.mp4.provenance.sig"]
    assert (out.folder / "c.mp4.provenance.sig").read_bytes() == b"theirs"


def test_a_symlink_under_the_name_is_not_followed(out: ExportFolder, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (out.folder / "c.mp4").symlink_to(elsewhere)
    with pytest.raises(UsageError, match="exists already"):
        out.place_all([("c.mp4", tmp_path / "clip.mp4")])
    assert not elsewhere.exists() and files(out) == ["c.mp4"]


def test_on_a_file_system_without_hard_links_the_files_are_renamed_into_place(
    out: ExportFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")  # what vfat says

    monkeypatch.setattr(os, "link", no_links)
    out.place_all([("c.mp4", tmp_path / "clip.mp4")])
    assert files(out) == ["c.mp4"] and (out.folder / "c.mp4").read_bytes() == CLIP
    with pytest.raises(UsageError, match="exists already"):
        out.place_all([("d.json", b"{}"), ("c.mp4", b"other")])
    assert files(out) == ["c.mp4"] and (out.folder / "c.mp4").read_bytes() == CLIP


def test_a_full_disk_half_way_is_a_clear_error_and_leaves_nothing(
    out: ExportFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was an OSError, which the command reports as an internal error (a bug)."""

    def full(src: Any, dst: Any, length: int = 0) -> None:
        dst.write(src.read(1000))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", full)
    with pytest.raises(UsageError, match=r"cannot write the export in --out .*: No space left on device"):
        out.place_all([("c.mp4.provenance.json", b"{}"), ("c.mp4", tmp_path / "clip.mp4")])
    assert files(out) == []
