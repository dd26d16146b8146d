"""The custody log: append-only events, each one hash-linked to the one before.

Each event is canonical JSON (``body``), stored as produced. Its leaf hash follows
RFC 9162 (``SHA-256(0x00 || body)``) so the same hashes feed the Merkle tree and
signed checkpoints; ``prev`` inside the body links it to the previous leaf hash,
so deleting, reordering or editing any event breaks the chain at that point.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recorder_sync.domain.canonical import canonical_bytes, parse
from recorder_sync.domain.errors import CustodyChainBroken
from recorder_sync.domain.times import utc_iso

GENESIS = "0" * 64


class EventKind(enum.StrEnum):
    """What happened, as written in a custody event; the values are in signed bytes, so never change them."""

    DISCOVERED = "discovered"
    STABLE = "stable"
    HASHED = "hashed"
    DUPLICATE_SEEN = "duplicate-seen"
    PROBED = "probed"
    SIGNED = "signed"
    STORED = "stored"
    VERIFIED = "verified"
    RELEASED = "released"
    KEPT = "kept"
    REJECTED = "rejected"
    GONE = "gone"
    FAILED = "failed"
    FLAGGED = "flagged"
    FLAG_RESOLVED = "flag-resolved"
    LINKED = "linked"
    UNLINKED = "unlinked"
    LEGAL_HOLD = "legal-hold"
    LEGAL_HOLD_RELEASED = "legal-hold-released"
    ACCESSED = "accessed"
    EXPORTED = "exported"
    ACTION_IMPORTED = "action-imported"  # an enforcement action added or changed
    CHECKOUT_IMPORTED = "checkout-imported"  # a device-ledger line added or changed
    DOCKED = "docked"  # a device seen at a dock, with its clock when it exposes one
    FLAG_UPDATED = "flag-updated"  # an open flag's severity or detail changed
    INTEGRITY_FAILURE = "integrity-failure"  # a verified stored copy failed a later check
    RESTORED = "restored"  # a damaged or missing stored copy stored again from a dock copy
    KEY_REPLACED = "key-replaced"  # an operator retired the station key for a new one
    SEARCHED = "searched"  # a replay search or timeline: who and what query (metadata only)
    ROSTER_IMPORTED = "roster-imported"  # a replay roster entry added or changed
    LOG_ACKNOWLEDGED = "log-acknowledged"  # an operator accepted a log that lost published events
    TIMESTAMPED = "timestamped"  # a published checkpoint got its RFC 3161 token (and the clock drift)
    KEY_REVOKED = "key-revoked"  # an operator declared a key's signatures invalid from a time on
    LOG_KEY_ROTATED = "log-key-rotated"  # an operator replaced the log key (signed by the old one)
    DERIVED = "derived"  # a derived file (export, frames, mosaic) stored as evidence, linked to its sources
    ACCESS_REFUSED = "access-refused"  # a replay command refused: who, what was asked, the role needed


@dataclass(frozen=True)
class CustodyEvent:
    seq: int
    body: bytes
    leaf_hash: str

    @property
    def fields(self) -> dict[str, Any]:
        value: dict[str, Any] = parse(self.body)
        return value

    @property
    def prev(self) -> str:
        return str(self.fields["prev"])


@dataclass(frozen=True)
class IndexedEvent(CustodyEvent):
    """An event as a database row: its bytes, and the columns the database finds it by
    (copies of fields of those bytes, kept for queries). Every check that selects events by
    a column (the ``signed`` event of a recording, the ``derived`` events, ``--since``)
    trusts them, so the auditor holds them to the bytes."""

    action: str = ""
    recording_id: str | None = None
    at: datetime | None = None

    def index_problem(self) -> str | None:
        """How the columns disagree with the event's own bytes; None when they agree (or when
        the bytes cannot be read: that is reported as an edit of the bytes)."""
        try:
            fields = parse(self.body)
        except ValueError:
            return None
        if not isinstance(fields, dict):
            return None
        differ = [
            f"{name} {column!r} (its bytes say {said!r})"
            for name, column, said in (
                ("action", self.action, fields.get("action")),
                ("recording_id", self.recording_id, fields.get("recording_id")),
                ("at", utc_iso(self.at) if self.at is not None else None, fields.get("at")),
            )
            if column != said
        ]
        if not differ:
            return None
        return "the row's columns disagree with its bytes: " + "; ".join(differ) + ": the row was edited"


def leaf_hash(body: bytes) -> str:
    return hashlib.sha256(b"\x00" + body).hexdigest()


def make_event(
    *,
    seq: int,
    prev_hash: str,
    at: datetime,
    action: EventKind,
    actor: str,
    station: str,
    recording_id: str | None = None,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> CustodyEvent:
    doc: dict[str, Any] = {
        "seq": seq,
        "prev": prev_hash,
        "at": utc_iso(at),
        "action": action.value,
        "actor": actor,
        "station": station,
    }
    if recording_id is not None:
        doc["recording_id"] = recording_id
    if subject is not None:
        doc["subject"] = subject
    if details:
        doc["details"] = dict(details)
    if reason is not None:
        doc["reason"] = reason
    body = canonical_bytes(doc)
    return CustodyEvent(seq=seq, body=body, leaf_hash=leaf_hash(body))


def verify_chain(events: Iterable[CustodyEvent], *, start_seq: int = 1, start_prev: str = GENESIS) -> int:
    """Check a run of events in order; returns how many were checked."""
    expected_seq, expected_prev, count = start_seq, start_prev, 0
    for ev in events:
        if leaf_hash(ev.body) != ev.leaf_hash:
            raise CustodyChainBroken(ev.seq, "stored hash does not match the event's bytes")
        fields = ev.fields
        if fields.get("seq") != ev.seq or ev.seq != expected_seq:
            raise CustodyChainBroken(ev.seq, f"expected sequence number {expected_seq}")
        if fields.get("prev") != expected_prev:
            raise CustodyChainBroken(ev.seq, "does not link to the previous event (deleted or reordered)")
        expected_seq, expected_prev, count = ev.seq + 1, ev.leaf_hash, count + 1
    return count


MANIFEST_SHA256 = "manifest_sha256"
"""The ``signed`` event's detail that binds the manifest: the log then commits to the exact
manifest bytes, so a manifest swapped later (even one with a valid signature) is caught."""


def signed_details(key_id: str, manifest: bytes) -> dict[str, str]:
    """The details of a recording's ``signed`` event."""
    return {"key_id": key_id, MANIFEST_SHA256: hashlib.sha256(manifest).hexdigest()}
