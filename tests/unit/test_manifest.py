from __future__ import annotations

import json
from datetime import UTC, datetime

from recorder_sync.domain.layout import manifest_key, media_key
from recorder_sync.domain.manifest import MANIFEST_TYPE, ManifestInput, build_manifest
from recorder_sync.domain.model import Sourced, recording_id_for

SHA = "ab" * 32


def make(**kw: object) -> bytes:
    base = dict(
        recording_id=recording_id_for(SHA),
        sha256=SHA,
        size=123,
        original_name="DSJ-A1_031245_20261127083015_0001.MP4",
        station="st-1",
        dock="dock1",
        ingested_at=datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC),
        software="recorder_sync 0.1.0",
        key_id="ed25519:0011223344556677",
        media={"kind": "video", "codecs": ["h264", "aac"], "duration_ms": 5000, "width": None},
        metadata={
            "start": Sourced(datetime(2026, 11, 27, 0, 30, 15, tzinfo=UTC), "filename:default"),
            "officer": Sourced("031245", "sidecar"),
        },
    )
    base.update(kw)
    return build_manifest(ManifestInput(**base))  # type: ignore[arg-type]


def test_manifest_is_canonical_and_complete() -> None:
    data = make()
    doc = json.loads(data)
    assert doc["type"] == MANIFEST_TYPE and doc["sha256"] == SHA and doc["size"] == 123
    assert doc["metadata"]["start"] == {"value": "2026-11-27T00:30:15+00:00", "source": "filename:default"}
    assert doc["metadata"]["officer"]["source"] == "sidecar"
    assert "width" not in doc["media"]  # absent values are left out, not null
    # canonical: keys sorted, no whitespace — re-encoding the parsed value gives the same bytes
    assert data == json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_same_input_same_bytes_and_any_change_differs() -> None:
    assert make() == make()
    assert make() != make(size=124)


def test_content_addressed_keys() -> None:
    assert media_key(SHA) == f"sha256/ab/ab/{SHA}"
    assert manifest_key(SHA).endswith(".manifest.json")
    assert recording_id_for(SHA) == "rec-" + SHA[:16]
