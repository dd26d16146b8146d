"""The catalog: every state change and its custody event in one transaction.

Rows never leave this module; callers get domain values. Custody events are only
ever inserted, each linked to the previous one (see ``domain.custody``); appends are
serialized (SQLite's write lock, a PostgreSQL advisory lock) so that several
processes or stations sharing one database still build one unbroken chain.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, or_, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from recorder_sync.adapters.db import status_view
from recorder_sync.adapters.db.engine import READING
from recorder_sync.adapters.db.log_nodes import store_leaves
from recorder_sync.adapters.db.schema import (
    CustodyEventRow,
    FlagRow,
    LogKeyRow,
    RecordingRow,
    SightingRow,
    StationKeyRow,
)
from recorder_sync.domain.claims import claim_owner, dead_owners, held_by_another
from recorder_sync.domain.custody import GENESIS, CustodyEvent, EventKind, make_event, signed_details
from recorder_sync.domain.errors import (
    ClaimLost,
    DatabaseUnavailable,
    KeyReplaced,
    KeyRevoked,
    NotFound,
    UsageError,
)
from recorder_sync.domain.keylife import LogKeyInfo
from recorder_sync.domain.model import (
    FileIdentity,
    Flag,
    FlagKind,
    FlagState,
    Kind,
    ProbeResult,
    Recording,
    RecordingState,
    Severity,
    Sighting,
    SightingState,
    Sourced,
    StoredObject,
    recording_id_for,
)
from recorder_sync.domain.subjects import file_subject, recording_subject, station_subject
from recorder_sync.domain.times import utc_iso
from recorder_sync.io.processes import pid_alive

if TYPE_CHECKING:
    from recorder_sync.domain.trust import StationKey

_CUSTODY_LOCK = 0x7265635F73796E63  # "rec_sync": PostgreSQL advisory lock id for appends
# with a dock path's hash, in the (int, int) advisory lock space (apart from the one above)
_OBSERVE_LOCK = 0x72730001
_FINAL = [s.value for s in SightingState if s.final]


@dataclass(frozen=True)
class RecordingFilter:
    state: str | None = None
    device: str | None = None
    officer: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None


@dataclass(frozen=True)
class NewEvent:
    """A custody event to append (``SqlCatalog.append_events``); ``actor`` None: the catalog's."""

    action: EventKind
    recording_id: str | None = None
    subject: str | None = None
    details: Mapping[str, Any] | None = None
    reason: str | None = None
    actor: str | None = None


log = logging.getLogger(__name__)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class _Group:
    """The one transaction of a ``SqlCatalog.together`` block, begun at its first use."""

    def __init__(self) -> None:
        self._session: Session | None = None
        self.committed: list[Callable[[], None]] = []  # run once the commit is done

    def session(self, engine: Engine) -> Session:
        if self._session is None:
            self._session = Session(engine, expire_on_commit=False)
            self._session.begin()
        return self._session

    def end(self, *, commit: bool) -> None:
        s, self._session = self._session, None
        if s is None:
            return
        with s:
            if not commit:
                s.rollback()
                return
            s.commit()
        for then in self.committed:
            then()


