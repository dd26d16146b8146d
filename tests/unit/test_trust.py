"""Trust anchors: only keys the auditor was given, only inside their windows."""

from __future__ import annotations

import json
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
