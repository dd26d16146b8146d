"""The ``Prober`` contract, run on the scripted fake and on ffprobe: bad media is never an
exception, it is ``readable=False`` with the reason, and the kind comes from the extension."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakes import ScriptedProber

from recorder_sync.adapters.probe import FfprobeProber
from recorder_sync.domain.model import Kind
from recorder_sync.domain.ports import Prober


@pytest.fixture(params=["scripted", "ffprobe"])
def prober(request: pytest.FixtureRequest) -> Prober:
    return ScriptedProber() if request.param == "scripted" else FfprobeProber()


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("DSJ-A1_0001.MP4", Kind.VIDEO),
        ("clip.mov", Kind.VIDEO),
        ("note.wav", Kind.AUDIO),
        ("x.jpg", Kind.PHOTO),
    ],
)
def test_bytes_that_are_no_media_are_unreadable_with_a_reason_and_the_kind_of_the_extension(
    prober: Prober, tmp_path: Path, name: str, kind: Kind
) -> None:
    path = tmp_path / name
    path.write_bytes(os.urandom(4096))
    with path.open("rb") as f:
        result = prober.probe_open(f, name)
    assert result.readable is False and result.error
    assert result.kind == kind
    assert result.duration_ms is None


def test_an_empty_file_is_unreadable(prober: Prober, tmp_path: Path) -> None:
    path = tmp_path / "empty.MP4"
    path.write_bytes(b"")
    with path.open("rb") as f:
        result = prober.probe_open(f, path.name)
    assert result.readable is False and "empty" in (result.error or "")
