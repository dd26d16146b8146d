"""The signed manifest: what was ingested, as canonical JSON (RFC 8785).

The signature (Ed25519) covers the exact manifest bytes, so an auditor can check it
with ``openssl pkeyutl -verify -rawin`` and nothing of ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recorder_sync.domain.canonical import canonical_bytes
from recorder_sync.domain.model import Sourced
from recorder_sync.domain.times import utc_iso

MANIFEST_TYPE = "recorder_sync.manifest/v1"


# The manifest's times are ``times.utc_iso``; the old name stays for callers not yet moved.


@dataclass(frozen=True)
class ManifestInput:
    recording_id: str
    sha256: str
    size: int
    original_name: str
    station: str
    dock: str
    ingested_at: datetime
    software: str
    key_id: str
    media: Mapping[str, Any]
    metadata: Mapping[str, Sourced]
    sidecar_sha256: str | None = None


def build_manifest(m: ManifestInput) -> bytes:
    meta: dict[str, Any] = {}
    for name, sourced in sorted(m.metadata.items()):
        value = sourced.value
        shown = utc_iso(value) if isinstance(value, datetime) else value
        meta[name] = {"value": shown, "source": sourced.source}
    doc: dict[str, Any] = {
        "type": MANIFEST_TYPE,
        "recording_id": m.recording_id,
        "sha256": m.sha256,
        "size": m.size,
        "original_name": m.original_name,
        "station": m.station,
        "dock": m.dock,
        "ingested_at": utc_iso(m.ingested_at),
        "software": m.software,
        "key_id": m.key_id,
        "media": {k: v for k, v in sorted(m.media.items()) if v is not None and v != []},
        "metadata": meta,
    }
    if m.sidecar_sha256:
        doc["sidecar_sha256"] = m.sidecar_sha256
    return canonical_bytes(doc)
