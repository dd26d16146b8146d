"""What ``recorder-audit verify`` decides about each recording's evidence (no I/O).

For every signed recording: the manifest's signature is by a key of the auditor's trust
anchors, valid when the log says it was signed; the manifest is the one the log's
``signed`` event bound (by its SHA-256); the fields that reports, linking and replay use
(device, officer, start, end, size, sha256) equal the signed manifest's; the store holds
the same manifest and signature bytes as the database.  For every stored object: it
exists, has the right size and version, and cannot be changed or deleted.

Each function returns the reasons something does not verify (empty when it does), in
words an auditor can act on; the service reports them as ``Problem`` lines.
"""

from __future__ import annotations

import enum
import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from recorder_sync.domain.custody import MANIFEST_SHA256, CustodyEvent
from recorder_sync.domain.errors import SignatureInvalid
from recorder_sync.domain.model import StoredObject
from recorder_sync.domain.times import parse_lenient, utc_iso

if TYPE_CHECKING:
    # cryptography is imported by the checks that verify, not by every user of the ports
    from recorder_sync.domain.trust import TrustAnchors

COMPLIANCE = "COMPLIANCE"
SAMPLE_PERCENT = 1
SAMPLE_AT_LEAST = 10
# the row's reported fields and where the signed manifest holds each
_TOP_FIELDS = ("sha256", "size")
_METADATA_FIELDS = ("device", "officer", "start", "end")
_TIME_FIELDS = frozenset({"start", "end"})

T = TypeVar("T")


class Level(enum.StrEnum):
    """How far ``verify`` looks into the stored objects."""

    METADATA = "metadata"  # existence, size, version and lock of every object
    SAMPLE = "sample"  # and a re-hash of a random sample of the media objects
    FULL = "full"  # and a re-hash of every media object


@dataclass(frozen=True)
class SignedRecording:
    """One recording as the database gives it to the auditor: the fields of its row that
    are reported, the manifest and signature the row holds, whether it has a stored copy
    (and which version), and the custody log's ``signed`` event for it (None: there is none)."""

    id: str
    sha256: str
    size: int
    device: str | None
    officer: str | None
    start: datetime | None
    end: datetime | None
    manifest: bytes | None
    signature: bytes | None
    stored: bool
    version_id: str | None
    signed_event: CustodyEvent | None


def manifest_problems(rec: SignedRecording, trust: TrustAnchors) -> list[str]:
    """Signature, binding by the log, and the row against the signed manifest."""
    event = rec.signed_event
    if event is None:
        return ["the custody log has no 'signed' event for it"]
    if rec.manifest is None or rec.signature is None:
        return [f"the log's 'signed' event (seq {event.seq}) has no manifest and signature in the database"]
    problems: list[str] = []
    bound = (event.fields.get("details") or {}).get(MANIFEST_SHA256)
    found = hashlib.sha256(rec.manifest).hexdigest()
    if bound is None:
        problems.append(
            f"the 'signed' event (seq {event.seq}) carries no manifest SHA-256, so the log does not bind "
            "this manifest (signed by a recorder-sync older than the auditor's checks)"
        )
    elif bound != found:
        problems.append(
            f"the database's manifest (sha256 {found}) is not the one the log's 'signed' event "
            f"(seq {event.seq}) bound (sha256 {bound})"
        )
    try:
        signed_at = parse_lenient(str(event.fields.get("at")))
        if signed_at.tzinfo is None:
            raise ValueError("no UTC offset")
    except ValueError as e:
        return [*problems, f"the 'signed' event (seq {event.seq}) has no usable time: {e}"]
    try:
        fields = trust.verify_manifest(rec.manifest, rec.signature, signed_at)
    except SignatureInvalid as e:
        # fields of a manifest that does not verify prove nothing: not compared
        return [*problems, str(e)]
    return problems + row_differences(rec, fields)


def row_differences(rec: SignedRecording, manifest: dict[str, Any]) -> list[str]:
    """The reported fields of the row that differ from the signed manifest's."""
    out: list[str] = []
    if manifest.get("recording_id") != rec.id:
        out.append(f"the signed manifest is for recording {manifest.get('recording_id')!r}")
    for name in _TOP_FIELDS:
        if manifest.get(name) != getattr(rec, name):
            out.append(_differs(name, getattr(rec, name), manifest.get(name)))
    metadata = manifest.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    for name in _METADATA_FIELDS:
        entry = metadata.get(name)
        signed = entry.get("value") if isinstance(entry, dict) else None
        row = getattr(rec, name)
        if name in _TIME_FIELDS:
            if _time_or_text(signed) != row:
                out.append(_differs(name, utc_iso(row) if row else None, signed))
        elif (None if signed is None else str(signed)) != row:
            out.append(_differs(name, row, signed))
    return out


def _time_or_text(value: Any) -> datetime | str | None:
    if not isinstance(value, str):
        return value  # type: ignore[no-any-return]
    try:
        return parse_lenient(value)
    except ValueError:
        return value


def _differs(name: str, row: Any, signed: Any) -> str:
    return f"the database's {name} {row!r} differs from the signed manifest's {signed!r}"


def stored_bytes_problem(in_database: bytes, stored: bytes | None) -> str | None:
    """The store's copy of a manifest or signature against the database's."""
    if stored is None:
        return "missing from the store"
    if stored != in_database:
        return (
            f"the stored bytes (sha256 {hashlib.sha256(stored).hexdigest()}) differ from "
            f"the database's (sha256 {hashlib.sha256(in_database).hexdigest()})"
        )
    return None


def object_problem(obj: StoredObject | None, size: int, version_id: str | None) -> str | None:
    """Existence, size and version of a stored object (``metadata`` level).  The version
    a reader gets (the latest) must be the one stored: a newer one replaced the evidence."""
    if obj is None:
        return "missing from the store (deleted?)"
    if obj.size != size:
        return f"{obj.size} bytes stored, {size} expected (replaced?)"
    if version_id is not None and obj.version_id != version_id:
        return (
            f"the latest version is {obj.version_id or 'unversioned'}, not the stored "
            f"version {version_id} (replaced by other bytes?)"
        )
    return None


def lock_problem(obj: StoredObject, now: datetime) -> str | None:
    """An S3 object the station stored must be under COMPLIANCE retention (or a legal hold)
    that has not run out: otherwise it could be overwritten or deleted."""
    if obj.legal_hold:
        return None
    if obj.lock_mode != COMPLIANCE or obj.retain_until is None:
        return f"not under COMPLIANCE retention (lock mode {obj.lock_mode or 'none'})"
    if obj.retain_until <= now:
        return f"its retention ran out at {utc_iso(obj.retain_until)}; it can be deleted"
    return None


def sample_size(total: int, requested: int | None) -> int:
    """How many objects ``sample`` re-hashes: ``--sample N``, else 1 % but at least 10."""
    wanted = (
        requested if requested is not None else max(SAMPLE_AT_LEAST, math.ceil(total * SAMPLE_PERCENT / 100))
    )
    return max(0, min(total, wanted))


def choose_sample(items: Sequence[T], n: int, rng: random.Random) -> list[T]:
    """``n`` items drawn by ``rng`` (the service passes an unpredictable one: whoever
    tampers must not know which objects an audit will re-hash)."""
    return rng.sample(list(items), n) if n < len(items) else list(items)
