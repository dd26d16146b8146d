"""The log half of ``recorder-audit verify``, and ``proof`` / ``check-proof``.

Nothing the station holds is trusted here: the checkpoints are checked against the log keys
of the trust anchors, every event is re-hashed from its bytes, and the tree is rebuilt from
those hashes.  What is checked, for each log the trust anchors name:

- every published checkpoint (``log/<origin>/checkpoint/<size>``): signed by a trusted key
  of that origin, for the size its key names;
- the latest one extends the checkpoint this auditor verified before (its own state): a
  log rolled back or rewritten since then is caught even if the database agrees with it;
- the database's log: every event's bytes hash to its stored leaf hash, carry their
  position, and link to the event before; the tree of those events has, at each published
  size, the published root; the database is no shorter than what was published;
- split view: a checkpoint of the same size with another root, signed by the log key, kept
  in the database or in this auditor's state.

Each finding is one ``Problem`` (check ``checkpoint`` or ``log``, subject ``checkpoint:N``,
``event:N`` or ``log:<origin>``); the state moves on only after a log verified whole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from recorder_sync.domain import merkle
from recorder_sync.domain.audit import AuditResult
from recorder_sync.domain.canonical import parse
from recorder_sync.domain.checkpoint import Checkpoint, NoteKey, TlogProof, open_checkpoint
from recorder_sync.domain.custody import GENESIS, EventKind, IndexedEvent, leaf_hash
from recorder_sync.domain.errors import CouldNotCheck, Error, NotFound, ProofInvalid, VerificationFailed
from recorder_sync.domain.logstate import Acknowledgement
from recorder_sync.domain.ports import AuditedLog, AuditorState, ObjectStore
from recorder_sync.domain.trust import TrustAnchors
from recorder_sync.services.checkpoints import published_sizes

log = logging.getLogger(__name__)

CHECKPOINT, LOG = "checkpoint", "log"


@dataclass(frozen=True)
class _Signed:
    checkpoint: Checkpoint
    note: bytes


def audit_log(
    log: AuditedLog, store: ObjectStore, trust: TrustAnchors, state: AuditorState, result: AuditResult
) -> None:
    """Check every log the trust anchors name a key for, into ``result``."""
    if not trust.log_keys:
        # a log checked against no key proves nothing: say so rather than pass it
        result.could_not_check(
            LOG, "trust", "the trust anchors name no log key: the custody log was not checked"
        )
    for origin in sorted({k.name for k in trust.log_keys}):
        keys = tuple(k for k in trust.log_keys if k.name == origin)
        before = len(result.problems) + len(result.unchecked)
        try:
            latest = _audit_one(log, store, origin, keys, state, result)
        except CouldNotCheck as e:
            result.could_not_check(LOG, f"log:{origin}", str(e))
            continue
        if latest is not None and len(result.problems) + len(result.unchecked) == before:
            state.remember(origin, latest.note)


def _audit_one(
    log: AuditedLog,
    store: ObjectStore,
    origin: str,
    keys: tuple[NoteKey, ...],
    state: AuditorState,
    result: AuditResult,
) -> _Signed | None:
    published = _published(store, origin, keys, result)
    latest = published[max(published)] if published else None
    previous = _previous(state, origin, keys, result)
    acks = log.acknowledgements()

    size, event_problems, root = _rehash(log, published, result)
    result.checked["events"] += size
    if size and latest is None:
        result.problem(
            CHECKPOINT,
            f"log:{origin}",
            f"no signed checkpoint of this log was published for its {size} events",
        )
    for n, signed in sorted(published.items()):
        if n > size:
            result.problem(
                LOG,
                f"checkpoint:{n}",
                f"the database's log has {size} events, but a checkpoint of {n} was published: "
                f"the log was truncated or the database rolled back{_acknowledged(acks, signed.checkpoint)}",
            )
    if previous is not None:
        _check_previous(log, previous, latest, published, size, result)
    for recorded in log.recorded_checkpoints():
        other = published.get(recorded.size)
        if other is not None and recorded.root != other.checkpoint.root and _verifies(recorded.note, keys):
            result.problem(
                CHECKPOINT,
                f"checkpoint:{recorded.size}",
                "split view: the database keeps another checkpoint of this size, also signed by the log "
                "key, with another root",
            )
    if not event_problems and size:
        _check_stored_tree(log, size, root, result)
    return latest


def _published(
    store: ObjectStore, origin: str, keys: tuple[NoteKey, ...], result: AuditResult
) -> dict[int, _Signed]:
    good: dict[int, _Signed] = {}
    for n, key in sorted(published_sizes(store, origin).items()):
        result.checked["checkpoints"] += 1
        try:
            note = store.get_bytes(key)
        except NotFound:
            continue  # listed, then gone: a delete marker or a race; nothing signed to check
        try:
            cp = open_checkpoint(note, keys)
        except VerificationFailed as e:
            result.problem(CHECKPOINT, f"checkpoint:{n}", f"bad signature: {e}")
            continue
        if cp.size != n:
            result.problem(
                CHECKPOINT, f"checkpoint:{n}", f"is published as {n} but is a checkpoint of {cp.size}"
            )
            continue
        good[n] = _Signed(cp, note)
    return good


def _previous(
    state: AuditorState, origin: str, keys: tuple[NoteKey, ...], result: AuditResult
) -> _Signed | None:
    note = state.last_verified(origin)
    if note is None:
        return None
    try:
        return _Signed(open_checkpoint(note, keys), note)
    except VerificationFailed as e:
        result.problem(CHECKPOINT, f"log:{origin}", f"the checkpoint this auditor kept does not verify: {e}")
        return None


def _rehash(log: AuditedLog, published: dict[int, _Signed], result: AuditResult) -> tuple[int, bool, bytes]:
    """One pass over the events: the number read, whether any was wrong, and their root.  After a
    break the check picks up from the event found, so one deletion is one problem, not one
    for every event after it."""
    acc = merkle.Accumulator()
    expected_seq, expected_prev, wrong = 1, GENESIS, False
    for ev in log.iter_events():
        subject = f"event:{ev.seq}"
        found = leaf_hash(ev.body)
        fields = _fields(ev.body)
        problem: str | None = None
        if ev.seq != expected_seq:
            gone = f"{expected_seq}" if ev.seq == expected_seq + 1 else f"{expected_seq} to {ev.seq - 1}"
            subject, problem = f"event:{expected_seq}", f"event {gone} is missing from the log: deleted"
        elif found != ev.leaf_hash:
            problem = "its bytes do not hash to its stored leaf hash: the event was edited"
        elif fields.get("seq") != ev.seq:
            problem = f"holds the bytes of event {fields.get('seq')}: events were swapped or reordered"
        elif fields.get("prev") != expected_prev:
            problem = (
                f"does not link to the event before it (event {ev.seq - 1}): that event was edited, or "
                "events were rewritten"
            )
        elif isinstance(ev, IndexedEvent):
            problem = ev.index_problem()
        if problem is not None:
            wrong = True
            result.problem(LOG, subject, problem)
        expected_seq, expected_prev = ev.seq + 1, ev.leaf_hash
        acc.append(bytes.fromhex(found))
        signed = published.get(acc.size)
        if signed is not None and acc.root() != signed.checkpoint.root:
            wrong = True
            result.problem(
                LOG,
                f"checkpoint:{acc.size}",
                f"the database's first {acc.size} events do not have the root this signed checkpoint "
                "gives them: the log was edited or rewritten (or the checkpoint is another one signed "
                "with the log key)",
            )
    return acc.size, wrong, acc.root()


def _fields(body: bytes) -> dict[str, object]:
    try:
        fields = parse(body)
    except ValueError:
        return {}
    return fields if isinstance(fields, dict) else {}


def _check_previous(
    log: AuditedLog,
    previous: _Signed,
    latest: _Signed | None,
    published: dict[int, _Signed],
    size: int,
    result: AuditResult,
) -> None:
    old = previous.checkpoint
    same = published.get(old.size)
    if same is not None and same.checkpoint.root != old.root:
        result.problem(
            CHECKPOINT,
            f"checkpoint:{old.size}",
            "split view: this auditor verified another checkpoint of this size, signed by the log key, "
            "with another root",
        )
        return
    if latest is None or latest.checkpoint.size < old.size:
        shown = f"of {latest.checkpoint.size}" if latest else "none"
        result.problem(
            CHECKPOINT,
            f"checkpoint:{old.size}",
            f"this auditor verified a checkpoint of {old.size} before, but the latest published now is "
            f"{shown}: published checkpoints were removed",
        )
        return
    new = latest.checkpoint
    try:
        merkle.verify_consistency(old.size, new.size, _proof(log, old.size, new.size), old.root, new.root)
    except (ProofInvalid, Error) as e:
        result.problem(
            LOG,
            f"checkpoint:{new.size}",
            f"the database gives no valid proof that it extends the checkpoint of {old.size} this auditor "
            f"verified before ({e}): the log was rolled back or rewritten since",
        )


def _proof(log: AuditedLog, old: int, new: int) -> list[bytes]:
    return [] if old == new else log.consistency_proof(old, new)


def _check_stored_tree(log: AuditedLog, size: int, recomputed: bytes, result: AuditResult) -> None:
    """The stored Merkle nodes that proofs are made from agree with the events themselves."""
    try:
        stored = log.log_root(size)
    except VerificationFailed as e:
        result.problem(LOG, "tree", str(e))
        return
    if stored != recomputed:
        result.problem(LOG, "tree", f"the stored Merkle nodes give another root at {size} than the events do")


def _verifies(note: bytes, keys: tuple[NoteKey, ...]) -> bool:
    try:
        open_checkpoint(note, keys)
    except VerificationFailed:
        return False
    return True


def _acknowledged(acks: list[Acknowledgement], cp: Checkpoint) -> str:
    ack = next((a for a in acks if a.covers(cp)), None)
    return "" if ack is None else f" (acknowledged by an operator: {ack.reason})"


# --- proofs for one recording ---------------------------------------------------------------


def make_proof(log: AuditedLog, store: ObjectStore, trust: TrustAnchors, recording_id: str) -> bytes:
    """A C2SP tlog-proof that the recording's ``signed`` event is in the log, to the latest
    published checkpoint; the event's exact bytes ride along as the proof's ``extra``."""
    ev = log.event(recording_id, EventKind.SIGNED)
    if ev is None:
        raise NotFound(f"a signed event of {recording_id}")
    keys = tuple(trust.log_keys)
    latest: _Signed | None = None
    for name in sorted({k.name for k in keys}):
        sizes = published_sizes(store, name)
        if sizes:
            note = store.get_bytes(sizes[max(sizes)])
            latest = _Signed(open_checkpoint(note, keys), note)
            break
    if latest is None or latest.checkpoint.size < ev.seq:
        raise NotFound(f"a published checkpoint that covers event {ev.seq} (ingest and run publish them)")
    index, size = ev.seq - 1, latest.checkpoint.size
    path = log.inclusion_proof(index, size)
    merkle.verify_inclusion(merkle.leaf_hash(ev.body), index, size, path, latest.checkpoint.root)
    return TlogProof(index, tuple(path), latest.note, extra=ev.body).encode()


def check_proof(proof: bytes, trust: TrustAnchors, event: bytes) -> Checkpoint:
    """The checkpoint ``proof`` leads to, once it shows ``event`` (its exact bytes) in a log
    signed by a trusted key; ``VerificationFailed`` otherwise. No database is needed."""
    parsed = TlogProof.parse(proof)
    if parsed.extra is not None and parsed.extra != event:
        raise ProofInvalid("the event given", "it is not the event this proof was made for")
    return parsed.verify(merkle.leaf_hash(event), trust.log_keys)