class SqlCatalog:
    def __init__(
        self,
        engine: Engine,
        *,
        station: str,
        actor: str,
        clock: Callable[[], datetime] = _wall_clock,
        owner: str | None = None,
    ) -> None:
        self.engine = engine
        self.station = station
        self.actor = actor
        # whose work claims this catalog takes: one owner per catalog (and so per process)
        self.owner = owner or claim_owner(station, os.getpid(), secrets.token_hex(4))
        self.clock = clock  # stamps custody events; only tests pass another one
        self._pg = engine.dialect.name == "postgresql"
        self._groups = threading.local()  # the open ``together`` group of each thread
        self._registered: set[str] = set()  # signing keys known to be in the database

    # --- plumbing -------------------------------------------------------------

    @contextmanager
    def transaction(self, *, reading: bool = False) -> Iterator[Session]:
        """``reading``: the transaction writes nothing to the tables (temporary ones aside),
        so on SQLite it need not wait for a writer's lock (ignored inside ``together``)."""
        group: _Group | None = getattr(self._groups, "group", None)
        try:
            if group is None:
                bind = self.engine.execution_options(**{READING: True}) if reading else self.engine
                with Session(bind, expire_on_commit=False) as s, s.begin():
                    yield s
            else:
                # inside ``together``: all or nothing still, as a savepoint of the group's transaction
                s = group.session(self.engine)
                with s.begin_nested():
                    yield s
        except (OperationalError, InterfaceError) as e:
            raise DatabaseUnavailable(str(e.orig)) from e
        except DBAPIError as e:
            if not e.connection_invalidated:  # a refused value is the caller's, not an outage
                raise
            raise DatabaseUnavailable(str(e.orig)) from e

    @contextmanager
    def together(self) -> Iterator[None]:
        """The transitions made inside (by this thread) commit as one transaction at the end,
        one synced commit instead of one each; what a kill before that commit loses is redone,
        as every step is. Each stays all or nothing (a savepoint), and those that completed
        are committed even when a later one raises, as they would have been one by one.
        Callers keep slow work (uploads, hashing) outside: the transaction holds SQLite's
        write lock from its first statement. Nested, it joins the outer one."""
        if getattr(self._groups, "group", None) is not None:
            yield
            return
        group = _Group()
        self._groups.group = group
        try:
            yield
        except BaseException as e:
            self._groups.group = None
            try:
                group.end(commit=not isinstance(e, DatabaseUnavailable))
            except Exception:  # the database failed too (the session is closed: rolled back)
                log.warning("could not commit the transitions made before %r", e, exc_info=True)
            raise
        self._groups.group = None
        try:
            group.end(commit=True)
        except (OperationalError, InterfaceError) as e:
            raise DatabaseUnavailable(str(e.orig)) from e

    def append_event(
        self,
        s: Session,
        action: EventKind,
        at: datetime,
        *,
        recording_id: str | None = None,
        subject: str | None = None,
        details: Mapping[str, Any] | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> CustodyEvent:
        """Append one event to the chain.  ``at`` is the time the change is about (a
        sweep's ``now``, which ``--now`` may move); the event itself is stamped with the
        wall clock, read once the append lock is held, and never earlier than the event
        before it: stamps never go backwards along the chain, whoever writes."""
        event = NewEvent(action, recording_id, subject, details, reason, actor)
        return self.append_events(s, at, [event])[0]

    def append_events(self, s: Session, at: datetime, events: Sequence[NewEvent]) -> list[CustodyEvent]:
        """Append events to the chain in this order, as ``append_event`` does one, with
        one lock, one read of the chain's end, one stamp and one insert for them all (a
        sweep writes thousands)."""
        del at  # kept in the signature: callers state what time the change is about
        if not events:
            return []
        if self._pg:
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CUSTODY_LOCK})
        # SQLite: the transaction began IMMEDIATE, so the write lock is already held here
        last = s.execute(
            select(CustodyEventRow.seq, CustodyEventRow.leaf_hash, CustodyEventRow.at)
            .order_by(CustodyEventRow.seq.desc())
            .limit(1)
        ).first()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        stamp = self.clock()
        if last is not None and last[2] is not None and last[2] > stamp:
            stamp = last[2]  # the wall clock stepped back (or another station's runs ahead)
        out: list[CustodyEvent] = []
        rows: list[dict[str, Any]] = []
        for event in events:
            ev = make_event(
                seq=seq,
                prev_hash=prev,
                at=stamp,
                action=event.action,
                actor=event.actor or self.actor,
                station=self.station,
                recording_id=event.recording_id,
                subject=event.subject,
                details=event.details,
                reason=event.reason,
            )
            rows.append(
                {
                    "seq": ev.seq,
                    "at": stamp,
                    "action": event.action.value,
                    "recording_id": event.recording_id,
                    "body": ev.body,
                    "leaf_hash": ev.leaf_hash,
                }
            )
            out.append(ev)
            seq, prev = seq + 1, ev.leaf_hash
        s.execute(insert(CustodyEventRow), rows)
        # the Merkle tree grows in the events' transaction
        store_leaves(s, out[0].seq, [ev.leaf_hash for ev in out])
        return out

    def flag_in(self, s: Session, flag: Flag, at: datetime) -> None:
        """Raise a flag once per (kind, subject) while it is not resolved."""
        existing = s.scalar(
            select(FlagRow).where(
                FlagRow.kind == flag.kind.value,
                FlagRow.subject == flag.subject,
                FlagRow.state.in_([FlagState.OPEN.value, FlagState.ACKNOWLEDGED.value]),
            )
        )
        if existing is not None:
            return
        s.add(
            FlagRow(
                kind=flag.kind.value,
                severity=flag.severity.value,
                subject=flag.subject,
                recording_id=flag.recording_id,
                detail=flag.detail,
                due=flag.due,
                state=FlagState.OPEN.value,
                raised_at=at,
                updated_at=at,
            )
        )
        self.append_event(
            s,
            EventKind.FLAGGED,
            at,
            recording_id=flag.recording_id,
            subject=flag.subject,
            details={"kind": flag.kind.value, "severity": flag.severity.value, "detail": flag.detail},
        )

    # --- sightings --------------------------------------------------------------

    def observe(self, dock: str, relpath: str, ident: FileIdentity, now: datetime) -> Sighting:
        """Record that a file is at a dock path; a new file (or a replaced one) starts a sighting."""
        with self.transaction() as s:
            if self._pg:
                # two daemons that see one dock folder scan it at the same time: without this,
                # both could find no sighting and insert one each (the file hashed twice, and a
                # spurious duplicate-seen); SQLite's write lock already serializes the two
                s.execute(
                    text("SELECT pg_advisory_xact_lock(:c, hashtext(:k))"),
                    {"c": _OBSERVE_LOCK, "k": _subject(dock, relpath)},
                )
            row = s.scalar(
                select(SightingRow)
                .where(
                    SightingRow.dock == dock, SightingRow.relpath == relpath, SightingRow.state.not_in(_FINAL)
                )
                .order_by(SightingRow.id.desc())
                .limit(1)
            )
            if row is not None and row.state in (SightingState.DISCOVERED, SightingState.STABLE):
                if _identity(row) != ident:
                    _set_identity(row, ident)
                    row.state = SightingState.DISCOVERED.value
                    row.last_change = now
                    row.updated_at = now
                return _sighting(row)
            if row is not None and _identity(row) == ident:
                return _sighting(row)
            if row is None:
                # a file we already released or kept, seen again unchanged: not new evidence
                done = s.scalar(
                    select(SightingRow)
                    .where(SightingRow.dock == dock, SightingRow.relpath == relpath)
                    .order_by(SightingRow.id.desc())
                    .limit(1)
                )
                if done is not None and done.state == SightingState.KEPT and _identity(done) == ident:
                    return _sighting(done)
            row = SightingRow(
                dock=dock,
                relpath=relpath,
                state=SightingState.DISCOVERED.value,
                first_seen=now,
                last_change=now,
                updated_at=now,
                attempts=0,
            )
            _set_identity(row, ident)
            s.add(row)
            s.flush()
            self.append_event(
                s,
                EventKind.DISCOVERED,
                now,
                subject=_subject(dock, relpath),
                details={"size": ident.size, "mtime_ns": str(ident.mtime_ns), "inode": str(ident.inode)},
            )
            return _sighting(row)

    def reject(self, dock: str, relpath: str, reason: str, now: datetime, *, flag: Flag) -> bool:
        """Record a refused entry (link, special file) once, with its flag; True when it is new."""
        with self.transaction() as s:
            seen = s.scalar(
                select(SightingRow.id).where(
                    SightingRow.dock == dock,
                    SightingRow.relpath == relpath,
                    SightingRow.state == SightingState.REJECTED.value,
                )
            )
            if seen is not None:
                return False
            row = SightingRow(
                dock=dock,
                relpath=relpath,
                size=0,
                mtime_ns=0,
                inode=0,
                devno=0,
                state=SightingState.REJECTED.value,
                first_seen=now,
                last_change=now,
                updated_at=now,
                attempts=0,
                last_error=reason,
            )
            s.add(row)
            s.flush()
            subject = _subject(dock, relpath)
            self.append_event(s, EventKind.REJECTED, now, subject=subject, reason=reason)
            self.flag_in(s, flag, now)
            return True

    def sighting(self, sighting_id: int) -> Sighting:
        with self.transaction() as s:
            row = s.get(SightingRow, sighting_id)
            if row is None:
                raise NotFound(f"sighting {sighting_id}")
            return _sighting(row)

    def pending_sightings(self, dock: str | None = None) -> list[Sighting]:
        with self.transaction() as s:
            q = select(SightingRow).where(SightingRow.state.not_in(_FINAL)).order_by(SightingRow.id)
            if dock is not None:
                q = q.where(SightingRow.dock == dock)
            return [_sighting(r) for r in s.scalars(q)]

    def sightings_of(self, recording_id: str) -> list[Sighting]:
        with self.transaction() as s:
            q = select(SightingRow).where(SightingRow.recording_id == recording_id).order_by(SightingRow.id)
            return [_sighting(r) for r in s.scalars(q)]

    def sighting_changed(self, sighting_id: int, ident: FileIdentity, now: datetime, error: str) -> None:
        with self.transaction() as s:
            row = self._claimable(_get(s, SightingRow, sighting_id), now)
            _set_identity(row, ident)
            row.state = SightingState.DISCOVERED.value
            row.last_change = now
            row.updated_at = now
            row.attempts += 1
            row.last_error = error

    def sighting_error(self, sighting_id: int, error: str, now: datetime) -> None:
        with self.transaction() as s:
            row = self._claimable(_get(s, SightingRow, sighting_id), now)
            row.attempts += 1
            row.last_error = error
            row.updated_at = now

    def mark_stable(self, sighting_id: int, now: datetime) -> None:
        with self.transaction() as s:
            row = self._claimable(_get(s, SightingRow, sighting_id), now)
            if row.state != SightingState.DISCOVERED:
                return
            row.state = SightingState.STABLE.value
            row.updated_at = now
            self.append_event(
                s, EventKind.STABLE, now, subject=_subject(row.dock, row.relpath), details={"size": row.size}
            )

    def mark_gone(self, sighting_id: int, now: datetime) -> None:
        with self.transaction() as s:
            row = self._claimable(_get(s, SightingRow, sighting_id), now)
            if SightingState(row.state).final:
                return
            row.state = SightingState.GONE.value
            row.updated_at = now
            subject = _subject(row.dock, row.relpath)
            self.append_event(s, EventKind.GONE, now, recording_id=row.recording_id, subject=subject)
            if row.recording_id is None:
                self.flag_in(
                    s,
                    Flag(
                        FlagKind.FILE_VANISHED,
                        Severity.HIGH,
                        subject,
                        "file left the dock before it could be hashed; it was never ingested",
                    ),
                    now,
                )

    def attach_hash(
        self,
        sighting_id: int,
        *,
        sha256: str,
        ident: FileIdentity,
        kind_hint: Kind,
        sidecar: str | None,
        now: datetime,
        sidecar_sha256: str | None = None,
    ) -> tuple[Recording, bool]:
        """Link a sighting to the recording of its bytes; True when those bytes were already known."""
        side = (sidecar, sidecar_sha256)
        try:
            return self._attach_hash(sighting_id, sha256, ident, kind_hint, side, now)
        except IntegrityError:
            # the same bytes hashed at the same moment on another dock (or station) made the
            # recording first: this sighting is then a duplicate of it
            return self._attach_hash(sighting_id, sha256, ident, kind_hint, side, now)

    def _attach_hash(
        self,
        sighting_id: int,
        sha256: str,
        ident: FileIdentity,
        kind_hint: Kind,
        side: tuple[str | None, str | None],
        now: datetime,
    ) -> tuple[Recording, bool]:
        sidecar, sidecar_sha256 = side
        with self.transaction() as s:
            row = self._claimable(_get(s, SightingRow, sighting_id), now)
            subject = _subject(row.dock, row.relpath)
            if row.state not in (SightingState.DISCOVERED, SightingState.STABLE):
                # hashed already (by a process that took the claim over after ours lapsed):
                # a second outcome would be a spurious duplicate-seen
                raise ClaimLost(subject, f"already {row.state}")
            rec = s.scalar(select(RecordingRow).where(RecordingRow.sha256 == sha256))
            duplicate = rec is not None
            if rec is not None and rec.next_attempt_at is not None:
                rec.next_attempt_at = None  # docked again: a recording waiting for its source may go on now
            if rec is None:
                rec = RecordingRow(
                    id=recording_id_for(sha256),
                    sha256=sha256,
                    size=ident.size,
                    kind=kind_hint.value,
                    state=RecordingState.HASHED.value,
                    station=self.station,
                    dock=row.dock,
                    original_name=row.relpath,
                    ingested_at=now,
                    updated_at=now,
                    sidecar=sidecar,
                    sidecar_sha256=sidecar_sha256,
                    attempts=0,
                    important=False,
                    metadata_json="{}",
                    media_json="{}",
                )
                s.add(rec)
                s.flush()
            row.recording_id = rec.id
            row.state = SightingState.HASHED.value
            row.updated_at = now
            row.last_error = None
            _set_identity(row, ident)
            self.append_event(
                s,
                EventKind.DUPLICATE_SEEN if duplicate else EventKind.HASHED,
                now,
                recording_id=rec.id,
                subject=subject,
                details={"sha256": sha256, "size": ident.size},
            )
            return _recording(rec), duplicate

    def release(self, sighting_id: int, outcome: SightingState, now: datetime, reason: str) -> None:
        with self.transaction() as s:
            row = self._claimable(_get(s, SightingRow, sighting_id), now)
            if SightingState(row.state).final:
                return
            row.state = outcome.value
            row.updated_at = now
            row.last_error = None
            action = EventKind.RELEASED if outcome == SightingState.RELEASED else EventKind.KEPT
            self.append_event(
                s,
                action,
                now,
                recording_id=row.recording_id,
                subject=_subject(row.dock, row.relpath),
                reason=reason,
            )
            if outcome == SightingState.RELEASED and row.recording_id is not None:
                rec = _get(s, RecordingRow, row.recording_id)
                if rec.state == RecordingState.VERIFIED:
                    rec.state = RecordingState.RELEASED.value
                    rec.released_at = now
                    rec.updated_at = now

    # --- recordings -------------------------------------------------------------

    def pending_recordings(self, now: datetime | None = None) -> list[Recording]:
        with self.transaction() as s:
            q = (
                select(RecordingRow)
                .where(RecordingRow.state.in_([st.value for st in RecordingState if st.pending]))
                .order_by(RecordingRow.ingested_at)
            )
            if now is not None:
                q = q.where((RecordingRow.next_attempt_at.is_(None)) | (RecordingRow.next_attempt_at <= now))
            return [_recording(r) for r in s.scalars(q)]

    def recording(self, ref: str) -> Recording:
        """By recording id, or by SHA-256 (or a unique prefix of either, at least 8 characters)."""
        with self.transaction() as s:
            row = s.get(RecordingRow, ref)
            if row is None and len(ref) >= 8:
                rows = s.scalars(
                    select(RecordingRow)
                    .where(RecordingRow.id.startswith(ref) | RecordingRow.sha256.startswith(ref.lower()))
                    .limit(2)
                ).all()
                row = rows[0] if len(rows) == 1 else None
            if row is None:
                raise NotFound(f"recording {ref!r}")
            return _recording(row)

    def list_recordings(self, f: RecordingFilter = RecordingFilter()) -> list[Recording]:
        with self.transaction() as s:
            q = select(RecordingRow).order_by(
                RecordingRow.start.is_(None), RecordingRow.start, RecordingRow.id
            )
            if f.state:
                q = q.where(RecordingRow.state == f.state)
            if f.device:
                q = q.where(RecordingRow.device == f.device)
            if f.officer:
                q = q.where(RecordingRow.officer == f.officer)
            if f.since:
                q = q.where(RecordingRow.end >= f.since)
            if f.until:
                q = q.where(RecordingRow.start <= f.until)
            if f.limit:
                q = q.limit(f.limit)
            return [_recording(r) for r in s.scalars(q)]

    def record_probe(
        self,
        recording_id: str,
        probe: ProbeResult,
        metadata: Mapping[str, Sourced],
        now: datetime,
        *,
        flag: Flag | None,
    ) -> Recording:
        """Store what the probe found, and the flag ingest decided on (if any) with it."""
        with self.transaction() as s:
            rec = self._claimable(_get(s, RecordingRow, recording_id), now)
            if RecordingState(rec.state).at_least(RecordingState.PROBED):
                return _recording(rec)
            rec.kind = probe.kind.value
            rec.duration_ms = probe.duration_ms
            rec.media_json = json.dumps(_media(probe), sort_keys=True)
            rec.metadata_json = json.dumps({k: _sourced_json(v) for k, v in metadata.items()}, sort_keys=True)
            rec.device = _str_or_none(metadata.get("device"))
            rec.officer = _str_or_none(metadata.get("officer"))
            rec.start = _time_or_none(metadata.get("start"))
            rec.end = _time_or_none(metadata.get("end"))
            rec.important = bool(metadata["important"].value) if "important" in metadata else False
            rec.state = RecordingState.PROBED.value
            rec.updated_at = now
            rec.last_error = None
            self.append_event(
                s,
                EventKind.PROBED,
                now,
                recording_id=rec.id,
                details={
                    "kind": probe.kind.value,
                    "readable": probe.readable,
                    "duration_ms": probe.duration_ms,
                },
            )
            if flag is not None:
                self.flag_in(s, flag, now)
            return _recording(rec)

    def record_signature(
        self,
        recording_id: str,
        manifest: bytes,
        signature: bytes,
        key_id: str,
        public_pem: bytes,
        now: datetime,
    ) -> None:
        self._register_key(key_id, public_pem, now)
        with self.transaction() as s:
            rec = self._claimable(_get(s, RecordingRow, recording_id), now)
            if RecordingState(rec.state).at_least(RecordingState.SIGNED):
                return
            key = s.get(StationKeyRow, key_id)
            if key is not None and key.revoked_at is not None:
                # a daemon that loaded the key before it was revoked: its signature would not
                # verify, so the recording waits (retried) until the key is replaced
                raise KeyRevoked(key_id, utc_iso(key.revoked_at), key.revoke_reason or "")
            if key is not None and key.valid_until is not None and now >= key.valid_until:
                # keys rotate while a daemon runs: an auditor would find this signature
                # after the key's window, so it is not recorded (the daemon takes the new key)
                raise KeyReplaced("Station", key_id, utc_iso(key.valid_until))
            rec.manifest = manifest
            rec.signature = signature
            rec.key_id = key_id
            rec.state = RecordingState.SIGNED.value
            rec.updated_at = now
            self.append_event(
                s, EventKind.SIGNED, now, recording_id=rec.id, details=signed_details(key_id, manifest)
            )

    def _register_key(self, key_id: str, public_pem: bytes, now: datetime) -> None:
        """Keep the public key beside the manifests it signed (once; workers may race to it)."""
        if key_id in self._registered:  # a key row is never deleted
            return
        try:
            with self.transaction() as s:
                if s.get(StationKeyRow, key_id) is None:
                    s.add(
                        StationKeyRow(
                            key_id=key_id, station=self.station, public_pem=public_pem, first_used=now
                        )
                    )
        except IntegrityError:
            pass  # another worker registered it first
        self._after_commit(lambda: self._registered.add(key_id))

    def _after_commit(self, then: Callable[[], None]) -> None:
        """``then`` once what this thread wrote is committed (at once outside ``together``)."""
        group: _Group | None = getattr(self._groups, "group", None)
        if group is None:
            then()
        else:
            group.committed.append(then)

    def station_key(self) -> str | None:
        """The key id this station signs with: the newest of its keys not retired (None
        until it has signed anything)."""
        with self.transaction() as s:
            key: str | None = s.scalar(
                select(StationKeyRow.key_id)
                .where(StationKeyRow.station == self.station, StationKeyRow.valid_until.is_(None))
                .order_by(StationKeyRow.first_used.desc(), StationKeyRow.key_id)
                .limit(1)
            )
            return key

    def station_keys(self) -> list[StationKey]:
        """Every key that signed for any station of this database, with its validity window:
        what ``keys export-trust`` hands to auditors."""
        from recorder_sync.domain.trust import StationKey  # cryptography: only where keys are read

        with self.transaction() as s:
            rows = s.scalars(select(StationKeyRow).order_by(StationKeyRow.first_used, StationKeyRow.key_id))
            return [
                StationKey(
                    r.key_id,
                    r.station,
                    r.public_pem,
                    r.first_used,
                    r.valid_until,
                    r.revoked_at,
                    r.previous_key_id,
                    r.rotation_signature,
                )
                for r in rows
            ]

    def revoke_reasons(self) -> dict[str, str]:
        """Why each revoked key was revoked, by key id."""
        with self.transaction() as s:
            rows = s.execute(
                select(StationKeyRow.key_id, StationKeyRow.revoke_reason).where(
                    StationKeyRow.revoked_at.is_not(None)
                )
            )
            return {key_id: reason or "" for key_id, reason in rows}

    def key_revocation(self, key_id: str) -> tuple[datetime, str] | None:
        """When and why ``key_id`` was revoked (None: it was not)."""
        with self.transaction() as s:
            row = s.get(StationKeyRow, key_id)
            if row is None or row.revoked_at is None:
                return None
            return row.revoked_at, row.revoke_reason or ""

    def revoke_station_key(self, key_id: str, at: datetime, reason: str, now: datetime) -> datetime | None:
        """From ``at`` on, ``key_id``'s signatures do not count: recorded with a ``key-revoked``
        custody event (who, why, from when). Returns the earlier revocation time it replaces;
        a revocation only ever moves earlier (``UsageError`` otherwise: a later time would make
        signatures count again)."""
        with self.transaction() as s:
            row = s.get(StationKeyRow, key_id, with_for_update=self._pg)
            if row is None:
                raise NotFound(f"station key {key_id} (recorder-sync keys list shows the keys)")
            before = row.revoked_at
            if before is not None and at >= before:
                raise UsageError(
                    f"key {key_id} is already revoked from {utc_iso(before)} on; a revocation can only "
                    "move earlier (a later one would make signatures count again)"
                )
            row.revoked_at = at
            row.revoke_reason = reason
            self.append_event(
                s,
                EventKind.KEY_REVOKED,
                now,
                subject=station_subject(row.station),
                details={
                    "key_id": key_id,
                    "revoked_at": utc_iso(at),
                    "earlier_revocation": utc_iso(before) if before else None,
                },
                reason=reason,
            )
            return before

    def replace_station_key(
        self,
        key_id: str,
        public_pem: bytes,
        now: datetime,
        reason: str,
        details: Mapping[str, Any],
        *,
        previous_key_id: str | None = None,
        rotation_signature: bytes | None = None,
    ) -> list[str]:
        """Retire the station's keys and make ``key_id`` the one it signs with, as one
        custody event; returns the retired key ids. Their public keys stay, so what they
        signed still verifies. ``rotation_signature`` is ``previous_key_id``'s signature
        over the new key's raw public bytes (None: the old key could not sign)."""
        with self.transaction() as s:
            retired = list(
                s.scalars(
                    select(StationKeyRow).where(
                        StationKeyRow.station == self.station, StationKeyRow.valid_until.is_(None)
                    )
                )
            )
            for row in retired:
                row.valid_until = now
            if s.get(StationKeyRow, key_id) is None:
                s.add(
                    StationKeyRow(
                        key_id=key_id,
                        station=self.station,
                        public_pem=public_pem,
                        first_used=now,
                        previous_key_id=previous_key_id,
                        rotation_signature=rotation_signature,
                    )
                )
            old = sorted(row.key_id for row in retired)
            self.append_event(
                s,
                EventKind.KEY_REPLACED,
                now,
                subject=station_subject(self.station),
                details={**details, "retired_key_ids": old, "key_id": key_id},
                reason=reason,
            )
            return old

    def log_keys(self, origin: str) -> list[LogKeyInfo]:
        """Every registered key of the log ``origin``, oldest first."""
        with self.transaction() as s:
            rows = s.scalars(
                select(LogKeyRow)
                .where(LogKeyRow.origin == origin)
                .order_by(LogKeyRow.valid_from, LogKeyRow.key_id)
            )
            return [
                LogKeyInfo(
                    r.origin,
                    r.key_id,
                    r.public_raw,
                    r.valid_from,
                    r.valid_until,
                    r.previous_key_id,
                    r.rotation_signature,
                )
                for r in rows
            ]

    def register_log_key(self, origin: str, key_id: str, public_raw: bytes, now: datetime) -> None:
        """Keep the log key in use (once; a station upgraded from before log keys were kept
        registers its key when it first signs or exports the trust anchors). A key that
        ``keys rotate --log`` replaced is refused from then on (``KeyReplaced``): a process
        that loaded it before would sign past its window."""
        try:
            with self.transaction() as s:
                row = s.get(LogKeyRow, key_id)
                if row is None:
                    s.add(LogKeyRow(key_id=key_id, origin=origin, public_raw=public_raw, valid_from=now))
                elif row.valid_until is not None and now >= row.valid_until:
                    raise KeyReplaced("Log", key_id, utc_iso(row.valid_until))
        except IntegrityError:
            pass  # another process registered it first

    def rotate_log_key(
        self,
        origin: str,
        key_id: str,
        public_raw: bytes,
        now: datetime,
        reason: str,
        *,
        previous_key_id: str,
        rotation_signature: bytes,
    ) -> None:
        """End the validity of the origin's current log key and register ``key_id`` after it,
        as one ``log-key-rotated`` custody event."""
        with self.transaction() as s:
            for row in s.scalars(
                select(LogKeyRow).where(LogKeyRow.origin == origin, LogKeyRow.valid_until.is_(None))
            ):
                row.valid_until = now
            s.add(
                LogKeyRow(
                    key_id=key_id,
                    origin=origin,
                    public_raw=public_raw,
                    valid_from=now,
                    previous_key_id=previous_key_id,
                    rotation_signature=rotation_signature,
                )
            )
            self.append_event(
                s,
                EventKind.LOG_KEY_ROTATED,
                now,
                subject=station_subject(self.station),
                details={
                    "origin": origin,
                    "previous_key_id": previous_key_id,
                    "key_id": key_id,
                    "rotation_signature": base64.b64encode(rotation_signature).decode("ascii"),
                },
                reason=reason,
            )

    def record_stored(self, recording_id: str, stored: StoredObject, now: datetime) -> None:
        with self.transaction() as s:
            rec = self._claimable(_get(s, RecordingRow, recording_id), now)
            if RecordingState(rec.state).at_least(RecordingState.STORED):
                return
            # stored before: this copy replaces one that failed a check (see stored_copy_failed)
            restored = rec.stored_at is not None
            details = _stored_details(stored)
            if restored:
                details["replaces"] = _where(rec)
            rec.storage_uri = stored.uri
            rec.version_id = stored.version_id
            rec.stored_at = now
            rec.state = RecordingState.STORED.value
            rec.updated_at = now
            rec.attempts = 0
            rec.last_error = None
            rec.next_attempt_at = None
            action = EventKind.RESTORED if restored else EventKind.STORED
            self.append_event(s, action, now, recording_id=rec.id, details=details)
            for kind in (FlagKind.SOURCE_UNAVAILABLE, FlagKind.STORAGE_REJECTED):
                self.resolve_in(
                    s, kind, recording_subject(rec.id), now, self.actor, f"stored as {stored.uri}"
                )

    def record_verified(self, recording_id: str, stored: StoredObject, now: datetime) -> None:
        with self.transaction() as s:
            rec = self._claimable(_get(s, RecordingRow, recording_id), now)
            if RecordingState(rec.state).at_least(RecordingState.VERIFIED):
                return
            # the first verification dates the upload (deadlines, reports); a restored copy's
            # verification is in the custody log and does not make the upload late
            if rec.verified_at is None:
                rec.verified_at = now
            rec.state = RecordingState.VERIFIED.value
            rec.updated_at = now
            rec.attempts = 0
            rec.last_error = None
            rec.next_attempt_at = None
            self.append_event(
                s, EventKind.VERIFIED, now, recording_id=rec.id, details=_stored_details(stored)
            )

    def stored_copy_failed(self, recording_id: str, problem: str, flag: Flag, now: datetime) -> bool:
        """Send a verified (or released) recording back to SIGNED, so that its stored copy is
        stored again and verified; the custody event and the flag say what failed."""
        with self.transaction() as s:
            rec = self._claimable(_get(s, RecordingRow, recording_id), now)
            if not RecordingState(rec.state).at_least(RecordingState.VERIFIED):
                return False
            details = {**_where(rec), "was": rec.state}
            rec.state = RecordingState.SIGNED.value
            rec.updated_at = now
            rec.attempts = 0
            rec.last_error = problem
            rec.next_attempt_at = None
            self.append_event(
                s, EventKind.INTEGRITY_FAILURE, now, recording_id=rec.id, details=details, reason=problem
            )
            self.flag_in(s, flag, now)
            return True

    def recording_error(
        self,
        recording_id: str,
        error: str,
        now: datetime,
        retry_at: datetime | None,
        flag: Flag | None = None,
    ) -> int:
        """Note a failed step; returns the number of failed attempts so far."""
        with self.transaction() as s:
            rec = self._claimable(_get(s, RecordingRow, recording_id), now)
            rec.attempts += 1
            rec.last_error = error
            rec.next_attempt_at = retry_at
            rec.updated_at = now
            if flag is not None:
                self.flag_in(s, flag, now)
            attempts: int = rec.attempts
            return attempts

    # --- work claims (leases on rows) -------------------------------------------

    def claim_sightings(
        self, docks: Collection[str], now: datetime, until: datetime, *, after: int = 0, limit: int = 64
    ) -> list[Sighting]:
        """Claim for ``self.owner``, until ``until``, up to ``limit`` pending sightings of
        ``docks`` after id ``after`` (in id order) that no one else holds (their claim free,
        lapsed, or ours already); return them. Atomic: PostgreSQL locks the rows it picks and
        skips those another claim is taking (``FOR UPDATE SKIP LOCKED``); SQLite's write lock
        serializes the claims."""
        free = _free(SightingRow, self.owner, now)
        with self.transaction() as s:
            q = (
                select(SightingRow.id)
                .where(
                    SightingRow.state.not_in(_FINAL),
                    SightingRow.dock.in_(list(docks)),
                    SightingRow.id > after,
                    free,
                )
                .order_by(SightingRow.id)
                .limit(limit)
            )
            ids = list(s.scalars(q.with_for_update(skip_locked=True) if self._pg else q))
            if not ids:
                return []
            s.execute(
                update(SightingRow)
                .where(SightingRow.id.in_(ids))
                .values(claimed_by=self.owner, claimed_until=until)
            )
            rows = s.scalars(select(SightingRow).where(SightingRow.id.in_(ids)).order_by(SightingRow.id))
            return [_sighting(r) for r in rows]

    def claim_recordings(
        self,
        now: datetime,
        until: datetime,
        *,
        after: tuple[datetime, str] | None = None,
        limit: int = 64,
    ) -> list[Recording]:
        """As ``claim_sightings``, for recordings not yet verified whose next attempt is due, in
        (ingested_at, id) order after ``after``."""
        free = _free(RecordingRow, self.owner, now)
        with self.transaction() as s:
            q = select(RecordingRow.id).where(
                RecordingRow.state.in_([st.value for st in RecordingState if st.pending]),
                (RecordingRow.next_attempt_at.is_(None)) | (RecordingRow.next_attempt_at <= now),
                free,
            )
            if after is not None:
                at, rid = after
                q = q.where(
                    (RecordingRow.ingested_at > at)
                    | ((RecordingRow.ingested_at == at) & (RecordingRow.id > rid))
                )
            q = q.order_by(RecordingRow.ingested_at, RecordingRow.id).limit(limit)
            ids = list(s.scalars(q.with_for_update(skip_locked=True) if self._pg else q))
            if not ids:
                return []
            s.execute(
                update(RecordingRow)
                .where(RecordingRow.id.in_(ids))
                .values(claimed_by=self.owner, claimed_until=until)
            )
            rows = s.scalars(
                select(RecordingRow)
                .where(RecordingRow.id.in_(ids))
                .order_by(RecordingRow.ingested_at, RecordingRow.id)
            )
            return [_recording(r) for r in rows]

    def renew_claim(self, table: str, key: int | str, until: datetime) -> bool:
        """Extend our claim on one row; False when it is no longer ours (it lapsed and another
        process took it over): the work on that row must stop."""
        model = _CLAIMABLE[table]
        with self.transaction() as s:
            done = s.execute(
                update(model)
                .where(model.__mapper__.primary_key[0] == key, model.claimed_by == self.owner)
                .values(claimed_until=until)
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def release_claims(self, table: str, keys: Collection[int | str]) -> None:
        """Let go of our claims on these rows (those another process took over stay its own)."""
        if not keys:
            return
        model = _CLAIMABLE[table]
        with self.transaction() as s:
            s.execute(
                update(model)
                .where(model.__mapper__.primary_key[0].in_(list(keys)), model.claimed_by == self.owner)
                .values(claimed_by=None, claimed_until=None)
            )

    def free_claims_of_dead(self, alive: Callable[[int], bool] | None = None) -> list[str]:
        """Let go of the claims of this station's earlier processes that are dead (a kill -9,
        a crash); returns their owners. Another station's claims lapse with their lease."""
        with self.transaction() as s:
            owners = {
                o
                for model in _CLAIMABLE.values()
                for o in s.scalars(select(model.claimed_by).where(model.claimed_by.is_not(None)).distinct())
            }
            # a station is one machine: its processes are this machine's
            dead = dead_owners(
                owners, self.station, self.owner, alive or pid_alive
            )  # a station is one machine
            if dead:
                for model in _CLAIMABLE.values():
                    s.execute(
                        update(model)
                        .where(model.claimed_by.in_(dead))
                        .values(claimed_by=None, claimed_until=None)
                    )
            return dead

    def _claimable(self, row: Any, now: datetime) -> Any:
        """``row`` (locked by ``_get``) unless another process holds a live claim on it: then
        that process is working it, and an outcome written here would be a second one."""
        if held_by_another(row.claimed_by, row.claimed_until, self.owner, now):
            raise ClaimLost(
                f"{row.__tablename__[:-1]} {row.id}",
                f"claimed by {row.claimed_by} until {utc_iso(row.claimed_until)}",
            )
        return row

    # --- flags, events, status -------------------------------------------------

    def raise_flag(self, flag: Flag, now: datetime) -> None:
        with self.transaction() as s:
            self.flag_in(s, flag, now)

    def resolve_flags(self, kind: FlagKind, subject: str, now: datetime, by: str, reason: str) -> int:
        with self.transaction() as s:
            return self.resolve_in(s, kind, subject, now, by, reason)

    def resolve_in(
        self, s: Session, kind: FlagKind, subject: str, now: datetime, by: str, reason: str
    ) -> int:
        """Resolve the open flags of (kind, subject) inside the caller's transaction."""
        rows = s.scalars(
            select(FlagRow).where(
                FlagRow.kind == kind.value,
                FlagRow.subject == subject,
                FlagRow.state.in_([FlagState.OPEN.value, FlagState.ACKNOWLEDGED.value]),
            )
        ).all()
        for row in rows:
            row.state = FlagState.RESOLVED.value
            row.resolved_at = now
            row.resolved_by = by
            row.reason = reason
            row.updated_at = now
            self.append_event(
                s,
                EventKind.FLAG_RESOLVED,
                now,
                recording_id=row.recording_id,
                subject=subject,
                details={"kind": kind.value, "flag_id": row.id},
                reason=reason,
                actor=by,
            )
        return len(rows)

    def flags(self, *, state: str | None = None, recording_id: str | None = None) -> list[Flag]:
        with self.transaction() as s:
            q = select(FlagRow).order_by(FlagRow.id)
            if state == "unresolved":
                q = q.where(FlagRow.state.in_([FlagState.OPEN.value, FlagState.ACKNOWLEDGED.value]))
            elif state:
                q = q.where(FlagRow.state == state)
            if recording_id:
                q = q.where(FlagRow.recording_id == recording_id)
            return [flag_from_row(r) for r in s.scalars(q)]

    def events(self, recording_id: str | None = None, after_seq: int = 0) -> list[CustodyEvent]:
        with self.transaction() as s:
            q = select(CustodyEventRow).where(CustodyEventRow.seq > after_seq).order_by(CustodyEventRow.seq)
            if recording_id is not None:
                q = q.where(CustodyEventRow.recording_id == recording_id)
            return [CustodyEvent(seq=r.seq, body=r.body, leaf_hash=r.leaf_hash) for r in s.scalars(q)]

    def public_key(self, key_id: str) -> bytes:
        with self.transaction() as s:
            row = s.get(StationKeyRow, key_id)
            if row is None:
                raise NotFound(f"public key {key_id}")
            return row.public_pem

    def status(self) -> dict[str, Any]:
        with self.transaction() as s:
            return status_view.pipeline_status(s.connection())

    def retry_now(self, recording_ids: Collection[str]) -> int:
        """Lift the backoff of these pending recordings (an operator's ``ingest`` asks for them
        now, e.g. after freeing space); returns how many were waiting."""
        if not recording_ids:
            return 0
        pending = [st.value for st in RecordingState if st.pending]
        with self.transaction() as s:
            done = s.execute(
                update(RecordingRow)
                .where(
                    RecordingRow.id.in_(list(recording_ids)),
                    RecordingRow.state.in_(pending),
                    RecordingRow.next_attempt_at.is_not(None),
                )
                .values(next_attempt_at=None)
            )
            return int(done.rowcount)  # type: ignore[attr-defined]

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
        """A custody event that changes no state (legal hold, access): who, what, when, why."""
        with self.transaction() as s:
            return self.append_event(
                s, action, now, recording_id=recording_id, details=details, reason=reason, actor=actor
            )

    def touch_recording(self, recording_id: str, now: datetime) -> None:
        with self.transaction() as s:
            s.execute(update(RecordingRow).where(RecordingRow.id == recording_id).values(updated_at=now))


# --- row ↔ domain conversion ------------------------------------------------------


_CLAIMABLE: dict[str, Any] = {"sightings": SightingRow, "recordings": RecordingRow}


def _free(model: Any, owner: str, now: datetime) -> Any:
    """Rows whose claim binds no one but ``owner``: none, ours, or lapsed."""
    return or_(model.claimed_by.is_(None), model.claimed_by == owner, model.claimed_until <= now)


def _subject(dock: str, relpath: str) -> str:
    return file_subject(dock, relpath)


def _get(s: Session, model: Any, key: Any) -> Any:
    row = s.get(model, key, with_for_update=s.bind.dialect.name == "postgresql" if s.bind else False)
    if row is None:
        raise NotFound(f"{model.__tablename__} {key}")
    return row


def _identity(row: SightingRow) -> FileIdentity:
    return FileIdentity(
        size=row.size, mtime_ns=row.mtime_ns, inode=row.inode, device=row.devno, ctime_ns=row.ctime_ns
    )


def _set_identity(row: SightingRow, ident: FileIdentity) -> None:
    row.size, row.mtime_ns, row.inode, row.devno = ident.size, ident.mtime_ns, ident.inode, ident.device
    row.ctime_ns = ident.ctime_ns


def _sighting(row: SightingRow) -> Sighting:
    return Sighting(
        id=row.id,
        dock=row.dock,
        relpath=row.relpath,
        identity=_identity(row),
        state=SightingState(row.state),
        first_seen=row.first_seen,
        last_change=row.last_change,
        recording_id=row.recording_id,
        attempts=row.attempts,
        last_error=row.last_error,
    )


def _recording(row: RecordingRow) -> Recording:
    return Recording(
        id=row.id,
        sha256=row.sha256,
        size=row.size,
        kind=Kind(row.kind),
        state=RecordingState(row.state),
        station=row.station,
        dock=row.dock,
        original_name=row.original_name,
        ingested_at=row.ingested_at,
        device=row.device,
        officer=row.officer,
        start=row.start,
        end=row.end,
        important=row.important,
        duration_ms=row.duration_ms,
        metadata=json.loads(row.metadata_json or "{}"),
        media=json.loads(row.media_json or "{}"),
        manifest=row.manifest,
        signature=row.signature,
        key_id=row.key_id,
        storage_uri=row.storage_uri,
        version_id=row.version_id,
        stored_at=row.stored_at,
        verified_at=row.verified_at,
        released_at=row.released_at,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        sidecar=row.sidecar,
        sidecar_sha256=row.sidecar_sha256,
    )


def flag_from_row(row: FlagRow) -> Flag:
    return Flag(
        id=row.id,
        kind=FlagKind(row.kind),
        severity=Severity(row.severity),
        subject=row.subject,
        detail=row.detail,
        state=FlagState(row.state),
        recording_id=row.recording_id,
        due=row.due,
        raised_at=row.raised_at,
    )


def _media(p: ProbeResult) -> dict[str, Any]:
    return {
        "readable": p.readable,
        "format": p.format_name,
        "codecs": list(p.codecs),
        "width": p.width,
        "height": p.height,
        "duration_ms": p.duration_ms,
        "error": p.error,
    }


def _sourced_json(v: Sourced) -> dict[str, Any]:
    value = utc_iso(v.value) if isinstance(v.value, datetime) else v.value
    return {"value": value, "source": v.source}


def _str_or_none(v: Sourced | None) -> str | None:
    return None if v is None or v.value is None else str(v.value)


def _time_or_none(v: Sourced | None) -> datetime | None:
    return v.value if v is not None and isinstance(v.value, datetime) else None


def _where(rec: RecordingRow) -> dict[str, Any]:
    """The stored copy a recording names (the version only where the store keeps versions)."""
    return {"uri": rec.storage_uri} | ({"version_id": rec.version_id} if rec.version_id else {})


def _stored_details(o: StoredObject) -> dict[str, Any]:
    d: dict[str, Any] = {"uri": o.uri, "size": o.size}
    if o.version_id:
        d["version_id"] = o.version_id
    if o.lock_mode:
        d["lock_mode"] = o.lock_mode
    if o.retain_until:
        d["retain_until"] = utc_iso(o.retain_until)
    return d
