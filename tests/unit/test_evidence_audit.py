"""The pure decisions of ``recorder-audit verify`` about manifests and stored objects."""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from recorder_sync.domain.canonical import canonical_bytes
from recorder_sync.domain.custody import GENESIS, EventKind, make_event, signed_details
from recorder_sync.domain.evidence_audit import (
    SignedRecording,
    choose_sample,
    lock_problem,
    manifest_problems,
    object_problem,
    sample_size,
    stored_bytes_problem,
)
from recorder_sync.domain.model import StoredObject
from recorder_sync.domain.signatures import key_id
from recorder_sync.domain.trust import StationKey, TrustAnchors

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
START = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
KID = key_id(KEY.public_key())
PEM = KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
TRUST = TrustAnchors((), (StationKey(KID, "st-1", PEM, NOW - timedelta(days=1)),))


def recording(**fields: object) -> SignedRecording:
    manifest = canonical_bytes(
        {
            "recording_id": "rec-1",
            "sha256": "ab" * 32,
            "size": 10,
            "key_id": KID,
            "metadata": {
                "device": {"value": "CAM-1", "source": "filename"},
                "officer": {"value": "031245", "source": "filename"},
                "start": {"value": START.isoformat(), "source": "filename"},
                "end": {"value": (START + timedelta(minutes=5)).isoformat(), "source": "filename"},
            },
        }
    )
    event = make_event(
        seq=5,
        prev_hash=GENESIS,
        at=NOW,
        action=EventKind.SIGNED,
        actor="t",
        station="st-1",
        recording_id="rec-1",
        details=signed_details(KID, manifest),
    )
    rec = SignedRecording(
        "rec-1", "ab" * 32, 10, "CAM-1", "031245", START, START + timedelta(minutes=5),
        manifest, KEY.sign(manifest), True, None, event,
    )  # fmt: skip
    return replace(rec, **fields)  # type: ignore[arg-type]


def test_a_signed_bound_and_equal_recording_has_no_problem() -> None:
    assert manifest_problems(recording(), TRUST) == []


@pytest.mark.parametrize(
    "change, words",
    [
        ({"officer": "999999"}, "officer '999999' differs from the signed manifest's '031245'"),
        ({"device": None}, "device None differs from the signed manifest's 'CAM-1'"),
        ({"start": START - timedelta(hours=8)}, "start '2026-11-26T16:30:00+00:00' differs"),
        ({"end": None}, "end None differs"),
        ({"size": 11}, "size 11 differs from the signed manifest's 10"),
        ({"sha256": "cd" * 32}, "sha256"),
        ({"id": "rec-2"}, "the signed manifest is for recording 'rec-1'"),
    ],
)
def test_each_reported_field_is_held_to_the_signed_manifest(change: dict[str, object], words: str) -> None:
    found = manifest_problems(recording(**change), TRUST)
    assert len(found) == 1 and words in found[0], found


def test_the_log_must_bind_the_manifest() -> None:
    rec = recording()
    assert rec.signed_event is not None and rec.manifest is not None
    other = canonical_bytes({"recording_id": "rec-1", "key_id": KID})
    unbound = replace(rec, manifest=other, signature=KEY.sign(other))
    found = manifest_problems(unbound, TRUST)
    assert any("is not the one the log's 'signed' event (seq 5) bound" in p for p in found), found
    no_hash = make_event(
        seq=5, prev_hash=GENESIS, at=NOW, action=EventKind.SIGNED, actor="t", station="st-1",
        recording_id="rec-1", details={"key_id": KID},
    )  # fmt: skip
    assert any(
        "carries no manifest SHA-256" in p
        for p in manifest_problems(replace(rec, signed_event=no_hash), TRUST)
    )
    assert manifest_problems(replace(rec, signed_event=None), TRUST) == [
        "the custody log has no 'signed' event for it"
    ]
    assert (
        "no manifest and signature in the database"
        in manifest_problems(replace(rec, manifest=None), TRUST)[0]
    )


def test_signature_by_an_untrusted_key_or_outside_the_window_fails_and_fields_are_not_compared() -> None:
    found = manifest_problems(recording(officer="999999"), TrustAnchors((), ()))
    assert found == [f"Signature does not verify for {KID}: not a key of the trust anchors"]
    late = TrustAnchors((), (StationKey(KID, "st-1", PEM, NOW - timedelta(days=2), NOW - timedelta(days=1)),))
    assert "after its validity ended" in manifest_problems(recording(), late)[0]
    bad = recording(signature=b"x" * 64)
    assert "signature does not match the data" in manifest_problems(bad, TRUST)[0]


def test_objects_exist_with_their_size_and_version() -> None:
    obj = StoredObject("k", "s3://b/k", 10, version_id="v1")
    assert object_problem(obj, 10, "v1") is None
    assert object_problem(obj, 10, None) is None  # the vault keeps no versions
    assert object_problem(None, 10, "v1") == "missing from the store (deleted?)"
    assert object_problem(obj, 11, "v1") == "10 bytes stored, 11 expected (replaced?)"
    assert "the latest version is v1, not the stored version v0" in (object_problem(obj, 10, "v0") or "")


def test_stored_bytes_equal_the_database() -> None:
    assert stored_bytes_problem(b"m", b"m") is None
    assert stored_bytes_problem(b"m", None) == "missing from the store"
    assert hashlib.sha256(b"x").hexdigest() in (stored_bytes_problem(b"m", b"x") or "")


def test_lock_is_compliance_retention_that_has_not_run_out_or_a_legal_hold() -> None:
    locked = StoredObject("k", "u", 1, lock_mode="COMPLIANCE", retain_until=NOW + timedelta(days=1))
    assert lock_problem(locked, NOW) is None
    assert "not under COMPLIANCE retention (lock mode GOVERNANCE)" in (
        lock_problem(replace(locked, lock_mode="GOVERNANCE"), NOW) or ""
    )
    assert "lock mode none" in (lock_problem(replace(locked, lock_mode=None), NOW) or "")
    assert "ran out" in (lock_problem(locked, NOW + timedelta(days=2)) or "")
    assert lock_problem(replace(locked, lock_mode=None, legal_hold=True), NOW) is None


@pytest.mark.parametrize(
    "total, requested, expected",
    [(0, None, 0), (5, None, 5), (100, None, 10), (1000, None, 10), (1001, None, 11), (5000, None, 50),
     (5000, 3, 3), (5, 30, 5)],
)  # fmt: skip
def test_sample_size_is_one_percent_at_least_ten_or_what_is_asked(
    total: int, requested: int | None, expected: int
) -> None:
    assert sample_size(total, requested) == expected


def test_choose_sample_draws_distinct_items_with_the_given_randomness() -> None:
    items = list(range(100))
    drawn = choose_sample(items, 10, random.Random(3))
    assert len(set(drawn)) == 10 and set(drawn) <= set(items)
    assert drawn == choose_sample(items, 10, random.Random(3))
    assert choose_sample(items, 100, random.Random(3)) == items
