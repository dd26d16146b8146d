"""Trusted time, the pure parts: the drift a token shows, the limit that raises the flag, a
token no older than its checkpoint's last event, and the trust anchors' time-stamping roots
(files from before them still read)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from tsaserver import make_ca_and_signer

from recorder_sync.domain.checkpoint import NoteKey
from recorder_sync.domain.errors import TimestampInvalid, UsageError
from recorder_sync.domain.layout import checkpoint_key, timestamp_key, timestamp_size
from recorder_sync.domain.timestamps import StampedTime, drift_ms, drift_too_large, not_before
from recorder_sync.domain.trust import TrustAnchors

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
STAMPED = StampedTime(at=T0, accuracy_seconds=None, tsa="CN=tsa", serial=1)


def test_drift_is_the_station_clock_minus_the_authority_time_in_ms() -> None:
    assert drift_ms(T0 + timedelta(seconds=61, milliseconds=500), T0) == 61_500
    assert drift_ms(T0 - timedelta(milliseconds=250), T0) == -250
    assert drift_too_large(60_001) and drift_too_large(-60_001)
    assert not drift_too_large(60_000) and not drift_too_large(-59_999) and not drift_too_large(0)


def test_a_token_is_not_older_than_the_checkpoints_last_event() -> None:
    not_before(STAMPED, T0 - timedelta(seconds=5), "checkpoint 3")
    # OpenSSL's time has no fraction: an event within that second is not "after" the token
    not_before(STAMPED, T0 + timedelta(milliseconds=999), "checkpoint 3")
    with pytest.raises(TimestampInvalid, match="before the checkpoint's last event"):
        not_before(STAMPED, T0 + timedelta(seconds=1), "checkpoint 3")
    accurate = replace(STAMPED, accuracy_seconds=2.0)
    not_before(accurate, T0 + timedelta(seconds=2, milliseconds=500), "checkpoint 3")
    with pytest.raises(TimestampInvalid):
        not_before(accurate, T0 + timedelta(seconds=3), "checkpoint 3")


def test_tokens_lie_beside_their_checkpoints_with_the_same_size_digits() -> None:
    assert timestamp_key("o/s", 42) == checkpoint_key("o/s", 42).replace("/checkpoint/", "/timestamp/")
    assert timestamp_size("o/s", timestamp_key("o/s", 42)) == 42
    assert timestamp_size("o/s", checkpoint_key("o/s", 42)) is None
    assert timestamp_size("o/s", "log/o/s/timestamp/42") is None


def _anchors() -> TrustAnchors:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return TrustAnchors((NoteKey("recorder-sync/st-1", raw),), ())


def test_time_stamping_roots_round_trip_and_older_files_still_read(tmp_path: Path) -> None:
    make_ca_and_signer(tmp_path)
    root = (tmp_path / "root.crt").read_bytes()
    anchors = replace(_anchors(), tsa_roots=(root,))
    back = TrustAnchors.from_json(anchors.to_json())
    assert back == anchors and back.tsa_roots == (root,)
    doc = json.loads(anchors.to_json())
    del doc["tsa_roots"]  # written before time-stamping
    assert TrustAnchors.from_json(json.dumps(doc).encode()).tsa_roots == ()


@pytest.mark.parametrize("roots", ["not a list", ["no certificate"], [""], [5]])
def test_unusable_time_stamping_roots_are_usage_errors(roots: object) -> None:
    doc = json.loads(_anchors().to_json())
    doc["tsa_roots"] = roots
    with pytest.raises(UsageError, match="not usable trust anchors"):
        TrustAnchors.from_json(json.dumps(doc).encode())
