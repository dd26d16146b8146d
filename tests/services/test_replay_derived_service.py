"""Derived material from the replay service, on fakes: redactions refused before anything is
logged, the watermark names the logged access, and still frames share export's one step that
builds the provenance and places the files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_replay_service import ACTOR, NOW, world

from recorder_sync.adapters.clips import ExportFolder
from recorder_sync.adapters.keys import create_key
from recorder_sync.domain import layout
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.errors import IntegrityFailure, UsageError
from recorder_sync.domain.model import Kind
from recorder_sync.domain.provenance import Derivation
from recorder_sync.domain.redaction import EditPlan, redactions
from recorder_sync.domain.replay import ClipRange
from recorder_sync.domain.signatures import verify_signature

__all__ = ["world"]  # the fixture, shared with the service's other tests

S = timedelta(seconds=1)


class FakeClipper:
    """``Clipper``: writes small files and says what it was asked."""

    def __init__(self) -> None:
        self.plans: list[EditPlan | None] = []
        self.stilled: list[timedelta] = []

    def derive(
        self, source: Path, target: Path, span: ClipRange, edits: EditPlan | None = None
    ) -> Derivation:
        self.plans.append(edits)
        target.write_bytes(b"derived from " + source.read_bytes()[:8])
        operations = tuple(edits.operations) if edits is not None else ({"op": "copy"},)
        return Derivation(operations, "fake 1.0", ("fake", "INPUT"), "[0:v]fake[s0]" if edits else None)

    def stills(self, source: Path, frames: Sequence[tuple[timedelta, Path]]) -> Derivation:
        for at, path in frames:
            self.stilled.append(at)
            path.write_bytes(f"picture at {at.total_seconds()}".encode())
        return Derivation(({"op": "still", "format": "png"},), "fake 1.0", ("fake", "-ss", "AT"))


@pytest.fixture
def video(world: Any) -> Any:
    """The world's recording as ingest's probe describes a 320x240 video of 25 s."""
    service, log, store, _, trust, rec = world
    rec = replace(rec, duration_ms=25_000, media={"width": 320, "height": 240, "duration_ms": 25_000})
    log.recordings["rec-1"] = rec
    return service, log, store, trust, rec


def folder(tmp_path: Path) -> ExportFolder:
    out = tmp_path / "out"
    out.mkdir(parents=True)
    return ExportFolder(out)


@pytest.mark.parametrize(
    ("blurs", "mutes", "message"),
    [
        (["300,200,40,40@1-2"], [], "not inside the 320x240 picture"),
        (["0,0,40,40@20-30"], [], "past the recording's end"),
        ([], ["00:00:01-00:00:02"], None),  # fits: the only one that goes on
    ],
)
def test_a_redaction_that_does_not_fit_is_refused_before_anything_is_logged(
    video: Any, tmp_path: Path, blurs: list[str], mutes: list[str], message: str | None
) -> None:
    service, log, store, trust, _ = video
    signer = create_key(tmp_path / "keys2" / "k.key")
    target = folder(tmp_path)
    clipper = FakeClipper()
    args = (ClipRange(), trust, clipper, target, signer, "st", redactions(blurs, mutes, False))
    if message is None:
        service.export("rec-1", "court", *args)
        # the export's access, then the derived material stored as evidence
        assert [kind for kind, _, _ in log.notes] == [EventKind.EXPORTED, EventKind.DERIVED]
        assert store.opened == 1
        return
    with pytest.raises(UsageError, match=message):
        service.export("rec-1", "court", *args)
    assert log.notes == [] and store.opened == 0 and clipper.plans == []
    assert list(target.folder.iterdir()) == []


def test_the_watermark_names_who_when_and_the_access_event(video: Any, tmp_path: Path) -> None:
    service, log, _, trust, _ = video
    signer = create_key(tmp_path / "keys2" / "k.key")
    clipper = FakeClipper()
    span = ClipRange(2 * S, 9 * S)
    edits = redactions(["0,0,100,40@5-7"], [], True)
    exported = service.export("rec-1", "court", span, trust, clipper, folder(tmp_path), signer, "st", edits)
    (kind, details, _), (stored, _, _) = log.notes
    assert stored is EventKind.DERIVED
    assert kind is EventKind.EXPORTED and details["redactions"] == "blur 0,0,100,40@5-7; watermark"
    [plan] = clipper.plans
    assert plan is not None
    assert plan.watermark == (f"exported by {ACTOR}", f"{NOW:%Y-%m-%d %H:%M:%S} UTC, access event 1")
    assert plan.blurs[0].window_ms == (3000, 5000)  # 5-7 s of the recording, 3-5 s of the clip
    doc = json.loads(exported.provenance)
    assert doc["filter_graph"] == "[0:v]fake[s0]" and doc["tool"] == "fake 1.0"
    assert [op["op"] for op in doc["operations"]] == ["blur", "watermark"]
    assert doc["output"]["name"] == exported.path.name == "rec-1_00-00-02_00-00-09.mp4"
    # without any redaction: the clipper is asked for a plain cut, and the provenance has no graph
    plain = service.export("rec-1", "court", span, trust, clipper, folder(tmp_path / "p"), signer, "st")
    assert clipper.plans[-1] is None and "filter_graph" not in json.loads(plain.provenance)
    assert log.notes[-2][0] is EventKind.EXPORTED and "redactions" not in log.notes[-2][1]


def test_frames_are_logged_first_and_listed_in_one_signed_provenance(video: Any, tmp_path: Path) -> None:
    service, log, _, trust, rec = video
    signer = create_key(tmp_path / "keys2" / "k.key")
    clipper = FakeClipper()
    target = folder(tmp_path)
    delivered = service.frames("rec-1", "report 7", ClipRange(), 10 * S, trust, clipper, target, signer, "st")
    assert clipper.stilled == [0 * S, 10 * S, 20 * S]
    (kind, details, reason), (stored, kept, _) = log.notes
    # one derived event for the set: the three frames stored as evidence beside their provenance
    assert stored is EventKind.DERIVED and len(kept["files"]) == 3
    assert (kind, details["how"], details["every"], reason) == (
        EventKind.EXPORTED,
        "frames",
        "00:00:10",
        "report 7",
    )
    names = ["rec-1_frame_00-00-00.png", "rec-1_frame_00-00-10.png", "rec-1_frame_00-00-20.png"]
    assert [f.name for f in delivered.files] == names
    provenance = (target.folder / "rec-1_frames.provenance.json").read_bytes()
    assert provenance == delivered.provenance
    verify_signature(
        signer.public_key_pem(), provenance, (target.folder / "rec-1_frames.provenance.sig").read_bytes()
    )
    doc = json.loads(provenance)
    assert doc["outputs"] == [
        {
            "name": name,
            "at": at,
            "sha256": hashlib.sha256((target.folder / name).read_bytes()).hexdigest(),
            "size": (target.folder / name).stat().st_size,
        }
        for name, at in zip(names, ["00:00:00", "00:00:10", "00:00:20"], strict=True)
    ]
    assert doc["operations"][0] == {"op": "frames", "every": "00:00:10", "count": 3}
    assert doc["sources"][0]["sha256"] == rec.sha256 and doc["access_seq"] == 1
    assert sorted(p.name for p in target.folder.iterdir()) == sorted(
        [*names, "rec-1_frames.provenance.json", "rec-1_frames.provenance.sig"]
    )


def test_frames_refused_or_unverified_leave_nothing(video: Any, tmp_path: Path) -> None:
    service, log, store, trust, rec = video
    signer = create_key(tmp_path / "keys2" / "k.key")
    clipper = FakeClipper()
    target = folder(tmp_path)
    args = (ClipRange(), 10 * S, trust, clipper, target, signer, "st")
    with pytest.raises(UsageError, match="--reason"):
        service.frames("rec-1", "  ", *args)
    log.recordings["rec-1"] = replace(rec, kind=Kind.AUDIO)
    with pytest.raises(UsageError, match="is audio, not video"):
        service.frames("rec-1", "report", *args)
    assert log.notes == [] and store.opened == 0
    log.recordings["rec-1"] = rec
    store.damage(layout.media_key(rec.sha256))
    with pytest.raises(IntegrityFailure):
        service.frames("rec-1", "report", *args)
    assert clipper.stilled == [] and list(target.folder.iterdir()) == []
    assert [n[1].get("outcome") for n in log.notes] == [None, "integrity-failure"]


class TakesTheName:
    """A station key whose signing also makes ``taken`` (another process taking that name in
    the folder after the export checked it, before the export placed its files)."""

    def __init__(self, signer: Any, taken: Path) -> None:
        self.signer, self.taken = signer, taken
        self.key_id = signer.key_id

    def sign(self, data: bytes) -> bytes:
        self.taken.write_bytes(b"someone else's")
        return bytes(self.signer.sign(data))


@pytest.mark.parametrize("command", ["export", "frames"])
def test_an_export_that_cannot_place_every_file_leaves_none_of_them(
    video: Any, tmp_path: Path, command: str
) -> None:
    """A clip (or frames) placed, then its signature refused: the clip and its provenance were
    left in --out, looking like an export whose signature was lost."""
    service, log, _, trust, _ = video
    target = folder(tmp_path)
    base = "rec-1.mp4" if command == "export" else "rec-1_frames"
    taken = target.folder / (base + ".provenance.sig")
    signer = TakesTheName(create_key(tmp_path / "keys2" / "k.key"), taken)
    with pytest.raises(UsageError, match="exists already"):
        if command == "export":
            service.export("rec-1", "court", ClipRange(), trust, FakeClipper(), target, signer, "st")
        else:
            service.frames("rec-1", "report", ClipRange(), 10 * S, trust, FakeClipper(), target, signer, "st")
    assert [p.name for p in target.folder.iterdir()] == [taken.name]
    assert taken.read_bytes() == b"someone else's"
    assert [n[1].get("outcome") for n in log.notes] == [None, None, "failed"]  # exported, derived, failed
