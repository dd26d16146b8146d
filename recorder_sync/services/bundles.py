"""``recorder-audit bundle``: an offline evidence bundle of a case, an action or recordings.

The order is the point, as for a replay:

1. everything is gathered and checked, nothing written: the recordings asked for, each
   stored copy re-hashed in the store (a copy that does not hash to its signed manifest is
   left out, and ``case.json`` says why), the manifests against the trust anchors, the
   latest published checkpoint against the trust anchors' log keys, an inclusion proof of
   every custody event about these recordings, their links and actions;
2. every file's SHA-256 is then known (a media file's is the one its manifest signs), so
   ``SHA256SUMS`` is too: the ``exported`` custody event (who, why, which recordings, the
   hash of ``SHA256SUMS``) is written; if that fails, nothing is written out;
3. only then are the files written, the media streamed from the store and hashed again on
   the way: a copy that changed since step 1 stops the bundle, and what was written of it
   is removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorder_sync.domain import bundle, layout, merkle
from recorder_sync.domain.cases import ActionQuery
from recorder_sync.domain.checkpoint import Checkpoint, NoteKey, TlogProof, open_checkpoint
from recorder_sync.domain.custody import CustodyEvent, EventKind
from recorder_sync.domain.errors import (
    CouldNotCheck,
    NotFound,
    UsageError,
    VerificationFailed,
)
from recorder_sync.domain.model import Recording
from recorder_sync.domain.ports import (
    AuditedLog,
    BundleSource,
    BundleTarget,
    Clock,
    CustodyNotes,
    EvidenceReader,
)
from recorder_sync.domain.replay import outcome_details
from recorder_sync.domain.subjects import action_subject, case_subject
from recorder_sync.domain.times import parse_lenient
from recorder_sync.domain.trust import TrustAnchors
from recorder_sync.services.checkpoints import published_sizes

log = logging.getLogger(__name__)

_ACCESS_KINDS = (EventKind.ACCESSED.value, EventKind.EXPORTED.value, EventKind.SEARCHED.value)


@dataclass(frozen=True)
class Selection:
    """What the bundle is of: one case, one action, or recordings by id or SHA-256."""

    case_id: str | None = None
    action_id: str | None = None
    recordings: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        if self.case_id is not None:
            return {"case": self.case_id}
        if self.action_id is not None:
            return {"action": self.action_id}
        return {"recordings": list(self.recordings)}


@dataclass(frozen=True)
class Made:
    path: Path
    event_seq: int
    sums_sha256: str
    recordings: tuple[bundle.Entry, ...]
    events: int
    checkpoint_size: int


@dataclass
class _Plan:
    files: dict[str, bytes] = field(default_factory=dict)
    media: list[tuple[str, str, int, str | None, str]] = field(default_factory=list)
    """(bundle name, store key, size, version, sha256) of each media file to stream."""
    digests: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, data: bytes) -> None:
        self.files[name] = data
        self.digests[name] = hashlib.sha256(data).hexdigest()


@dataclass
class BundleService:
    source: BundleSource
    log: AuditedLog
    store: EvidenceReader
    trust: TrustAnchors
    clock: Clock
    actor: str
    open_access_log: Callable[[], CustodyNotes]
    """Opened only to write the ``exported`` event: the rest of the bundle reads only."""
    standalone: bytes
    """The bytes of ``verify_bundle.py``, copied into the bundle as they are."""
    tsa_chain: bytes | None = None

    def build(self, selection: Selection, reason: str, target: BundleTarget) -> Made:
        why = reason.strip()
        if not why:
            raise UsageError("bundle needs --reason WHY (it is kept in the custody log)")
        target.check()
        now = self.clock()
        recordings, actions = self._select(selection)
        rec_ids = [r.id for r in recordings]
        subjects = {action_subject(a["action_id"]) for a in actions}
        if selection.case_id is not None:
            subjects.add(case_subject(selection.case_id))
        checkpoint, note, log_key = self._checkpoint()
        events = self.source.events_about(set(rec_ids), subjects)
        proven = [e for e in events if e.seq <= checkpoint.size]
        plan = _Plan()
        entries = [self._recording(rec, events, plan) for rec in recordings]
        for name, data in bundle.custody_files(
            (e.body for e in proven), self._proofs(proven, checkpoint, note), note
        ).items():
            plan.add(name, data)
        for name, data in bundle.key_files(self.trust.station_keys, log_key).items():
            plan.add(name, data)
        token = self._token(checkpoint)
        if token is not None:
            plan.add(bundle.TOKEN_FILE, token[0])
            plan.add(bundle.TSA_CHAIN_FILE, token[1])
        links = self.source.links(
            recording_ids=rec_ids, action_ids=[a["action_id"] for a in actions], include_removed=True
        )
        plan.add(
            "case.json",
            bundle.case_json(
                selection=selection.as_json(),
                made_at=now,
                made_by=self.actor,
                reason=why,
                cases=_case(selection, actions),
                actions=actions,
                links=_unique([link.as_json() for link in links]),
                flags=self.source.flags(set(rec_ids), subjects),
                accesses=[e.fields for e in events if e.fields.get("action") in _ACCESS_KINDS],
                recordings=entries,
                checkpoint_size=checkpoint.size,
                unproven=[e.seq for e in events if e.seq > checkpoint.size],
            ),
        )
        key_of = {k.key_id: bundle.station_key_name(k.key_id) for k in self.trust.station_keys}
        included = [(e, plan.files[bundle.manifest_name(e.sha256)]) for e in entries if e.missing is None]
        plan.add(
            "VERIFY.md",
            bundle.verify_md(
                manifests=[(e.sha256, key_of[_key_id(m)]) for e, m in included],
                media=[(str(e.media), e.sha256) for e, _ in included],
                token=token is not None,
            ),
        )
        plan.add("verify_bundle.py", self.standalone)
        sums = bundle.sha256sums(plan.digests)
        sums_sha = hashlib.sha256(sums).hexdigest()

        # the access is logged before the first byte leaves; if it cannot be, nothing does
        access_log = self.open_access_log()
        event = access_log.note(
            EventKind.EXPORTED,
            self.clock(),
            details=bundle.exported_details(entries, sums_sha, selection.as_json()),
            reason=why,
            actor=self.actor,
        )
        try:
            for name, data in sorted(plan.files.items()):
                target.add_bytes(name, data)
            for name, key, size, version, sha in plan.media:
                with self.store.open(key, version) as f:
                    target.add_stream(name, f, size, sha)
            target.add_bytes("SHA256SUMS", sums)
            path = target.close()
        except BaseException as e:
            target.abort()
            self._outcome(access_log, event.seq, e)
            raise
        return Made(path, event.seq, sums_sha, tuple(entries), len(proven), checkpoint.size)

    def _outcome(self, access_log: CustodyNotes, access_seq: int, e: BaseException) -> None:
        """The second event of an export that failed once logged: no bundle was handed out."""
        outcome = "integrity-failure" if isinstance(e, VerificationFailed) else "failed"
        try:
            access_log.note(
                EventKind.EXPORTED,
                self.clock(),
                details=outcome_details(access_seq, outcome, f"no bundle was left: {e}"),
                actor=self.actor,
            )
        except CouldNotCheck as db:  # the failure itself is what the caller must hear
            log.error("could not record the outcome %s of export %d: %s", outcome, access_seq, db)

    # --- gathering ---------------------------------------------------------------------------

    def _select(self, selection: Selection) -> tuple[list[Recording], list[dict[str, Any]]]:
        """The recordings and the actions (as records) the bundle is of."""
        if selection.recordings:
            recs = {r.id: r for r in (self.source.recording(ref) for ref in selection.recordings)}
            ids = sorted(recs)
            linked = {link.action_id for link in self.source.links(recording_ids=ids) if link.counts}
            actions = [a for aid in sorted(linked) for a in self.source.actions(ActionQuery(action_id=aid))]
            return [recs[i] for i in ids], [a.as_record() for a in actions]
        query = ActionQuery(case_id=selection.case_id, action_id=selection.action_id)
        found = self.source.actions(query)
        if not found:
            what = f"case {selection.case_id!r}" if selection.case_id else f"action {selection.action_id!r}"
            raise NotFound(what)
        links = self.source.links(action_ids=[a.action_id for a in found])
        ids = sorted({link.recording_id for link in links if link.counts})
        return [self.source.recording(i) for i in ids], [a.as_record() for a in found]

    def _checkpoint(self) -> tuple[Checkpoint, bytes, NoteKey]:
        """The latest checkpoint published under a log key of the trust anchors, checked."""
        keys = tuple(self.trust.log_keys)
        if not keys:
            raise UsageError("the trust anchors name no log key: the custody events could not be proven")
        for origin in sorted({k.name for k in keys}):
            sizes = published_sizes(self.store, origin)
            if not sizes:
                continue
            note = self.store.get_bytes(sizes[max(sizes)])
            cp = open_checkpoint(note, keys)
            key = next(k for k in keys if k.name == cp.origin)
            return cp, note, key
        raise NotFound("a published checkpoint of the custody log (ingest and run publish them)")

    def _proofs(
        self, events: Sequence[CustodyEvent], checkpoint: Checkpoint, note: bytes
    ) -> dict[int, TlogProof]:
        """Each event's inclusion proof from the stored nodes, checked here against the signed
        root: a database whose tree disagrees with the checkpoint gives no bundle."""
        proofs = {}
        for ev in events:
            path = self.log.inclusion_proof(ev.seq - 1, checkpoint.size)
            merkle.verify_inclusion(
                merkle.leaf_hash(ev.body), ev.seq - 1, checkpoint.size, path, checkpoint.root
            )
            proofs[ev.seq] = TlogProof(ev.seq - 1, tuple(path), note)
        return proofs

    def _recording(self, rec: Recording, events: Sequence[CustodyEvent], plan: _Plan) -> bundle.Entry:
        """The recording's files, added to ``plan`` when its stored copy and manifest verify;
        else an entry that says why it is left out."""
        ext = rec.original_name.rpartition(".")[2] if "." in rec.original_name else ""
        entry = bundle.Entry(rec.id, rec.sha256, rec.original_name)
        if rec.storage_uri is None:
            return _missing(entry, f"not stored (state {rec.state.value})")
        signed = [
            e for e in events if e.fields.get("recording_id") == rec.id and e.fields.get("action") == "signed"
        ]
        if not signed:
            return _missing(entry, "no 'signed' custody event")
        try:
            manifest = self.store.get_bytes(layout.manifest_key(rec.sha256))
            signature = self.store.get_bytes(layout.signature_key(rec.sha256))
            self.trust.verify_manifest(manifest, signature, parse_lenient(str(signed[-1].fields["at"])))
            self.store.verify(layout.media_key(rec.sha256), rec.sha256, rec.size, None, rec.version_id)
        except NotFound as e:
            return _missing(entry, f"stored copy missing: {e}")
        except VerificationFailed as e:
            log.warning("%s: left out of the bundle: %s", rec.id, e)
            return _missing(entry, f"the stored copy does not verify: {e}")
        except CouldNotCheck:
            raise  # a store that is down gives no bundle, not one with gaps it did not have
        media = bundle.media_name(rec.sha256, ext)
        plan.add(bundle.manifest_name(rec.sha256), manifest)
        plan.add(bundle.signature_name(rec.sha256), signature)
        plan.media.append((media, layout.media_key(rec.sha256), rec.size, rec.version_id, rec.sha256))
        plan.digests[media] = rec.sha256
        sidecar = bundle.sidecar_bytes(rec.sidecar, rec.sidecar_sha256)
        if sidecar is not None:
            plan.add(bundle.sidecar_name(rec.sha256), sidecar)
        return bundle.Entry(
            rec.id,
            rec.sha256,
            rec.original_name,
            media=media,
            sidecar=bundle.sidecar_name(rec.sha256) if sidecar is not None else None,
        )

    def _token(self, checkpoint: Checkpoint) -> tuple[bytes, bytes] | None:
        """The checkpoint's RFC 3161 token where the store holds one, with the TSA chain."""
        key = layout.timestamp_key(checkpoint.origin, checkpoint.size)
        if self.store.stat(key) is None:
            return None
        if self.tsa_chain is None:
            log.warning(
                "%s: a time-stamp token is stored, but no TSA chain was given: not in the bundle", key
            )
            return None
        return self.store.get_bytes(key), self.tsa_chain


def _missing(entry: bundle.Entry, why: str) -> bundle.Entry:
    return bundle.Entry(entry.id, entry.sha256, entry.original_name, missing=why)


def _key_id(manifest: bytes) -> str:
    return str(json.loads(manifest)["key_id"])


def _case(selection: Selection, actions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "case_ids": sorted({str(a["case_id"]) for a in actions}),
        "asked": selection.as_json(),
    }


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, out = set(), []
    for item in items:
        key = tuple(sorted((k, str(v)) for k, v in item.items()))
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
