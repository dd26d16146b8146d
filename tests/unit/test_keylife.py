"""A key's life: when a revocation may take effect, and what keys list says of each key."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from recorder_sync.domain.keylife import LogKeyInfo, listing, revocation_problem
from recorder_sync.domain.signatures import key_id
from recorder_sync.domain.trust import StationKey

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "problem"),
    [
        (NOW, None),
        (NOW - timedelta(days=400), None),
        (NOW + timedelta(seconds=60), None),  # clocks differ a little
        (NOW + timedelta(seconds=61), "in the future"),
        (datetime(1999, 12, 31, tzinfo=UTC), "outside the plausible range"),
        (datetime(2100, 1, 2, tzinfo=UTC), "outside the plausible range"),
    ],
)
def test_a_revocation_takes_effect_now_or_in_the_plausible_past(at: datetime, problem: str | None) -> None:
    found = revocation_problem(at, NOW)
    assert (found is None) if problem is None else (found is not None and problem in found)


def _key(private: Ed25519PrivateKey, **fields: object) -> StationKey:
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return replace(StationKey(key_id(private.public_key()), "st-1", pem, NOW - timedelta(days=90)), **fields)


def test_the_listing_says_status_revocation_and_who_signed_each_rotation() -> None:
    a, b, c, d = (Ed25519PrivateKey.generate() for _ in range(4))
    t1, t2, t3 = (NOW - timedelta(days=n) for n in (60, 30, 10))
    first = _key(a, valid_until=t1)
    signed = _key(
        b, valid_from=t1, valid_until=t2, previous_key_id=first.key_id, rotation_signature=b"s" * 64
    )
    lost = _key(
        c, valid_from=t2, valid_until=t3, previous_key_id=signed.key_id, revoked_at=t2 + timedelta(days=1)
    )
    after_revoked = _key(d, valid_from=t3, previous_key_id=lost.key_id)
    rows = listing(
        [first, signed, lost, after_revoked],
        {lost.key_id: "laptop stolen"},
        [LogKeyInfo("recorder-sync/st-1", "ed25519:00aa")],
    )
    shown = [(r["kind"], r["status"], r["rotation_signed_by"], r["revoke_reason"]) for r in rows]
    assert shown == [
        ("log", "current", None, None),
        ("station", "retired", None, None),
        ("station", "retired", first.key_id, None),
        ("station", "revoked", "old key unavailable", "laptop stolen"),
        ("station", "current", "old key unavailable (revoked)", None),
    ]
    assert rows[0]["origin"] == "recorder-sync/st-1" and rows[0]["key_id"] == "ed25519:00aa"
    assert rows[3]["revoked_at"] == "2026-11-01T03:00:00+00:00"
    assert rows[2]["rotation_signature"] is not None and rows[3]["rotation_signature"] is None
