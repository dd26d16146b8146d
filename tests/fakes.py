"""In-memory fakes of the ports in ``recorder_sync.domain.ports``, for service tests that
need no folder, no ffprobe and no server.

Each fake is held to the same contract tests as the real adapter (``tests/contracts/``), so
a service test that passes on a fake passes for the reason it would on the real thing. What
a fake offers beyond its port (``damage``, ``unmount``, ``write``, …) is the test's hand on
the world: a disk that fails, a camera that is pulled out.

Fakes that exist: ``MemoryStore`` (ObjectStore), ``MemoryDock`` (DockReader), ``ScriptedProber``
(Prober), ``MemoryReportSource`` (ReportSource, actions only), ``MemorySweepStore`` (SweepStore,
actions and flags only, every load a full one), ``MemoryCaseStores`` (ActionStore,
CheckoutLedger, LinkStore and LinkFeed: the ``CaseStores`` of the case service) and
``MemoryCustodyNotes`` (CustodyNotes), ``FakeLeadership`` (Leadership, several sharing one
``LeaderSeat``).

The ``Catalog`` has none, on purpose: its port is a state machine of 25 methods (ingest calls 23) with
claims (leases shared between daemons), idempotent transitions and the custody chain, and a
fake that honoured all of that would be a second catalog to keep in step with the SQL one.
Ingest service tests use the SQLite catalog in a temporary folder instead (no server, and
the very code that runs in production).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from recorder_sync.domain.cases import Action, ActionQuery, Checkout, ImportOutcome
from recorder_sync.domain.clock import ClockEvidence
from recorder_sync.domain.custody import GENESIS, CustodyEvent, EventKind, make_event
from recorder_sync.domain.errors import (
    DatabaseUnavailable,
    IntegrityFailure,
    NotFound,
    SourceChanged,
    SourceUnavailable,
    StorageUnavailable,
    UnsafePath,
)
from recorder_sync.domain.evidence_audit import SignedRecording
from recorder_sync.domain.flags import ENGINE_KINDS, FlagSpec, resolution_state
from recorder_sync.domain.linking import Confidence, LinkProposal, RecordingFacts, StoredLink
from recorder_sync.domain.model import (
    FileIdentity,
    Flag,
    FlagState,
    Kind,
    ProbeResult,
    Recording,
    RecordingState,
    StoredObject,
    kind_from_name,
    recording_id_for,
)
from recorder_sync.domain.policy import DeadlineSettings
from recorder_sync.domain.ports import (
    ActionStore,
    CaseStores,
    CheckoutLedger,
    CustodyNotes,
    DockReader,
    Leadership,
    LinkFeed,
    LinkStore,
    Metrics,
    ObjectStore,
    Prober,
    Progress,
    ReportSource,
    SweepStore,
)
from recorder_sync.domain.report_tallies import ReportAggregates
from recorder_sync.domain.subjects import action_subject, checkout_subject, device_subject
from recorder_sync.domain.sweep import SweepInputs, SweepLimits
from recorder_sync.domain.times import utc_iso

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 16


def _read_exactly(stream: BinaryIO, key: str, size: int, sha256: str, progress: Progress | None) -> bytes:
    """The stream's bytes, or ``SourceChanged`` unless it gave exactly ``size`` bytes hashing to
    ``sha256`` (one byte more than expected is read, to notice a growing source)."""
    chunks: list[bytes] = []
    got = 0
    while got <= size:
        try:
            chunk = stream.read(min(_CHUNK, size + 1 - got))
        except OSError as exc:
            raise SourceUnavailable(key, exc.strerror or str(exc)) from exc
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
        if progress is not None:
            progress(len(chunk))
    data = b"".join(chunks)
    if len(data) != size:
        found = f"more than {size}" if len(data) > size else str(len(data))
        raise SourceChanged(key, f"read {found} bytes, expected {size}")
    found_sha = hashlib.sha256(data).hexdigest()
    if found_sha != sha256:
        raise SourceChanged(key, f"read sha256 {found_sha}, expected {sha256}")
    return data


class MemoryStore:
    """``ObjectStore`` in a dict: write-once keys, like the vault."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.metadata: dict[str, dict[str, str]] = {}
        self.available = True
        self.writes = 0
        """How many times bytes were written under a key (a no-op put does not count)."""
        self.fail_restores: str | None = None
        """When set, ``restore_stream`` raises ``StorageUnavailable`` with this text."""
        self.writable: set[str] = set()
        """Keys whose objects ``protection_problem`` reports as not write-protected."""

    # --- the test's hand on the store ---------------------------------------------------

    def damage(self, key: str) -> None:
        """One flipped bit in the middle: same size, other bytes."""
        data = bytearray(self.objects[key])
        data[len(data) // 2] ^= 0x01
        self.objects[key] = bytes(data)

    def lose(self, key: str) -> None:
        del self.objects[key]

    # --- ObjectStore ---------------------------------------------------------------------

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        size: int,
        sha256: str,
        metadata: Mapping[str, str],
        retention_class: str | None = None,
        progress: Progress | None = None,
    ) -> StoredObject:
        self._check_sha(sha256)
        self._check()
        if key in self.objects:
            return self._same_size_or_fail(key, sha256, size)
        return self._write(key, _read_exactly(stream, key, size, sha256, progress), metadata)

    def put_bytes(
        self, key: str, data: bytes, metadata: Mapping[str, str], retention_class: str | None = None
    ) -> StoredObject:
        self._check()
        if key in self.objects:
            stored = self.objects[key]
            if stored != data:
                raise IntegrityFailure(
                    key,
                    hashlib.sha256(data).hexdigest(),
                    f"{hashlib.sha256(stored).hexdigest()} (stored earlier)",
                )
            return self._stored(key)
        return self._write(key, bytes(data), metadata)

    def restore_stream(
        self,
        key: str,
        stream: BinaryIO,
        size: int,
        sha256: str,
        metadata: Mapping[str, str],
        retention_class: str | None = None,
        progress: Progress | None = None,
    ) -> StoredObject:
        self._check_sha(sha256)
        try:
            return self.verify(key, sha256, size)
        except IntegrityFailure:
            pass
        if self.fail_restores is not None:
            raise StorageUnavailable(self.fail_restores)
        return self._write(key, _read_exactly(stream, key, size, sha256, progress), metadata)

    def stat(self, key: str) -> StoredObject | None:
        self._check()
        return self._stored(key) if key in self.objects else None

    def verify(
        self,
        key: str,
        sha256: str,
        size: int,
        progress: Progress | None = None,
        version_id: str | None = None,
    ) -> StoredObject:
        self._check()
        data = self.objects.get(key)
        if data is None:
            raise IntegrityFailure(key, sha256, "no object (missing from the store)")
        if progress is not None:
            progress(len(data))
        found = hashlib.sha256(data).hexdigest()
        if found != sha256 or len(data) != size:
            raise IntegrityFailure(key, sha256, f"{found} over {len(data)} bytes (expected {size})")
        return self._stored(key)

    def open(self, key: str, version_id: str | None = None) -> BinaryIO:
        self._check()
        if key not in self.objects:
            raise NotFound(f"{key} in the memory store")
        return io.BytesIO(self.objects[key])

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def protection_problem(self, obj: StoredObject, now: datetime) -> str | None:
        return "writable" if obj.key in self.writable else None

    def list_keys(self, prefix: str, start_after: str | None = None) -> list[str]:
        self._check()
        return sorted(
            k for k in self.objects if k.startswith(prefix) and (start_after is None or k > start_after)
        )

    # --- internals -------------------------------------------------------------------------

    def _check(self) -> None:
        if not self.available:
            raise StorageUnavailable("the memory store is unmounted")

    @staticmethod
    def _check_sha(sha256: str) -> None:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")

    def _same_size_or_fail(self, key: str, sha256: str, size: int) -> StoredObject:
        existing = len(self.objects[key])
        if existing != size:
            raise IntegrityFailure(key, sha256, f"an existing object of {existing} bytes, not {size}")
        return self._stored(key)

    def _write(self, key: str, data: bytes, metadata: Mapping[str, str]) -> StoredObject:
        self.objects[key] = data
        self.metadata[key] = dict(metadata)
        self.writes += 1
        return self._stored(key)

    def _stored(self, key: str) -> StoredObject:
        return StoredObject(key=key, uri=f"memory:///{key}", size=len(self.objects[key]))


