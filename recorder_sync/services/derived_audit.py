"""``recorder-audit verify``'s checks of derived material (exported clips, frames, mosaics).

For every ``derived`` custody event: the derived files, the provenance and signature exist in
the store, at the versions the event names, protected like the evidence; the provenance is
the one the event names and is signed by a key of the trust anchors; the event agrees with
the provenance; its sources are recordings the database holds, with the SHA-256 and manifest
the provenance names, and they verify (the per-recording checks, run before this); and, at
``sample`` and ``full``, the derived files re-hash to their SHA-256. A derivation is named
``derived:<its provenance's SHA-256>``. The decisions are in
``domain.derived`` and ``domain.evidence_audit``; this module fetches and reports.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from recorder_sync.domain.audit import AuditResult
from recorder_sync.domain.derived import (
    DerivedEvent,
    SourceFacts,
    StoredRef,
    provenance_problems,
    read_derived_event,
)
from recorder_sync.domain.errors import CouldNotCheck, IntegrityFailure, NotFound
from recorder_sync.domain.evidence_audit import Level, choose_sample, object_problem, sample_size
from recorder_sync.domain.ports import Clock, DerivedRecords, EvidenceReader
from recorder_sync.domain.subjects import derived_subject, recording_subject
from recorder_sync.domain.trust import TrustAnchors

log = logging.getLogger(__name__)

DERIVED = "derived"


@dataclass
class DerivedAudit:
    records: DerivedRecords
    open_store: Callable[[], EvidenceReader]
    trust: TrustAnchors
    clock: Clock
    rng: random.Random = field(default_factory=random.SystemRandom)

    def run(self, result: AuditResult, level: Level, *, sample: int | None = None) -> None:
        """Runs after the recordings' checks: a source with a problem makes its derived
        material's problem too."""
        result.checked[DERIVED] += 0
        try:
            logged = self.records.derived_events()
        except CouldNotCheck as e:
            result.could_not_check("database", "derived", str(e))
            return
        events: list[DerivedEvent] = []
        for event in logged:
            result.checked[DERIVED] += 1
            try:
                events.append(read_derived_event(event))
            except ValueError as e:
                result.problem(
                    DERIVED, f"event:{event.seq}", f"the derived event does not name its objects: {e}"
                )
        if not events:
            return
        try:
            known = self.records.sources({rid for ev in events for rid, _ in ev.sources})
            store = self.open_store()
            for ev in events:
                self._one(ev, store, known, result)
            if level != Level.METADATA:
                files = [(ev, f) for ev in events for f in ev.files]
                n = len(files) if level == Level.FULL else sample_size(len(files), sample)
                self._rehash(store, choose_sample(files, n, self.rng), result)
        except CouldNotCheck as e:
            log.warning("derived material: %s", e)
            result.could_not_check(DERIVED, "store", f"{e}; derived material was not fully checked")

    def _one(
        self, ev: DerivedEvent, store: EvidenceReader, known: dict[str, SourceFacts], result: AuditResult
    ) -> None:
        subject, now = derived_subject(ev.provenance_sha256), self.clock()
        provenance = _read(store, ev.provenance.key, ev.provenance.version_id)
        signature = _read(store, ev.signature.key, ev.signature.version_id)
        for reason in provenance_problems(ev, provenance, signature, self.trust, known):
            result.problem(DERIVED, subject, reason)
        for what, ref, size in (
            *(("derived file", f, size) for f, _, size in ev.files),
            ("provenance", ev.provenance, None if provenance is None else len(provenance)),
            ("signature", ev.signature, None if signature is None else len(signature)),
        ):
            if size is None:
                continue  # missing: said above
            obj = store.stat(ref.key)
            problem = object_problem(obj, size, ref.version_id)
            if problem is None and obj is not None:
                problem = store.protection_problem(obj, now)
            if problem is not None:
                result.problem(DERIVED, subject, f"{what} {ref.key}: {problem}")
        failed = {p.subject for p in result.problems}
        for rid, _ in ev.sources:
            if recording_subject(rid) in failed:
                result.problem(
                    DERIVED,
                    subject,
                    f"its source recording {rid} does not verify (see {recording_subject(rid)})",
                )

    def _rehash(
        self,
        store: EvidenceReader,
        chosen: list[tuple[DerivedEvent, tuple[StoredRef, str, int]]],
        result: AuditResult,
    ) -> None:
        for ev, (ref, sha256, size) in chosen:
            try:
                store.verify(ref.key, sha256, size, None, ref.version_id)
            except IntegrityFailure as e:
                found = e.args[2] if len(e.args) > 2 else str(e)
                result.problem(
                    DERIVED,
                    derived_subject(ev.provenance_sha256),
                    f"derived file {ref.key}: re-hash failed: expected sha256 {sha256}, found {found}",
                )
            result.checked["derived_rehashed"] += 1


def _read(store: EvidenceReader, key: str, version_id: str | None) -> bytes | None:
    try:
        with store.open(key, version_id) as f:
            return f.read()
    except NotFound:
        return None
