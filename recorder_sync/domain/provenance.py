"""The provenance of derived material (an exported clip): what it was made from, how, by whom
and why, as canonical JSON (RFC 8785) signed with the station key, like a manifest.

The source is named by its SHA-256 (and its signed manifest's), so the clip can be traced to
the evidence without trusting the station's database; the exact ffmpeg command and version
say how to make it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from recorder_sync.domain.canonical import canonical_bytes
from recorder_sync.domain.model import Recording
from recorder_sync.domain.replay import clip_time_text
from recorder_sync.domain.times import utc_iso

PROVENANCE_TYPE = "recorder_sync.provenance/v1"


@dataclass(frozen=True)
class Derivation:
    """How a derived file was made: the operations, and the tool that did them."""

    operations: tuple[Mapping[str, Any], ...]
    tool: str  # e.g. "ffmpeg 5.1.6" or "copy"
    command: tuple[str, ...] = ()  # the exact command, with INPUT and the output's name for the paths
    # the exact -filter_complex that ran (re-encoded exports), as ffmpeg-python compiled it
    filter_graph: str | None = None


@dataclass(frozen=True)
class OutputFile:
    """A derived file as its provenance names it."""

    name: str
    sha256: str
    size: int
    at: timedelta | None = None  # a still frame's time, from the recording's start

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "sha256": self.sha256, "size": self.size}
        if self.at is not None:
            out["at"] = clip_time_text(self.at)
        return out


def build_provenance(
    *,
    source: Recording,
    derivation: Derivation,
    output: OutputFile | Sequence[OutputFile],
    range_asked: Mapping[str, str] | None,
    actor: str,
    reason: str,
    at: datetime,
    station: str,
    key_id: str,
    access_seq: int,
) -> bytes:
    doc: dict[str, Any] = {
        "type": PROVENANCE_TYPE,
        "sources": [
            {
                "recording_id": source.id,
                "sha256": source.sha256,
                "manifest_sha256": hashlib.sha256(source.manifest).hexdigest() if source.manifest else None,
            }
        ],
        "operations": [dict(op) for op in derivation.operations],
        "tool": derivation.tool,
        "command": list(derivation.command),
        "exported_by": actor,
        "reason": reason,
        "exported_at": utc_iso(at),
        "access_seq": access_seq,  # the custody event that logged this export before it was made
        "station": station,
        "key_id": key_id,
    }
    if isinstance(output, OutputFile):
        doc["output"] = output.as_json()
    else:  # a set (still frames): each file with its time
        doc["outputs"] = [o.as_json() for o in output]
    if derivation.filter_graph is not None:
        doc["filter_graph"] = derivation.filter_graph
    if range_asked is not None:
        doc["range"] = dict(range_asked)
    return canonical_bytes(doc)


def output_name(rec: Recording, range_text: Sequence[str] | None) -> str:
    """``rec-…_00-00-05_00-01-30.mp4``: the recording, the range, the original's extension."""
    suffix = ""
    dot = rec.original_name.rfind(".")
    if 0 < dot < len(rec.original_name) - 1:
        ext = rec.original_name[dot + 1 :]
        if ext.isalnum() and len(ext) <= 8:
            suffix = "." + ext.lower()
    parts = [rec.id]
    if range_text:
        parts += [t.replace(":", "-").replace(".", "_") for t in range_text]
    return "_".join(parts) + suffix


def source_entry(rec: Recording) -> dict[str, Any]:
    """A source as a provenance names it: by its SHA-256 and its signed manifest's."""
    return {
        "recording_id": rec.id,
        "sha256": rec.sha256,
        "manifest_sha256": hashlib.sha256(rec.manifest).hexdigest() if rec.manifest else None,
    }