@dataclass
class _File:
    data: bytes
    ident: FileIdentity


@dataclass
class MemoryDock:
    """``DockReader`` over a dict of relpath → bytes; each write is a new file (new inode and
    times), as a camera rewriting it would make."""

    name: str
    files: dict[str, _File] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    """Entries the walk reports as refused, with the reason (a link, a device, …)."""
    _clock: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # --- the test's hand on the dock ----------------------------------------------------

    def write(self, relpath: str, data: bytes) -> None:
        tick = next(self._clock)
        ident = FileIdentity(size=len(data), mtime_ns=tick, inode=tick, device=1, ctime_ns=tick)
        self.files[relpath] = _File(bytes(data), ident)

    def delete(self, relpath: str) -> None:
        del self.files[relpath]

    def read(self, relpath: str) -> bytes:
        return self.files[relpath].data

    def exists(self, relpath: str) -> bool:
        return relpath in self.files

    # --- DockReader -------------------------------------------------------------------------

    def walk(self) -> Iterator[tuple[str, FileIdentity | None, str | None]]:
        entries: list[tuple[str, FileIdentity | None, str | None]] = [
            (p, f.ident, None) for p, f in self.files.items()
        ]
        entries += [(p, None, why) for p, why in self.refused.items()]
        yield from sorted(entries, key=lambda e: e[0])

    def stat(self, relpath: str) -> FileIdentity | None:
        self._check_path(relpath)
        if relpath in self.refused:
            raise UnsafePath(relpath, self.refused[relpath])
        f = self.files.get(relpath)
        return None if f is None else f.ident

    def open(self, relpath: str) -> tuple[BinaryIO, FileIdentity]:
        self._check_path(relpath)
        if relpath in self.refused:
            raise UnsafePath(relpath, self.refused[relpath])
        f = self.files.get(relpath)
        if f is None:
            raise SourceUnavailable(relpath, "No such file or directory")
        return io.BytesIO(f.data), f.ident

    def read_small(self, relpath: str, limit: int) -> bytes | None:
        f = self.files.get(relpath)
        if f is None or len(f.data) > limit:
            return None
        return f.data

    def remove(self, relpath: str, expected: FileIdentity) -> bool:
        self._check_path(relpath)
        f = self.files.get(relpath)
        if f is None:
            return True  # already gone: nothing of the camera's copy is left to release
        if f.ident != expected:
            return False
        del self.files[relpath]
        return True

    @staticmethod
    def _check_path(relpath: str) -> None:
        parts = relpath.split("/")
        if not relpath or relpath.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise UnsafePath(repr(relpath), "not a plain path inside the dock")


