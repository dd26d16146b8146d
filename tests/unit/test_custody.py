from __future__ import annotations

from datetime import UTC, datetime

import pytest

from recorder_sync.domain.custody import GENESIS, CustodyEvent, EventKind, leaf_hash, make_event, verify_chain
from recorder_sync.domain.errors import CustodyChainBroken

T = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def chain(n: int) -> list[CustodyEvent]:
    events: list[CustodyEvent] = []
    prev = GENESIS
    for i in range(1, n + 1):
        ev = make_event(
            seq=i, prev_hash=prev, at=T, action=EventKind.HASHED, actor="a", station="s", recording_id=f"r{i}"
        )
        events.append(ev)
        prev = ev.leaf_hash
    return events


def test_intact_chain_verifies() -> None:
    assert verify_chain(chain(5)) == 5


def test_leaf_hash_is_rfc9162_leaf() -> None:
    ev = chain(1)[0]
    import hashlib

    assert ev.leaf_hash == hashlib.sha256(b"\x00" + ev.body).hexdigest() == leaf_hash(ev.body)


def test_body_is_canonical_json_with_fields() -> None:
    ev = chain(1)[0]
    assert ev.body.startswith(b'{"action":"hashed","actor":"a","at":"2026-11-27T01:00:00+00:00"')
    assert ev.fields["prev"] == GENESIS and ev.fields["recording_id"] == "r1"


def test_event_kind_values_are_the_signed_words() -> None:
    # The values are inside signed, hash-chained event bodies: renaming the enum must never
    # change them, or old chains would no longer read back as the same kinds.
    assert [k.value for k in EventKind] == [
        "discovered", "stable", "hashed", "duplicate-seen", "probed", "signed", "stored", "verified",
        "released", "kept", "rejected", "gone", "failed", "flagged", "flag-resolved", "linked",
        "unlinked", "legal-hold", "legal-hold-released", "accessed", "exported", "action-imported",
        "checkout-imported", "docked", "flag-updated", "integrity-failure", "restored", "key-replaced",
        "searched", "roster-imported", "log-acknowledged", "timestamped", "key-revoked", "log-key-rotated",
        "derived", "access-refused",
    ]  # fmt: skip


def test_edited_event_is_detected() -> None:
    events = chain(3)
    forged = CustodyEvent(seq=2, body=events[1].body.replace(b'"r2"', b'"rX"'), leaf_hash=events[1].leaf_hash)
    with pytest.raises(CustodyChainBroken, match="event 2: stored hash"):
        verify_chain([events[0], forged, events[2]])


def test_rehashed_edit_breaks_the_link() -> None:
    events = chain(3)
    body = events[1].body.replace(b'"r2"', b'"rX"')
    forged = CustodyEvent(seq=2, body=body, leaf_hash=leaf_hash(body))
    with pytest.raises(CustodyChainBroken, match="event 3: does not link"):
        verify_chain([events[0], forged, events[2]])


def test_deleted_and_reordered_events_are_detected() -> None:
    events = chain(4)
    with pytest.raises(CustodyChainBroken, match="event 3"):
        verify_chain([events[0], events[2], events[3]])
    with pytest.raises(CustodyChainBroken):
        verify_chain([events[1], events[0]])
