"""Signed checkpoints of the custody log, published write-once where the database cannot
rewrite them, and the check that the database still holds the log they describe.

The station signs a C2SP checkpoint of the log's current size and root with its log key,
after checking that the tree extends the last checkpoint it published (it never signs a tree
that does not: a rolled-back or rewritten database stops it with ``LogRolledBack``, exit 3),
and writes it once to ``log/<origin>/checkpoint/<size>`` in the evidence store.  At start,
``check`` compares the database's log with the latest published checkpoint: a log that is
shorter than it, or whose prefix differs, is refused until an operator acknowledges it
(``recorder-sync log acknowledge``), which is itself a custody event.

Ed25519 signatures are deterministic, so two processes signing the same tree write the same
bytes to the same key: a no-op for the second, never a conflict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from recorder_sync.domain import merkle
from recorder_sync.domain.checkpoint import Checkpoint, NoteKey, cosign, open_checkpoint, sign_note
from recorder_sync.domain.custody import CustodyEvent
from recorder_sync.domain.errors import LogRolledBack, ProofInvalid, SignatureInvalid, UsageError
from recorder_sync.domain.layout import checkpoint_key, checkpoint_prefix, checkpoint_size
from recorder_sync.domain.logstate import Acknowledgement, RecordedCheckpoint, refusal, rollback_problem
from recorder_sync.domain.ports import Clock, CustodyLog, ObjectStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    checkpoint: Checkpoint
    note: bytes
    key: str


def published_sizes(store: ObjectStore, origin: str, after: int | None = None) -> dict[int, str]:
    """Every checkpoint published for ``origin`` (of more than ``after`` events): its store key
    by tree size."""
    found: dict[int, str] = {}
    start = None if after is None else checkpoint_key(origin, after)
    for key in store.list_keys(checkpoint_prefix(origin), start_after=start):
        size = checkpoint_size(origin, key)
        if size is not None:
            found[size] = key
    return found


class CheckpointService:
    def __init__(
        self,
        log: CustodyLog,
        store: ObjectStore,
        origin: str,
        *,
        key: NoteKey | None,
        sign: Callable[[bytes], bytes] | None,
        clock: Clock,
        retention_class: str | None = None,
        earlier_keys: tuple[NoteKey, ...] = (),
        cosigner: tuple[NoteKey, Callable[[bytes], bytes]] | None = None,
        cosigned: Callable[[], None] | None = None,
    ) -> None:
        """``key``: the log's verifier key (None where this process does not hold it: the
        published checkpoints are then read without checking their signature, only to
        compare sizes and roots); ``sign``: its private half, None when ``[log] sign`` is off.
        ``earlier_keys``: the keys it replaced, which signed the checkpoints before it.
        ``cosigner``: the key ``key`` just replaced, with its private half: the next checkpoint
        is signed by both, then ``cosigned`` is called (it destroys that private key)."""
        self.log = log
        self.store = store
        self.origin = origin
        self.key = key
        self.sign = sign
        self.clock = clock
        self.retention_class = retention_class
        self.earlier_keys = earlier_keys
        self.cosigner = cosigner
        self.cosigned = cosigned

    def latest_published(self) -> Published | None:
        sizes = self._latest_sizes()
        if not sizes:
            return None
        key = sizes[max(sizes)]
        note = self.store.get_bytes(key)
        if self.key is not None:
            cp = open_checkpoint(note, [self.key, *self.earlier_keys])
        else:
            cp = Checkpoint.parse(note[: note.rfind(b"\n\n") + 1])
        if cp.origin != self.origin or cp.size != max(sizes):
            raise SignatureInvalid(key, f"holds a checkpoint of {cp.origin} at {cp.size}")
        return Published(cp, note, key)

    def _latest_sizes(self) -> dict[int, str]:
        """The published checkpoints from the last one the database recorded on (the store
        lists them in order), or all of them when that one is not in the store: the database
        only says where to start looking, never what was published."""
        hint = self.log.latest_checkpoint()
        if hint is not None:
            newer = published_sizes(self.store, self.origin, after=hint)
            if newer:
                return newer
            if self.store.stat(checkpoint_key(self.origin, hint)) is not None:
                return {hint: checkpoint_key(self.origin, hint)}
        return published_sizes(self.store, self.origin)

    def check(self) -> Published | None:
        """The latest published checkpoint, once the database's log extends it (or an operator
        acknowledged that it does not); ``LogRolledBack`` otherwise."""
        latest = self.latest_published()
        if latest is None:
            return None
        problem = self._problem(latest.checkpoint, self.log.log_size())
        if problem is None:
            return latest
        ack = next((a for a in self.log.acknowledgements() if a.covers(latest.checkpoint)), None)
        if ack is None:
            raise LogRolledBack(refusal(problem, latest.checkpoint))
        log.warning("%s; acknowledged by an operator: %s", problem, ack.reason)
        return latest

    def publish(self) -> Checkpoint | None:
        """Sign and publish a checkpoint of the log as it is now; None when there is nothing
        new to sign (or this process does not sign)."""
        if self.sign is None or self.key is None:
            return None
        latest = self.check()
        size = self.log.log_size()
        if size == 0:
            return None
        root = self.log.log_root(size)
        if latest is not None:
            old = latest.checkpoint
            forked = self._problem(old, size) is not None  # acknowledged, or check() had raised
            if not forked and old.size == size:
                self._remember(latest, root)
                return None
            if forked and size <= old.size:
                return None  # a new checkpoint would take a published size: wait until it has grown
            if not forked:
                self._check_consistent(old, size, root)
        cp = Checkpoint(self.origin, size, root)
        note = sign_note(cp.text(), self.key, self.sign)
        if self.cosigner is not None:
            # once, after a log key rotation: an auditor holding either key can follow the log
            note = cosign(note, *self.cosigner)
        key = checkpoint_key(self.origin, size)
        if self.store.stat(key) is not None and self.store.get_bytes(key) != note:
            raise LogRolledBack(f"another checkpoint of {size} is already published at {key}")
        meta = {"log-origin": self.origin, "tree-size": str(size)}
        self.store.put_bytes(key, note, meta, retention_class=self.retention_class)
        self.log.record_checkpoint(RecordedCheckpoint(size, root, note, key, self.clock()))
        log.info("published checkpoint %s of %d events", key, size)
        if self.cosigner is not None:
            log.info("checkpoint %s is signed by the old log key too; destroying that key", key)
            self.cosigner = None
            if self.cosigned is not None:
                self.cosigned()
        return cp

    def acknowledge(self, size: int, reason: str, now: datetime, actor: str) -> CustodyEvent:
        """An operator accepts that the database's log does not extend the published checkpoint
        of ``size`` (the latest): recorded as a custody event, after which the station starts
        and signs again, from the first size past it."""
        latest = self.latest_published()
        if latest is None:
            raise UsageError("no checkpoint of this log was published: there is nothing to acknowledge")
        cp = latest.checkpoint
        if size != cp.size:
            raise UsageError(f"the latest published checkpoint is of {cp.size} events, not {size}")
        problem = self._problem(cp, self.log.log_size())
        if problem is None:
            raise UsageError(f"the database's log extends the checkpoint of {size}: nothing to acknowledge")
        log.warning("%s; acknowledged by %s: %s", problem, actor, reason)
        return self.log.acknowledge(Acknowledgement(cp.size, cp.root, reason), now, actor)

    def _problem(self, published: Checkpoint, size: int) -> str | None:
        root_at = self.log.log_root(published.size) if size >= published.size else None
        return rollback_problem(size, root_at, published)

    def _check_consistent(self, old: Checkpoint, size: int, root: bytes) -> None:
        """The proof an auditor would check, from the stored nodes, before anything is signed."""
        try:
            proof = self.log.consistency_proof(old.size, size)
            merkle.verify_consistency(old.size, size, proof, old.root, root)
        except ProofInvalid as e:
            raise LogRolledBack(f"the log of {size} events does not extend checkpoint {old.size}: {e}") from e

    def _remember(self, latest: Published, root: bytes) -> None:
        if root == latest.checkpoint.root:
            self.log.record_checkpoint(
                RecordedCheckpoint(latest.checkpoint.size, root, latest.note, latest.key, self.clock())
            )
