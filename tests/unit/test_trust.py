"""Trust anchors: only keys the auditor was given, only inside their windows."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder_sync.domain.canonical import canonical_bytes
from recorder_sync.domain.checkpoint import NoteKey
from recorder_sync.domain.errors import SignatureInvalid, UsageError
from recorder_sync.domain.signatures import key_id
from recorder_sync.domain.trust import StationKey, TrustAnchors

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _station_key(private: Ed25519PrivateKey, **window: datetime | None) -> StationKey:
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return StationKey(
        key_id(private.public_key()), "station-7", pem, window.pop("valid_from", None) or T0, **window
    )


def _anchors(*keys: StationKey) -> TrustAnchors:
    log = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return TrustAnchors((NoteKey("recorder-sync/station-7", log),), keys)


def _manifest(private: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    m = canonical_bytes(
        {"recording_id": "rec-1", "key_id": key_id(private.public_key()), "sha256": "ab" * 32}
    )
    return m, private.sign(m)


def test_round_trip_through_the_file() -> None:
    a, b = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    anchors = _anchors(
        _station_key(a, valid_until=T0 + timedelta(days=30)),
        _station_key(b, valid_from=T0 + timedelta(days=30), revoked_at=T0 + timedelta(days=60)),
    )
    assert TrustAnchors.from_json(anchors.to_json()) == anchors


def test_a_manifest_verifies_only_by_a_trusted_key_inside_its_window() -> None:
    old, new, rogue = (Ed25519PrivateKey.generate() for _ in range(3))
    rotated = T0 + timedelta(days=30)
    anchors = _anchors(
        _station_key(old, valid_until=rotated),
        _station_key(new, valid_from=rotated, revoked_at=T0 + timedelta(days=60)),
    )
    manifest, sig = _manifest(old)
    assert anchors.verify_manifest(manifest, sig, T0 + timedelta(days=1))["recording_id"] == "rec-1"
    with pytest.raises(SignatureInvalid, match="after its validity ended"):
        anchors.verify_manifest(manifest, sig, rotated)
    with pytest.raises(SignatureInvalid, match="before its validity began"):
        anchors.verify_manifest(manifest, sig, T0 - timedelta(seconds=1))
    manifest, sig = _manifest(new)
    anchors.verify_manifest(manifest, sig, rotated + timedelta(days=1))
    with pytest.raises(SignatureInvalid, match="after it was revoked"):
        anchors.verify_manifest(manifest, sig, T0 + timedelta(days=61))
    # a key that only the station's database knows (added there by whoever could write it)
    manifest, sig = _manifest(rogue)
    with pytest.raises(SignatureInvalid, match="not a key of the trust anchors"):
        anchors.verify_manifest(manifest, sig, T0 + timedelta(days=1))
    # a trusted key's signature over other bytes
    manifest, sig = _manifest(old)
    with pytest.raises(SignatureInvalid, match="does not match"):
        anchors.verify_manifest(manifest.replace(b"rec-1", b"rec-2"), sig, T0 + timedelta(days=1))


def test_a_key_whose_id_does_not_match_its_public_key_is_refused() -> None:
    a, b = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    doc = json.loads(_anchors(_station_key(a)).to_json())
    doc["station_keys"][0]["key_id"] = key_id(b.public_key())
    with pytest.raises(UsageError, match="does not match its public key"):
        TrustAnchors.from_json(json.dumps(doc).encode())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b'{"type": "other"}',
        b'{"type": "recorder_sync.trust/v1", "log_keys": "x", "station_keys": []}',
        b'{"type": "recorder_sync.trust/v1", "log_keys": ["nobody+00+AA"], "station_keys": []}',
        b'{"type": "recorder_sync.trust/v1", "log_keys": [], "station_keys": [{"key_id": 1}]}',
        b"\xff",
        b"[" * 100_000,
    ],
)
def test_unusable_trust_files_are_usage_errors(data: bytes) -> None:
    with pytest.raises(UsageError, match="not usable trust anchors"):
        TrustAnchors.from_json(data, "trust.json")


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_any_json_is_anchors_or_a_usage_error(value: object) -> None:
    doc = {"type": "recorder_sync.trust/v1", "log_keys": [], "station_keys": [value]}
    with pytest.raises(UsageError):
        TrustAnchors.from_json(json.dumps(doc).encode())


def _rotated(
    old: Ed25519PrivateKey, new: Ed25519PrivateKey, at: datetime, valid_until: datetime | None = None
) -> StationKey:
    """``new`` replacing ``old`` at ``at``, signed by ``old`` (the rotation statement)."""
    raw = new.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return replace(
        _station_key(new, valid_from=at, valid_until=valid_until),
        previous_key_id=key_id(old.public_key()),
        rotation_signature=old.sign(raw),
    )


def test_a_chain_of_three_keys_round_trips_and_each_rotation_verifies() -> None:
    a, b, c = (Ed25519PrivateKey.generate() for _ in range(3))
    t1, t2 = T0 + timedelta(days=30), T0 + timedelta(days=60)
    first = _station_key(a, valid_until=t1)
    second = _rotated(a, b, t1, valid_until=t2)
    third = _rotated(b, c, t2)
    anchors = _anchors(first, second, third)
    back = TrustAnchors.from_json(anchors.to_json())
    assert back == anchors
    assert [k.previous_key_id for k in back.station_keys] == [None, first.key_id, second.key_id]
    second.check_rotation(first)
    third.check_rotation(second)
    with pytest.raises(SignatureInvalid, match=f"rotation of {first.key_id} to {third.key_id}"):
        third.check_rotation(first)


@pytest.mark.parametrize("forgery", ["signed-by-another-key", "signature-of-other-bytes", "flipped-bit"])
def test_a_forged_rotation_signature_refuses_the_file(forgery: str) -> None:
    a, b, c, rogue = (Ed25519PrivateKey.generate() for _ in range(4))
    t1, t2 = T0 + timedelta(days=30), T0 + timedelta(days=60)
    doc = json.loads(
        _anchors(
            _station_key(a, valid_until=t1), _rotated(a, b, t1, valid_until=t2), _rotated(b, c, t2)
        ).to_json()
    )
    raw_c = c.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    genuine = base64.b64decode(doc["station_keys"][2]["rotation_signature"])
    forged = {
        "signed-by-another-key": rogue.sign(raw_c),
        "signature-of-other-bytes": b.sign(raw_c[::-1]),
        "flipped-bit": bytes([genuine[0] ^ 1]) + genuine[1:],
    }[forgery]
    doc["station_keys"][2]["rotation_signature"] = base64.b64encode(forged).decode()
    with pytest.raises(UsageError, match=r"rotation of .* does not match"):
        TrustAnchors.from_json(json.dumps(doc).encode())


def test_a_rotation_whose_old_key_was_lost_or_is_not_in_the_file() -> None:
    a, b, c = (Ed25519PrivateKey.generate() for _ in range(3))
    t1 = T0 + timedelta(days=30)
    lost = replace(_station_key(b, valid_from=t1), previous_key_id=key_id(a.public_key()))
    # the old key was lost: no signature, and the file says which key it replaced
    anchors = _anchors(_station_key(a, valid_until=t1), lost)
    assert TrustAnchors.from_json(anchors.to_json()) == anchors
    # only the newer keys were handed over: the rotation cannot be checked, the keys are usable
    partial = _anchors(_rotated(b, c, t1))
    assert TrustAnchors.from_json(partial.to_json()) == partial


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rotation_signature": "not base64!"}, "not base64"),
        ({"rotation_signature": "AAAA"}, "3 bytes, not 64"),
        ({"previous_key_id": None}, "names no previous key"),
        ({"previous_key_id": 7}, "previous_key_id must be a non-empty string"),
    ],
)
def test_unusable_rotation_fields_are_usage_errors(change: dict[str, object], message: str) -> None:
    a, b = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    doc = json.loads(_anchors(_station_key(a), _rotated(a, b, T0 + timedelta(days=1))).to_json())
    doc["station_keys"][1].update(change)
    with pytest.raises(UsageError, match=message):
        TrustAnchors.from_json(json.dumps(doc).encode())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("valid_from", "0001-01-01T00:00:00+01:00"),  # year 0 in UTC
        ("valid_until", "9999-12-31T23:59:59-01:00"),  # year 10000 in UTC
        ("revoked_at", "9999-12-31T23:30:00-00:45"),
    ],
)
def test_a_time_outside_what_utc_can_hold_is_refused_when_the_file_is_read(field: str, value: str) -> None:
    """Accepted before and raised OverflowError later, wherever the time was shown in UTC
    (``recorder-audit bundle`` writing keys.json, a message about the key's window)."""
    doc = json.loads(_anchors(_station_key(Ed25519PrivateKey.generate())).to_json())
    doc["station_keys"][0][field] = value
    with pytest.raises(UsageError, match=f"{field} .*out of range"):
        TrustAnchors.from_json(json.dumps(doc).encode(), "trust.json")


def test_the_first_and_last_times_utc_holds_are_kept_in_utc() -> None:
    doc = json.loads(_anchors(_station_key(Ed25519PrivateKey.generate())).to_json())
    doc["station_keys"][0].update(valid_from="0001-01-01T00:00:00Z", valid_until="9999-12-31T23:59:59Z")
    [key] = TrustAnchors.from_json(json.dumps(doc).encode()).station_keys
    assert key.valid_until is not None and key.valid_from.utcoffset() == timedelta(0)
    assert TrustAnchors.from_json(TrustAnchors((), (key,)).to_json()).station_keys == (key,)


def test_a_key_listed_twice_is_refused_so_an_older_entry_cannot_outlive_a_revocation() -> None:
    """An auditor who appends a newer export (the key revoked) to the file kept before (not
    yet revoked): the older entry would still count a signature made after the revocation."""
    private = Ed25519PrivateKey.generate()
    kept = _station_key(private)
    revoked = replace(kept, revoked_at=T0 + timedelta(days=10))
    doc = json.loads(_anchors(kept).to_json())
    doc["station_keys"].append(revoked.to_json_obj())
    with pytest.raises(UsageError, match=f"station key {kept.key_id} is listed twice"):
        TrustAnchors.from_json(json.dumps(doc).encode(), "trust.json")
    manifest, sig = _manifest(private)
    with pytest.raises(SignatureInvalid, match="after it was revoked"):
        _anchors(revoked).verify_manifest(manifest, sig, T0 + timedelta(days=20))