UNREADABLE = "not a video ffprobe can read"
OPEN_FLAG_STATES = frozenset({FlagState.OPEN, FlagState.ACKNOWLEDGED})


@dataclass
class ScriptedProber:
    """``Prober`` answering from a table of file contents → result; anything else is
    unreadable, as ffprobe finds the made-up bytes tests write. The kind of an unreadable file
    comes from its extension, as with ffprobe."""

    results: dict[bytes, ProbeResult] = field(default_factory=dict)
    probed: list[str] = field(default_factory=list)

    def probe_open(self, f: BinaryIO, name: str) -> ProbeResult:

        self.probed.append(name)
        data = f.read()
        kind: Kind = kind_from_name(name)
        if not data:
            return ProbeResult(kind=kind, readable=False, error="empty file (0 bytes)")
        found = self.results.get(data)
        if found is not None:
            return found
        return ProbeResult(kind=kind, readable=False, error=UNREADABLE)


@dataclass
class MemoryReportSource:
    """``ReportSource`` holding actions only (no recordings, links, flags or checkouts yet),
    and no tallies: like a case book that has never been swept. ``asked`` records each call
    for tallies, so a test sees which path the service took."""

    held_actions: list[Action] = field(default_factory=list)
    asked: list[tuple[datetime, int | None, datetime | None, datetime | None]] = field(default_factory=list)

    def report_inputs(
        self, since: datetime | None, until: datetime | None
    ) -> tuple[list[RecordingFacts], list[Action], list[tuple[str, str]], list[Flag], list[Checkout]]:
        # an action belongs to the period its end falls in, as in the SQL case book
        actions = [
            a
            for a in self.held_actions
            if (since is None or a.end >= since) and (until is None or a.end < until)
        ]
        return [], sorted(actions, key=lambda a: a.action_id), [], [], []

    def report_aggregates(
        self,
        now: datetime,
        year: int | None,
        since: datetime | None,
        until: datetime | None,
        settings: DeadlineSettings,
        full_types: Collection[str],
    ) -> ReportAggregates | None:
        self.asked.append((now, year, since, until))
        return None


