"""``recorder-audit verify``'s evidence checks: every manifest and every stored object.

Reads the database (``EvidenceRecords``) and the store (``EvidenceReader``), never writes
either, and reports into an ``AuditResult``: a ``Problem`` for what does not verify, an
"unchecked" entry for what could not be checked (a store or database that is down).  The
decisions are in ``domain.evidence_audit``; this module only fetches and tallies.

The checks of the custody log itself (the chain, the Merkle root, the signed checkpoints)
are another family, run by the command beside this one.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from recorder_sync.domain import layout
from recorder_sync.domain.audit import AuditResult
from recorder_sync.domain.errors import CouldNotCheck, DatabaseUnavailable, IntegrityFailure, NotFound
from recorder_sync.domain.evidence_audit import (
    Level,
    SignedRecording,
    choose_sample,
    manifest_problems,
    object_problem,
    sample_size,
    stored_bytes_problem,
)
from recorder_sync.domain.ports import Clock, EvidenceReader, EvidenceRecords, Progress
from recorder_sync.domain.subjects import recording_subject
from recorder_sync.domain.trust import TrustAnchors

log = logging.getLogger(__name__)

MANIFEST, OBJECT = "manifest", "object"


@dataclass(frozen=True)
class _Media:
    recording_id: str
    key: str
    sha256: str
    size: int
    version_id: str | None


@dataclass
class EvidenceAudit:
    records: EvidenceRecords
    open_store: Callable[[], EvidenceReader]
    """Opened on first use: a store that is down leaves the manifests' checks to run."""
    trust: TrustAnchors
    clock: Clock
    rng: random.Random = field(default_factory=random.SystemRandom)
    meter: Callable[[int], Progress] | None = None
    """Given the bytes a re-hash will read, returns the progress callback (the app shows it)."""

    _store: EvidenceReader | None = field(default=None, init=False)
    _store_down: str | None = field(default=None, init=False)
    _unchecked_stored: int = field(default=0, init=False)

    def run(
        self, result: AuditResult, level: Level, *, sample: int | None = None, since: datetime | None = None
    ) -> None:
        media: list[_Media] = []
        last = None
        for counted in ("recordings", "objects"):
            result.checked[counted] += 0  # present in --json even when nothing was there to check
        try:
            for rec in self.records.signed_recordings(since):
                last = rec.id
                found = self._recording(rec, result)
                if found is not None:
                    media.append(found)
            for event in self.records.signed_events_without_recording():
                result.checked["recordings"] += 1
                result.problem(
                    MANIFEST,
                    recording_subject(str(event.fields.get("recording_id"))),
                    f"the log's 'signed' event (seq {event.seq}) names a recording the database "
                    "does not have",
                )
        except DatabaseUnavailable as e:
            after = f" after {last}" if last else ""
            result.could_not_check("database", "catalog", f"{e}; the recordings{after} were not checked")
        if self._store_down is not None:
            result.could_not_check(
                "store",
                "objects",
                f"{self._store_down}; the stored objects of {self._unchecked_stored} recording(s) "
                "were not checked",
            )
        if level != Level.METADATA and media and self._store_down is None:
            n = len(media) if level == Level.FULL else sample_size(len(media), sample)
            self._rehash(choose_sample(media, n, self.rng), result)

    def _recording(self, rec: SignedRecording, result: AuditResult) -> _Media | None:
        subject = recording_subject(rec.id)
        result.checked["recordings"] += 1
        for reason in manifest_problems(rec, self.trust):
            result.problem(MANIFEST, subject, reason)
        if not rec.stored:
            return None  # not stored yet: nothing in the store to check
        store = self._reader()
        if store is None:
            self._unchecked_stored += 1
            return None
        try:
            return self._stored_objects(store, rec, result)
        except CouldNotCheck as e:
            log.warning("store: %s", e)
            self._store_down = str(e)
            self._unchecked_stored += 1
            return None

    def _reader(self) -> EvidenceReader | None:
        if self._store is None and self._store_down is None:
            try:
                self._store = self.open_store()
            except CouldNotCheck as e:
                self._store_down = str(e)
        return None if self._store_down is not None else self._store

    def _stored_objects(
        self, store: EvidenceReader, rec: SignedRecording, result: AuditResult
    ) -> _Media | None:
        """The ``metadata`` checks of a recording's three objects; the media to re-hash, when
        it is there with the right size (a missing or truncated one is reported already)."""
        subject, now = recording_subject(rec.id), self.clock()
        key = layout.media_key(rec.sha256)
        obj = store.stat(key)
        result.checked["objects"] += 1
        problem = object_problem(obj, rec.size, rec.version_id)
        if problem is None and obj is not None:
            problem = store.protection_problem(obj, now)
        if problem is not None:
            result.problem(OBJECT, subject, f"media {key}: {problem}")
        for what, small_key, data in (
            ("manifest", layout.manifest_key(rec.sha256), rec.manifest),
            ("signature", layout.signature_key(rec.sha256), rec.signature),
        ):
            if data is None:
                continue  # reported by the manifest checks
            result.checked["objects"] += 1
            try:
                stored: bytes | None = store.get_bytes(small_key)
            except NotFound:
                stored = None
            small = stored_bytes_problem(data, stored)
            if small is None:
                o = store.stat(small_key)
                small = object_problem(o, len(data), None) or (
                    store.protection_problem(o, now) if o else None
                )
            if small is not None:
                result.problem(OBJECT, subject, f"{what} {small_key}: {small}")
        if obj is None or obj.size != rec.size:
            return None
        return _Media(rec.id, key, rec.sha256, rec.size, rec.version_id)

    def _rehash(self, chosen: list[_Media], result: AuditResult) -> None:
        store = self._reader()
        assert store is not None
        progress = self.meter(sum(m.size for m in chosen)) if self.meter else None
        for m in chosen:
            try:
                store.verify(m.key, m.sha256, m.size, progress, m.version_id)
            except IntegrityFailure as e:
                found = e.args[2] if len(e.args) > 2 else str(e)
                result.problem(
                    OBJECT,
                    recording_subject(m.recording_id),
                    f"media {m.key}: re-hash failed: expected sha256 {m.sha256}, found {found}",
                )
            except CouldNotCheck as e:
                left = len(chosen) - result.checked["rehashed"]
                result.could_not_check("store", "objects", f"{e}; {left} object(s) were not re-hashed")
                return
            result.checked["rehashed"] += 1
            result.checked["rehashed_bytes"] += m.size
