"""The log audit and the recording proofs through the real catalog (SQLite and PostgreSQL) and
the in-memory store: what the auditor remembers, what it cannot check, and proofs that verify
with nothing but the trust anchors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fakes import MemoryStore
from sqlalchemy import delete

from recorder_sync.adapters.audit_state import StateFolder
from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.log_repo import LogRepo
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.db.schema import CustodyEventRow
from recorder_sync.domain.audit import AuditResult
from recorder_sync.domain.checkpoint import NoteKey, TlogProof
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.errors import NotFound, ProofInvalid, SignatureInvalid
from recorder_sync.domain.layout import checkpoint_key
from recorder_sync.domain.trust import TrustAnchors
from recorder_sync.services.checkpoints import CheckpointService
from recorder_sync.services.log_audit import audit_log, check_proof, make_proof

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
ORIGIN = "recorder-sync/st-1"


class Rig:
    def __init__(self, url: str, tmp: Path) -> None:
        engine = make_engine(url)
        upgrade(engine)
        self.catalog = SqlCatalog(engine, station="st-1", actor="test")
        self.log = LogRepo(self.catalog)
        self.store = MemoryStore()
        self.private = Ed25519PrivateKey.generate()
        self.key = NoteKey(ORIGIN, self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        self.trust = TrustAnchors((self.key,), ())
        self.state = StateFolder(tmp / "state")
        self.signer = CheckpointService(
            self.log, self.store, ORIGIN, key=self.key, sign=self.private.sign, clock=lambda: T0
        )

    def append(self, n: int, recording_id: str | None = None, action: EventKind = EventKind.ACCESSED) -> None:
        for i in range(n):
            self.catalog.note(action, T0, recording_id=recording_id, details={"i": i})

    def audit(self) -> AuditResult:
        result = AuditResult()
        audit_log(self.log, self.store, self.trust, self.state, result)
        return result


@pytest.fixture
def rig(db_url: str, tmp_path: Path) -> Rig:
    return Rig(db_url, tmp_path)


def test_a_log_with_events_and_no_checkpoint_is_a_problem(rig: Rig) -> None:
    assert rig.audit().problems == []  # nothing logged, nothing published: nothing wrong
    rig.append(3)
    (problem,) = rig.audit().problems
    assert (problem.check, problem.subject) == ("checkpoint", f"log:{ORIGIN}")
    assert "no signed checkpoint of this log was published for its 3 events" in problem.reason


def test_the_auditor_remembers_only_a_good_log_and_catches_removed_checkpoints(rig: Rig) -> None:
    rig.append(4)
    rig.signer.publish()
    assert rig.audit().exit_code == 0
    assert rig.state.last_verified(ORIGIN) == rig.store.objects[checkpoint_key(ORIGIN, 4)]
    rig.append(3)
    rig.signer.publish()
    rig.store.objects[checkpoint_key(ORIGIN, 4)] = b"garbage\n"
    bad = rig.audit()
    assert [p.subject for p in bad.problems] == ["checkpoint:4"]
    # the state moves on only after a clean audit: this one was not
    assert rig.state.last_verified(ORIGIN) != rig.store.objects[checkpoint_key(ORIGIN, 7)]
    del rig.store.objects[checkpoint_key(ORIGIN, 4)]
    assert rig.audit().exit_code == 0
    assert rig.state.last_verified(ORIGIN) == rig.store.objects[checkpoint_key(ORIGIN, 7)]
    # the later checkpoint removed from the store, the database rolled back to match it: only
    # the auditor's own memory still knows there was a checkpoint of 7
    del rig.store.objects[checkpoint_key(ORIGIN, 7)]
    rig.store.objects[checkpoint_key(ORIGIN, 4)] = _note_of(rig, 4)
    with rig.catalog.transaction() as s:
        s.execute(delete(CustodyEventRow).where(CustodyEventRow.seq > 4))
    result = rig.audit()
    assert any(
        p.subject == "checkpoint:7"
        and "verified a checkpoint of 7 before, but the latest published now is of 4" in p.reason
        for p in result.problems
    ), result.problems


def _note_of(rig: Rig, size: int) -> bytes:
    from recorder_sync.domain.checkpoint import Checkpoint, sign_note

    return sign_note(Checkpoint(ORIGIN, size, rig.log.log_root(size)).text(), rig.key, rig.private.sign)


def test_a_store_that_cannot_be_read_is_could_not_check(rig: Rig) -> None:
    rig.append(2)
    rig.signer.publish()
    rig.store.available = False
    result = rig.audit()
    assert result.problems == [] and result.exit_code == 4
    assert [(p.check, p.subject) for p in result.unchecked] == [("log", f"log:{ORIGIN}")]
    assert rig.state.last_verified(ORIGIN) is None


def test_a_recordings_proof_verifies_with_the_trust_anchors_alone(rig: Rig) -> None:
    rig.append(5)
    rig.append(1, recording_id="rec-1", action=EventKind.SIGNED)
    rig.append(3)
    with pytest.raises(NotFound, match="published checkpoint that covers event 6"):
        make_proof(rig.log, rig.store, rig.trust, "rec-1")
    rig.signer.publish()
    proof = make_proof(rig.log, rig.store, rig.trust, "rec-1")
    event = TlogProof.parse(proof).extra
    assert event is not None and b'"action":"signed"' in event
    cp = check_proof(proof, rig.trust, event)
    assert (cp.origin, cp.size) == (ORIGIN, 9)
    with pytest.raises(ProofInvalid, match="not the event this proof was made for"):
        check_proof(proof, rig.trust, event.replace(b"rec-1", b"rec-2"))
    bare = TlogProof.parse(proof)
    without_extra = TlogProof(bare.index, bare.path, bare.checkpoint_note).encode()
    with pytest.raises(ProofInvalid):
        check_proof(without_extra, rig.trust, event.replace(b"rec-1", b"rec-2"))
    moved = TlogProof(bare.index + 1, bare.path, bare.checkpoint_note).encode()
    with pytest.raises(ProofInvalid):
        check_proof(moved, rig.trust, event)
    stranger = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with pytest.raises(SignatureInvalid):
        check_proof(proof, TrustAnchors((NoteKey(ORIGIN, stranger),), ()), event)
    with pytest.raises(NotFound):
        make_proof(rig.log, rig.store, rig.trust, "rec-unknown")


def test_trust_anchors_without_a_log_key_leave_the_log_unchecked(rig: Rig) -> None:
    rig.append(2)
    rig.signer.publish()
    result = AuditResult()
    audit_log(rig.log, rig.store, TrustAnchors((), ()), rig.state, result)
    assert result.problems == [] and result.exit_code == 4
    assert [(p.check, p.subject) for p in result.unchecked] == [("log", "trust")]


def test_an_acknowledged_rollback_is_still_reported_with_the_operators_reason(rig: Rig) -> None:
    rig.append(6)
    rig.signer.publish()
    with rig.catalog.transaction() as s:
        s.execute(delete(CustodyEventRow).where(CustodyEventRow.seq > 3))
    rig.signer.acknowledge(6, "restored from last night's backup", T0, "operator")
    result = rig.audit()
    [problem] = [p for p in result.problems if p.subject == "checkpoint:6"]
    assert "the database's log has 4 events, but a checkpoint of 6 was published" in problem.reason
    assert problem.reason.endswith("(acknowledged by an operator: restored from last night's backup)")