@dataclass
class MemorySweepStore:
    """``SweepStore`` holding actions and flags (no recordings, links or checkouts yet). Every
    load is a full one: what an incremental load of the SQL store must come to."""

    held_actions: list[Action] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    _last: datetime | None = None
    _fingerprint: str | None = None

    def sweep_inputs(self, now: datetime, limits: SweepLimits, *, full: bool = False) -> SweepInputs:
        open_flags = [f for f in self.flags if f.state in OPEN_FLAG_STATES and f.kind in ENGINE_KINDS]
        subjects = {action_subject(a.action_id) for a in self.held_actions}
        return SweepInputs(
            recordings=[],
            actions=list(self.held_actions),
            links=[],
            checkouts=[],
            docked={},
            open_flags=open_flags,
            subjects=subjects | {f.subject for f in open_flags},
            full=True,
            cursor=0,
            last_sweep=self._last,
        )

    def apply_sweep(
        self,
        now: datetime,
        inputs: SweepInputs,
        limits: SweepLimits,
        to_raise: Sequence[FlagSpec],
        to_resolve: Sequence[tuple[str, str]],
        to_update: Sequence[FlagSpec],
        *,
        only_if_latest: bool = False,
    ) -> bool:
        if only_if_latest and self._last is not None and self._last > now:
            return False
        for spec in to_raise:
            if self._open(spec.key) is None:
                self.flags.append(replace(spec.to_flag(now), id=len(self.flags) + 1))
        for key in to_resolve:
            old = self._open(key)
            if old is not None:
                self.flags[self.flags.index(old)] = replace(old, state=resolution_state(key[0]))
        for spec in to_update:
            old = self._open(spec.key)
            if old is not None:
                new = replace(old, severity=spec.severity, detail=spec.detail, due=spec.due)
                self.flags[self.flags.index(old)] = new
        self._last, self._fingerprint = now, limits.fingerprint
        return True

    def prepare_report(self, now: datetime, limits: SweepLimits) -> None:
        """No report tallies here: nothing to bring up to date."""

    def last_sweep(self) -> datetime | None:
        return self._last

    def _open(self, key: tuple[str, str]) -> Flag | None:
        found = [f for f in self.flags if (f.kind, f.subject) == key and f.state in OPEN_FLAG_STATES]
        return found[0] if found else None


# --- the case stores ---------------------------------------------------------------------


@dataclass(frozen=True)
class Noted:
    """A custody event as the fake keeps it: what happened, to what, by whom and why. Its
    ``seq`` is its place in the fake's log, the position ``LinkFeed`` cursors count in."""

    seq: int
    kind: EventKind
    subject: str | None = None
    recording_id: str | None = None
    actor: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HeldRecording:
    """What the case stores know of a recording once it is probed."""

    kind: Kind
    device: str | None
    officer: str | None
    start: datetime | None
    end: datetime | None
    ingested_at: datetime
    verified_at: datetime | None = None


