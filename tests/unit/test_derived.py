"""The pure part of derived material: keys, the provenance read back, the ``derived`` event's
details, and what an auditor concludes from an event, a provenance and the sources."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recorder_sync.adapters.keys import create_key
from recorder_sync.domain import layout
from recorder_sync.domain.canonical import canonical_bytes
from recorder_sync.domain.custody import CustodyEvent, EventKind, make_event
from recorder_sync.domain.derived import (
    SourceFacts,
    derived_details,
    provenance_problems,
    read_derived_event,
    read_provenance,
)
from recorder_sync.domain.model import Kind, Recording, RecordingState, StoredObject
from recorder_sync.domain.provenance import Derivation, OutputFile, build_provenance
from recorder_sync.domain.trust import StationKey, TrustAnchors

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SOURCE_SHA = "a" * 64
CLIP = b"a derived clip"
CLIP_SHA = hashlib.sha256(CLIP).hexdigest()
MANIFEST = b'{"recording_id":"rec-1"}'


def source() -> Recording:
    return Recording(
        id="rec-1",
        sha256=SOURCE_SHA,
        size=10,
        kind=Kind.VIDEO,
        state=RecordingState.VERIFIED,
        station="st",
        dock="d",
        original_name="a.mp4",
        ingested_at=NOW,
        manifest=MANIFEST,
    )


def provenance(key_id: str, **changes: object) -> bytes:
    args: dict[str, object] = dict(
        source=source(),
        derivation=Derivation(({"op": "trim", "from": "00:00:02", "to": "00:00:04"},), "ffmpeg 5.1"),
        output=OutputFile("clip.mp4", CLIP_SHA, len(CLIP)),
        range_asked={"from": "00:00:02", "to": "00:00:04"},
        actor="chen@st",
        reason="court",
        at=NOW,
        station="st",
        key_id=key_id,
        access_seq=7,
    )
    args.update(changes)
    return build_provenance(**args)


def test_keys_are_content_addressed_under_derived() -> None:
    b = "b" * 64
    assert layout.derived_key(CLIP_SHA) == f"derived/sha256/{CLIP_SHA[:2]}/{CLIP_SHA[2:4]}/{CLIP_SHA}"
    assert layout.provenance_key(b) == f"derived/provenance/bb/bb/{b}.json"
    assert layout.provenance_signature_key(b) == f"derived/provenance/bb/bb/{b}.sig"
    with pytest.raises(ValueError):
        layout.provenance_key("../x")


def test_read_provenance_refuses_what_is_not_one() -> None:
    for bad in (b"not json", b"{}", b'{"type":"recorder_sync.provenance/v1","output":{},"sources":[]}'):
        with pytest.raises(ValueError):
            read_provenance(bad)


Signed = tuple[bytes, bytes, TrustAnchors, str]


@pytest.fixture
def signed(tmp_path: Path) -> Signed:
    signer = create_key(tmp_path / "k.key")
    trust = TrustAnchors(
        (), (StationKey(signer.key_id, "st", signer.public_key_pem(), datetime(2000, 1, 1, tzinfo=UTC)),)
    )
    doc = provenance(signer.key_id)
    return doc, signer.sign(doc), trust, signer.key_id


def event_for(doc: bytes, **detail_changes: object) -> CustodyEvent:
    d = read_provenance(doc)
    [out] = d.outputs
    details = derived_details(
        d,
        [StoredObject(out.key, "u", out.size, "v1")],
        StoredObject(d.provenance_key, "u", len(doc), "v2"),
        StoredObject(d.signature_key, "u", 64, "v3"),
    )
    details.update(detail_changes)
    return make_event(
        seq=9, prev_hash="0" * 64, at=NOW, action=EventKind.DERIVED, actor="chen@st", station="st",
        recording_id="rec-1", details=details,
    )  # fmt: skip


def test_an_event_that_matches_its_signed_provenance_and_sources_has_no_problem(signed: Signed) -> None:
    doc, sig, trust, _ = signed
    ev = read_derived_event(event_for(doc))
    assert ev.files[0][0].version_id == "v1" and ev.sources == (("rec-1", SOURCE_SHA),) and ev.access_seq == 7
    assert provenance_problems(ev, doc, sig, trust, {"rec-1": SourceFacts(SOURCE_SHA, MANIFEST)}) == []


def test_what_the_auditor_reports(signed: Signed) -> None:
    doc, sig, trust, _ = signed
    known = {"rec-1": SourceFacts(SOURCE_SHA, MANIFEST)}
    ev = read_derived_event(event_for(doc))
    [missing, no_sig] = provenance_problems(ev, None, None, trust, known)
    assert "missing from the store" in missing and "signature" in no_sig
    [other, bad] = provenance_problems(ev, doc.replace(b"court", b"judge"), sig, trust, known)
    assert "are not the provenance" in other and "does not verify" in bad
    assert provenance_problems(ev, doc, sig, trust, {}) == [
        "its source recording rec-1 does not exist in the database"
    ]
    [changed] = provenance_problems(ev, doc, sig, trust, {"rec-1": replace(known["rec-1"], manifest=b"{}")})
    assert "manifest" in changed
    lied = read_derived_event(event_for(doc, operations=[{"op": "copy"}]))
    [disagrees] = provenance_problems(lied, doc, sig, trust, known)
    assert disagrees.startswith("the derived event (seq 9) says operations [{'op': 'copy'}]")


def test_a_set_of_frames_is_one_derivation_of_several_files() -> None:
    fields = json.loads(provenance("k1"))
    fields["outputs"] = [fields.pop("output"), {"name": "f2.png", "sha256": "c" * 64, "size": 3}]
    d = read_provenance(canonical_bytes(fields))
    assert [(o.sha256, o.size) for o in d.outputs] == [(CLIP_SHA, len(CLIP)), ("c" * 64, 3)]
