"""The evidence checks of ``recorder-audit verify`` through fakes: what each level reads, what
is sampled, and what an outage of the store or the database leaves unchecked (exit 4)."""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fakes import MemoryEvidenceRecords, MemoryStore

from recorder_sync.domain import layout
from recorder_sync.domain.audit import AuditResult
from recorder_sync.domain.custody import GENESIS, EventKind, make_event, signed_details
from recorder_sync.domain.errors import StorageUnavailable
from recorder_sync.domain.evidence_audit import Level, SignedRecording
from recorder_sync.domain.manifest import ManifestInput, build_manifest
from recorder_sync.domain.model import Sourced
from recorder_sync.domain.ports import EvidenceReader
from recorder_sync.domain.signatures import key_id
from recorder_sync.domain.trust import StationKey, TrustAnchors
from recorder_sync.services.evidence_audit import EvidenceAudit

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
KID = key_id(KEY.public_key())
PEM = KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
TRUST = TrustAnchors((), (StationKey(KID, "st-1", PEM, NOW - timedelta(days=30)),))


def signed_recording(n: int, store: MemoryStore, *, signed_at: datetime = NOW) -> SignedRecording:
    data = f"recording {n}".encode() * 100
    sha = hashlib.sha256(data).hexdigest()
    start = NOW - timedelta(hours=n + 1)
    rid = f"rec-{sha[:16]}"
    manifest = build_manifest(
        ManifestInput(
            recording_id=rid,
            sha256=sha,
            size=len(data),
            original_name=f"f{n}.mp4",
            station="st-1",
            dock="d",
            ingested_at=NOW,
            software="test",
            key_id=KID,
            media={},
            metadata={
                "device": Sourced("CAM-1", "filename"),
                "officer": Sourced("031245", "filename"),
                "start": Sourced(start, "filename"),
                "end": Sourced(start + timedelta(minutes=5), "filename"),
            },
        )
    )
    signature = KEY.sign(manifest)
    store.objects[layout.media_key(sha)] = data
    store.objects[layout.manifest_key(sha)] = manifest
    store.objects[layout.signature_key(sha)] = signature
    event = make_event(
        seq=n + 1,
        prev_hash=GENESIS,
        at=signed_at,
        action=EventKind.SIGNED,
        actor="t",
        station="st-1",
        recording_id=rid,
        details=signed_details(KID, manifest),
    )
    return SignedRecording(
        id=rid,
        sha256=sha,
        size=len(data),
        device="CAM-1",
        officer="031245",
        start=start,
        end=start + timedelta(minutes=5),
        manifest=manifest,
        signature=signature,
        stored=True,
        version_id=None,
        signed_event=event,
    )


def station(n: int) -> tuple[MemoryEvidenceRecords, MemoryStore]:
    store = MemoryStore()
    return MemoryEvidenceRecords([signed_recording(i, store) for i in range(n)]), store


def audit(
    records: MemoryEvidenceRecords,
    store: MemoryStore,
    level: Level,
    *,
    sample: int | None = None,
    since: datetime | None = None,
    seed: int = 1,
) -> AuditResult:
    result = AuditResult()
    reader: EvidenceReader = store
    EvidenceAudit(records, lambda: reader, TRUST, lambda: NOW, rng=random.Random(seed)).run(
        result, level, sample=sample, since=since
    )
    return result


@pytest.mark.parametrize("level", list(Level))
def test_an_untouched_station_verifies(level: Level) -> None:
    records, store = station(12)
    result = audit(records, store, level)
    assert result.exit_code == 0 and result.problems == [] and result.unchecked == []
    assert result.checked["recordings"] == 12 and result.checked["objects"] == 36
    assert result.checked["rehashed"] == {Level.METADATA: 0, Level.SAMPLE: 10, Level.FULL: 12}[level]


def test_sample_rehashes_at_least_ten_or_what_is_asked_and_finds_damage_only_when_drawn() -> None:
    records, store = station(30)
    assert audit(records, store, Level.SAMPLE).checked["rehashed"] == 10  # 1 % of 30 is less than 10
    assert audit(records, store, Level.SAMPLE, sample=25).checked["rehashed"] == 25
    damaged = records.recordings[7]
    store.damage(layout.media_key(damaged.sha256))
    assert audit(records, store, Level.METADATA).exit_code == 0  # same size: only a re-hash tells
    found = {seed: audit(records, store, Level.SAMPLE, sample=1, seed=seed).exit_code for seed in range(40)}
    assert set(found.values()) == {0, 3}, "a sample of one holds the damaged object only sometimes"
    result = audit(records, store, Level.FULL)
    assert [(p.check, p.subject) for p in result.problems] == [("object", f"recording:{damaged.id}")]
    assert "re-hash failed: expected sha256" in result.problems[0].reason


def test_store_down_leaves_the_manifests_checked_and_the_objects_unchecked() -> None:
    records, store = station(3)
    store.available = False
    result = audit(records, store, Level.FULL)
    assert result.exit_code == 4 and result.problems == []
    assert [(p.check, p.subject) for p in result.unchecked] == [("store", "objects")]
    assert "3 recording(s) were not checked" in result.unchecked[0].reason
    assert result.checked["recordings"] == 3 and result.checked["objects"] == 0


def test_store_that_cannot_be_opened_is_unchecked_not_a_problem() -> None:
    records, _ = station(2)

    def down() -> EvidenceReader:
        raise StorageUnavailable("no vault at /mnt/evidence")

    result = AuditResult()
    EvidenceAudit(records, down, TRUST, lambda: NOW).run(result, Level.SAMPLE)
    assert result.exit_code == 4 and "no vault at /mnt/evidence" in result.unchecked[0].reason


def test_database_down_midway_says_from_where_nothing_was_checked() -> None:
    records, store = station(4)
    records.down_after = 2
    result = audit(records, store, Level.METADATA)
    assert result.exit_code == 4 and result.checked["recordings"] == 2
    second = sorted(r.id for r in records.recordings)[1]
    assert result.unchecked[0].check == "database" and f"after {second}" in result.unchecked[0].reason


def test_writable_object_and_orphan_signed_event_are_problems() -> None:
    records, store = station(2)
    rec = records.recordings[0]
    store.writable.add(layout.signature_key(rec.sha256))
    orphan = replace(records.recordings[1], id="rec-gone").signed_event
    assert orphan is not None
    records.orphans.append(orphan)
    result = audit(records, store, Level.METADATA)
    assert result.exit_code == 3
    assert [(p.check, p.reason) for p in result.problems] == [
        ("object", f"signature {layout.signature_key(rec.sha256)}: writable"),
        (
            "manifest",
            f"the log's 'signed' event (seq {orphan.seq}) names a recording the database does not have",
        ),
    ]


def test_a_recording_not_stored_yet_has_no_objects_to_check() -> None:
    records, store = station(1)
    rec = records.recordings[0]
    for key in list(store.objects):
        store.lose(key)
    records.recordings[0] = replace(rec, stored=False)
    result = audit(records, store, Level.FULL)
    assert result.exit_code == 0 and result.checked["objects"] == 0


def test_since_limits_to_recordings_signed_since_then() -> None:
    store = MemoryStore()
    old = signed_recording(0, store, signed_at=NOW - timedelta(days=2))
    new = signed_recording(1, store)
    records = MemoryEvidenceRecords([old, new])
    result = audit(records, store, Level.METADATA, since=NOW - timedelta(days=1))
    assert result.checked["recordings"] == 1