class MemoryCaseStores:
    """``ActionStore``, ``CheckoutLedger``, ``LinkStore`` and ``LinkFeed`` (together
    ``CaseStores``, what the case service works with) over dicts and lists.

    One object, as on the SQL side, because the jobs read each other's state: a link needs
    its recording and action, ``actions(device=…)`` goes through the links, and a docking's
    clock reading corrects the recordings the feed hands out. Each change is noted in
    ``log`` as the SQL stores write a custody event. The recordings come from the catalog
    in production; here ``add_recording`` stands for one found, hashed and probed.
    """

    def __init__(self) -> None:
        self.held_actions: dict[str, Action] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.ledger: dict[tuple[str, datetime], Checkout] = {}
        self.dockings: dict[tuple[str, datetime], int | None] = {}
        """(device, docked at) → the camera clock's offset in milliseconds, when it told."""
        self.stored_links: list[StoredLink] = []
        """In the order made, as the SQL links' ids are."""
        self.recordings: dict[str, HeldRecording] = {}
        self.log: list[Noted] = []
        self.cursors: dict[str, int] = {}

    # --- the test's hand on the catalog behind the stores -----------------------------------

    def add_recording(
        self,
        device: str | None,
        officer: str | None,
        start: datetime | None,
        end: datetime | None,
        *,
        ingested_at: datetime,
        kind: Kind = Kind.VIDEO,
        verified_at: datetime | None = None,
        recording_id: str | None = None,
    ) -> str:
        """A recording probed now (its metadata read): the feed sees it from here on."""
        rid = recording_id or f"rec-{len(self.recordings) + 1:016x}"
        self.recordings[rid] = HeldRecording(kind, device, officer, start, end, ingested_at, verified_at)
        self._note(EventKind.PROBED, recording_id=rid, details={"kind": kind.value})
        return rid

    # --- ActionStore ------------------------------------------------------------------------

    def upsert_actions(
        self, actions: Sequence[Action], now: datetime, source: str, actor: str
    ) -> ImportOutcome:
        added: list[str] = []
        changed: list[str] = []
        unchanged = 0
        for action in actions:
            before = self.held_actions.get(action.action_id)
            if before == action:
                unchanged += 1
                continue
            (added if before is None else changed).append(action.action_id)
            self.held_actions[action.action_id] = action
            versions = self.history.setdefault(action.action_id, [])
            record = action.as_record()
            versions.append(
                {
                    "version": len(versions) + 1,
                    "at": utc_iso(now),
                    "source": source,
                    "actor": actor,
                    "record": record,
                }
            )
            self._note(
                EventKind.ACTION_IMPORTED,
                subject=action_subject(action.action_id),
                actor=actor,
                details={"version": len(versions), "record": record, "source": source},
            )
        return ImportOutcome(tuple(added), tuple(changed), unchanged)

    def actions(self, query: ActionQuery) -> list[Action]:
        found = [a for a in self.held_actions.values() if self._matches(a, query)]
        return sorted(found, key=lambda a: (a.start, a.action_id))

    def action_history(self, action_id: str) -> list[dict[str, Any]]:
        return [dict(version) for version in self.history.get(action_id, [])]

    def actions_overlapping(self, lo: datetime, hi: datetime) -> list[Action]:
        return [a for a in self.actions(ActionQuery()) if a.end >= lo and a.start <= hi]

    def _matches(self, action: Action, query: ActionQuery) -> bool:
        # an empty string asks for nothing, as in the SQL store
        if query.case_id and action.case_id != query.case_id:
            return False
        if query.action_id and action.action_id != query.action_id:
            return False
        if query.officer and query.officer not in action.officers:
            return False
        if query.target and query.target not in (action.target_id, action.target_name):
            return False
        if query.device:
            filmed_by = {
                self._device_of(link.recording_id)
                for link in self.stored_links
                if link.action_id == action.action_id and link.removed_at is None
            }
            return query.device in filmed_by
        return True

    # --- CheckoutLedger ---------------------------------------------------------------------

    def upsert_checkouts(
        self, checkouts: Sequence[Checkout], now: datetime, source: str, actor: str
    ) -> ImportOutcome:
        added: list[str] = []
        changed: list[str] = []
        unchanged = 0
        for checkout in checkouts:
            key = (checkout.device, checkout.start)
            before = self.ledger.get(key)
            if before == checkout:
                unchanged += 1
                continue
            subject = checkout_subject(checkout.device, checkout.start)
            (added if before is None else changed).append(subject)
            self.ledger[key] = checkout
            details = {"record": checkout.as_record(), "source": source}
            self._note(EventKind.CHECKOUT_IMPORTED, subject=subject, actor=actor, details=details)
        return ImportOutcome(tuple(added), tuple(changed), unchanged)

    def checkouts(self, device: str | None = None, officer: str | None = None) -> list[Checkout]:
        found = [
            c
            for c in self.ledger.values()
            if (not device or c.device == device) and (not officer or c.officer == officer)
        ]
        return sorted(found, key=lambda c: (c.start, c.device))

    def checkouts_overlapping(self, lo: datetime, hi: datetime) -> list[Checkout]:
        return [c for c in self.checkouts() if (c.end is None or c.end >= lo) and c.start <= hi]

    def record_docking(
        self, device: str, dock: str, docked_at: datetime, camera_time: datetime | None, source: str
    ) -> None:
        if (device, docked_at) in self.dockings:
            return
        offset = None if camera_time is None else round((camera_time - docked_at).total_seconds() * 1000)
        self.dockings[(device, docked_at)] = offset
        details: dict[str, Any] = {"device": device, "source": source}
        if camera_time is not None:
            details |= {"camera_time": camera_time.isoformat(), "clock_offset_ms": offset}
        self._note(EventKind.DOCKED, subject=device_subject(device), details=details)

    # --- LinkStore --------------------------------------------------------------------------

    def apply_proposals(self, proposals: Sequence[LinkProposal], now: datetime) -> list[StoredLink]:
        made: list[StoredLink] = []
        for p in proposals:
            rows = [
                i
                for i, link in enumerate(self.stored_links)
                if (link.recording_id, link.action_id) == (p.recording_id, p.action_id)
            ]
            active = [i for i in rows if self.stored_links[i].removed_at is None]
            if rows and not active:
                continue  # removed by a person: not proposed again
            if active:
                old = self.stored_links[active[0]]
                if old.confidence == Confidence.SUGGESTED and p.confidence is Confidence.AUTO:
                    new = replace(old, confidence=Confidence.AUTO.value, reason=p.reason)
                    self.stored_links[active[0]] = new
                    self._link_event(EventKind.LINKED, new, "auto-link", p.reason, upgraded=True)
                continue
            link = StoredLink(
                p.recording_id,
                p.action_id,
                p.basis.value,
                p.confidence.value,
                p.officer,
                "auto-link",
                p.reason,
                now,
            )
            self.stored_links.append(link)
            self._link_event(EventKind.LINKED, link, "auto-link", p.reason)
            made.append(link)
        return made

    def link(self, recording_id: str, action_id: str, by: str, reason: str, now: datetime) -> StoredLink:
        if recording_id not in self.recordings:
            raise NotFound(f"recording {recording_id!r}")
        if action_id not in self.held_actions:
            raise NotFound(f"action {action_id!r}")
        active = self._active(recording_id, action_id)
        if active and self.stored_links[active[0]].confidence != Confidence.SUGGESTED:
            return self.stored_links[active[0]]
        if active:
            i = active[0]
            link = replace(self.stored_links[i], confidence="confirmed", created_by=by, reason=reason)
            self.stored_links[i] = link
        else:
            link = StoredLink(recording_id, action_id, "manual", "manual", None, by, reason, now)
            self.stored_links.append(link)
        self._link_event(EventKind.LINKED, link, by, reason)
        return link

    def unlink(self, recording_id: str, action_id: str, by: str, reason: str, now: datetime) -> int:
        active = self._active(recording_id, action_id)
        if not active:
            raise NotFound(f"link {recording_id} ↔ {action_id}")
        for i in active:
            removed = replace(self.stored_links[i], removed_at=now, removed_by=by, removed_reason=reason)
            self.stored_links[i] = removed
            self._link_event(EventKind.UNLINKED, removed, by, reason)
        return len(active)

    def links(
        self,
        *,
        recording_ids: Sequence[str] | None = None,
        action_ids: Sequence[str] | None = None,
        include_removed: bool = False,
        device: str | None = None,
    ) -> list[StoredLink]:
        base = sorted(
            (
                (link.action_id, link.recording_id, i)
                for i, link in enumerate(self.stored_links)
                if (include_removed or link.removed_at is None)
                and (device is None or self._device_of(link.recording_id) == device)
            )
        )
        ordered = [self.stored_links[i] for _, _, i in base]
        if recording_ids is None and action_ids is None:
            return ordered
        # those of the recordings first, then those of the actions, as the SQL store reads them
        by_recording = set(recording_ids or ())
        by_action = set(action_ids or ())
        return [link for link in ordered if link.recording_id in by_recording] + [
            link for link in ordered if link.action_id in by_action
        ]

    def _active(self, recording_id: str, action_id: str) -> list[int]:
        return [
            i
            for i, link in enumerate(self.stored_links)
            if (link.recording_id, link.action_id) == (recording_id, action_id) and link.removed_at is None
        ]

    def _link_event(
        self, kind: EventKind, link: StoredLink, by: str, reason: str, upgraded: bool = False
    ) -> None:
        details: dict[str, Any] = {
            "action_id": link.action_id,
            "basis": link.basis,
            "confidence": link.confidence,
        }
        if link.officer:
            details["officer"] = link.officer
        if upgraded:
            details["upgraded"] = True
        self._note(
            kind,
            subject=action_subject(link.action_id),
            recording_id=link.recording_id,
            actor=by,
            reason=reason,
            details=details,
        )

    # --- LinkFeed ---------------------------------------------------------------------------

    def recordings_overlapping(self, lo: datetime, hi: datetime) -> list[RecordingFacts]:
        # the camera's own times, as stored: callers widen the window by more than a clock is off
        return self._facts(
            rid
            for rid, r in self.recordings.items()
            if r.kind is not Kind.OTHER
            and r.end is not None
            and r.start is not None
            and r.end >= lo
            and r.start <= hi
        )

    def recordings_probed_since(self, cursor: int, limit: int) -> tuple[list[RecordingFacts], int]:
        probed = [n for n in self.log if n.seq > cursor and n.kind is EventKind.PROBED][:limit]
        if not probed:
            return [], self.log[-1].seq if self.log else cursor
        ids = {n.recording_id for n in probed if n.recording_id}
        return self._facts(rid for rid in sorted(ids) if self.recordings[rid].kind is not Kind.OTHER), probed[
            -1
        ].seq

    def cursor(self, name: str) -> int:
        return self.cursors.get(name, 0)

    def set_cursor(self, name: str, seq: int) -> None:
        self.cursors[name] = seq

    # --- internals -----------------------------------------------------------------------------

    def _facts(self, ids: Iterable[str]) -> list[RecordingFacts]:
        evidence = ClockEvidence(
            (device, at, timedelta(milliseconds=offset))
            for (device, at), offset in self.dockings.items()
            if offset is not None
        )
        out: list[RecordingFacts] = []
        for rid in ids:
            r = self.recordings[rid]
            out.append(evidence.facts(rid, r.device, r.officer, r.start, r.end, r.verified_at, r.ingested_at))
        return out

    def _device_of(self, recording_id: str) -> str | None:
        held = self.recordings.get(recording_id)
        return None if held is None else held.device

    def _note(
        self,
        kind: EventKind,
        *,
        subject: str | None = None,
        recording_id: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.log.append(
            Noted(len(self.log) + 1, kind, subject, recording_id, actor, reason, dict(details or {}))
        )


@dataclass
class MemoryCustodyNotes:
    """``CustodyNotes`` over the recordings a test adds: each note is a custody event chained
    to the one before, as the catalog chains them (stamped with the ``now`` given, where the
    catalog stamps its own clock)."""

    held: dict[str, Recording] = field(default_factory=dict)
    events: list[CustodyEvent] = field(default_factory=list)
    station: str = "st"
    actor: str = "test"
    """Who a note is by when it does not say: the catalog's actor."""

    def add(self, sha256: str, *, ingested_at: datetime = datetime(2026, 11, 27, tzinfo=UTC)) -> Recording:
        """A verified video of these bytes, as ingest leaves one."""
        rec = Recording(
            id=recording_id_for(sha256),
            sha256=sha256,
            size=1,
            kind=Kind.VIDEO,
            state=RecordingState.VERIFIED,
            station=self.station,
            dock="dock",
            original_name="a.mp4",
            ingested_at=ingested_at,
        )
        self.held[rec.id] = rec
        return rec

    def recording(self, ref: str) -> Recording:
        found = self.held.get(ref)
        if found is None and len(ref) >= 8:
            named = [
                r for r in self.held.values() if r.id.startswith(ref) or r.sha256.startswith(ref.lower())
            ]
            found = named[0] if len(named) == 1 else None
        if found is None:
            raise NotFound(f"recording {ref!r}")
        return found

    def note(
        self,
        action: EventKind,
        now: datetime,
        *,
        recording_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> CustodyEvent:
        event = make_event(
            seq=len(self.events) + 1,
            prev_hash=self.events[-1].leaf_hash if self.events else GENESIS,
            at=now,
            action=action,
            actor=actor or self.actor,
            station=self.station,
            recording_id=recording_id,
            details=details,
            reason=reason,
        )
        self.events.append(event)
        return event


def _conforms() -> None:
    """Never called: ``mypy tests/fakes.py`` fails here when a fake no longer fits its port."""
    _store: ObjectStore = MemoryStore()
    _dock: DockReader = MemoryDock("d")
    _prober: Prober = ScriptedProber()
    _reports: ReportSource = MemoryReportSource()
    _sweeps: SweepStore = MemorySweepStore()
    _actions: ActionStore = MemoryCaseStores()
    _ledger: CheckoutLedger = MemoryCaseStores()
    _links: LinkStore = MemoryCaseStores()
    _feed: LinkFeed = MemoryCaseStores()
    _cases: CaseStores = MemoryCaseStores()
    _notes: CustodyNotes = MemoryCustodyNotes()
    _leader: Leadership = FakeLeadership(LeaderSeat())


@dataclass
class LeaderSeat:
    """The lock the fake daemons compete for (a database's advisory lock, a lock file)."""

    holder: FakeLeadership | None = None


class FakeLeadership:
    """``Leadership`` among fakes on one seat. :meth:`die` is the process killed (the lock
    freed at once), :meth:`cut` its connection lost (the lock freed, and this holder learns it
    at its next check, then tries afresh)."""

    def __init__(self, seat: LeaderSeat) -> None:
        self.seat = seat
        self.tries = 0
        self._cut = False

    def try_lead(self) -> bool:
        self.tries += 1
        if self._cut:
            self._cut = False
            return False
        if self.seat.holder is None:
            self.seat.holder = self
        return self.seat.holder is self

    def release(self) -> None:
        if self.seat.holder is self:
            self.seat.holder = None

    def die(self) -> None:
        self.release()

    def cut(self) -> None:
        if self.seat.holder is self:
            self.seat.holder = None
            self._cut = True


class Clock:
    """The ``Clock`` port, read and moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class MemoryEvidenceRecords:
    """``EvidenceRecords`` over a list; ``down_after`` makes the database fail after that
    many recordings (an outage in the middle of an audit)."""

    def __init__(self, recordings: Sequence[SignedRecording], orphans: Sequence[CustodyEvent] = ()) -> None:
        self.recordings = list(recordings)
        self.orphans = list(orphans)
        self.down_after: int | None = None

    def signed_recordings(self, since: datetime | None = None) -> Iterator[SignedRecording]:
        for i, rec in enumerate(sorted(self.recordings, key=lambda r: r.id)):
            if self.down_after is not None and i >= self.down_after:
                raise DatabaseUnavailable("the memory database went away")
            at = rec.signed_event.fields["at"] if rec.signed_event else None
            if since is None or at is None or datetime.fromisoformat(at) >= since:
                yield rec

    def signed_events_without_recording(self) -> list[CustodyEvent]:
        return list(self.orphans)


class FakeMetrics:
    """The ``Metrics`` port, remembering every call."""

    def __init__(self) -> None:
        self.stages: list[tuple[str, int]] = []
        self.seconds: list[float] = []
        self.errors: list[tuple[str, str]] = []
        self.sweeps: list[float] = []

    def stage_done(self, stage: str, nbytes: int, seconds: float) -> None:
        self.stages.append((stage, nbytes))
        self.seconds.append(seconds)

    def error(self, family: str, kind: str) -> None:
        self.errors.append((family, kind))

    def sweep_done(self, seconds: float) -> None:
        self.sweeps.append(seconds)


def _metrics_conform() -> None:
    """Never called: mypy fails here when the fake no longer fits its port."""
    _metrics: Metrics = FakeMetrics()
