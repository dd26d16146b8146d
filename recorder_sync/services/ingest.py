"""The ingest pipeline: a persisted state machine driven one idempotent step at a time.

Sightings (files on docks) go discovered → stable → hashed → released/kept; the
recording they carry goes hashed → probed → signed → stored → verified → released.
A dock copy goes only while the store holds a good copy: when a re-check before its
release fails, the recording goes back to signed and is stored again from that copy.
Every step reads the persisted state, does its work, and records the outcome with
its custody event in one transaction, so a process killed anywhere resumes from the
last recorded state and redoes at most the step it was in (which is idempotent:
the object store ignores a second put of the same key, the catalog ignores a
second transition to a state already reached). Steps that follow one another at once
(probing and signing; storing and its check) and a dock's scan record their outcomes in
one commit (``Catalog.together``): a kill before it redoes them all, as it would one.

Into the vault the dock file is read once: the hash step copies it into the vault's
staging area on the same read, and the store step links that copy to its key. The
staged copy is a shortcut only, never a state: without it the store step copies from
the dock as before, and the stored copy is re-read to verify it either way.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, BinaryIO, NoReturn, TypeVar
from zoneinfo import ZoneInfo

from recorder_sync.domain import layout, naming, outage
from recorder_sync.domain.claims import Lease
from recorder_sync.domain.errors import (
    ClaimLost,
    CouldNotCheck,
    DatabaseUnavailable,
    Error,
    IntegrityFailure,
    KeyReplaced,
    KeyRevoked,
    NotFound,
    SourceChanged,
    SourceUnavailable,
    StorageRejected,
    UnsafePath,
)
from recorder_sync.domain.ingest_flags import rejected_file_flag, unreadable_media_flag
from recorder_sync.domain.manifest import ManifestInput, build_manifest
from recorder_sync.domain.metrics import NO_METRICS, error_family
from recorder_sync.domain.model import (
    Flag,
    FlagKind,
    ProbeResult,
    Recording,
    RecordingState,
    ReleasePolicy,
    Severity,
    Sighting,
    SightingState,
    Sourced,
    StoredObject,
    kind_from_name,
)
from recorder_sync.domain.ports import (
    Catalog,
    Clock,
    DockReader,
    Metrics,
    ObjectStore,
    Prober,
    Progress,
    Signer,
    Staged,
    Staging,
)
from recorder_sync.domain.release import verification_holds
from recorder_sync.domain.retry import MAX_BACKOFF_SECONDS, next_attempt
from recorder_sync.domain.subjects import file_subject, recording_subject
from recorder_sync.domain.timebounds import DEFAULT_BOUNDS, TimeBounds
from recorder_sync.domain.untrusted import escape, storable_text
from recorder_sync.io.hashing import sha256_file
from recorder_sync.services.claims import Held
from recorder_sync.services.probe_ahead import PROBE_THREADS, ProbeAhead

_NOT_AS_HASHED = "identity differs from when it was hashed"
log = logging.getLogger(__name__)
T = TypeVar("T")

SIDECAR_LIMIT = 64 * 1024
_MAX_ERROR = 2000


def _sidecar_path(relpath: str) -> str | None:
    """The sidecar a media file may have (same stem, ``.json``); none for a ``.json`` itself."""
    stem, dot, ext = relpath.rpartition(".")
    return None if not dot or ext.lower() == "json" else stem + ".json"


def _text_sha256(text: str | None) -> str | None:
    """For recordings hashed before the catalog kept the sidecar's own hash: its text is
    those very bytes whenever the sidecar was UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text else None


@dataclass(frozen=True)
class Dock:
    reader: DockReader
    profiles: tuple[naming.NamingProfile, ...]
    tz: ZoneInfo
    stable_window: timedelta
    bounds: TimeBounds = DEFAULT_BOUNDS  # camera times outside it are treated as absent


_Probed = tuple[Dock, Sighting, ProbeResult | None] | None
"""A recording's dock file and what the prober made of it (see ``IngestService._read_probe``)."""


@dataclass
class Scan:
    sightings: set[int] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)


@dataclass
class PassSummary:
    """What one pass did, for progress output and exit codes (workers add to it concurrently)."""

    progressed: int = 0
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_progress(self) -> None:
        with self._lock:
            self.progressed += 1

    def add_error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)


Notify = Callable[[str, str], None]
"""(what happened, about which file or recording) — progress lines for the CLI."""

Meter = Callable[[str, str, int], Progress]
"""(what, subject, total bytes) → a byte-progress callback for one long read."""


class IngestService:
    def __init__(
        self,
        *,
        catalog: Catalog,
        store: ObjectStore,
        signer: Signer,
        prober: Prober,
        docks: Mapping[str, Dock],
        station: str,
        release_policy: ReleasePolicy,
        clock: Clock,
        software: str,
        retention_class: str | None = None,
        notify: Notify | None = None,
        meter: Meter | None = None,
        workers: int = 1,
        jitter: Callable[[], float] = random.random,
        claim_seconds: float = 300.0,
        metrics: Metrics = NO_METRICS,
        probe_threads: int = PROBE_THREADS,
        reload_signer: Callable[[], Signer] | None = None,
    ) -> None:
        """``reload_signer``: the station's signer as it is now, taken when ``signer`` was
        replaced (``keys rotate``) while this service ran; None: such a recording waits."""
        self.catalog = catalog
        self.metrics = metrics
        self.store = store
        self.signer = signer
        self.reload_signer = reload_signer
        self._signer_lock = threading.Lock()
        self.prober = prober
        self.docks = dict(docks)
        self.station = station
        self.release_policy = release_policy
        self.clock = clock
        self.software = software
        self.retention_class = retention_class
        self.notify = notify or (lambda what, subject: None)
        self.meter = meter
        self.workers = max(1, workers)
        self.jitter = jitter
        self._lock = threading.Lock()
        self._retry_at: dict[int, datetime] = {}
        self._traced: set[tuple[str, str]] = set()
        # work claims: items are claimed a batch at a time (a few per worker), so that another
        # daemon sharing the database takes the next batch instead of waiting for the whole list
        self.lease = Lease(claim_seconds)
        self.batch = max(16, 4 * self.workers)
        self._holding = threading.local()
        self._docks_seen: set[str] | None = None
        # a batch's probes run ahead on a small pool (0 threads: each in its own step)
        self._probes: ProbeAhead[str, _Probed] = ProbeAhead(probe_threads)
        # the vault takes a dock file's bytes on the read that hashes them (``ports.Staging``)
        self._staging: Staging | None = store if isinstance(store, Staging) else None
        self._staging_swept = False

    # --- discovery ------------------------------------------------------------

    def scan(self, dock_name: str, only: set[str] | None = None) -> Scan:
        """Walk a dock: every file becomes (or updates) a sighting; refused entries are recorded.

        Sightings whose file disappeared are settled. ``only`` limits it to those paths."""
        dock = self.docks[dock_name]
        now = self.clock()
        result = Scan()
        # walked first, then recorded in one commit for the whole dock: the transaction holds
        # no lock while the disk is read; in path order, so that two daemons scanning one dock
        # take the per-file locks (PostgreSQL) in the same order
        found = sorted((e for e in dock.reader.walk() if only is None or e[0] in only), key=lambda e: e[0])
        with self.catalog.together():
            for relpath, ident, refusal in found:
                if refusal is not None:
                    result.refused.append(f"{dock_name}/{relpath}: {refusal}")
                    flag = rejected_file_flag(dock_name, relpath, refusal)
                    if self.catalog.reject(dock_name, relpath, refusal, now, flag=flag):
                        self.notify("rejected", f"{dock_name}/{relpath}: {refusal}")
                    continue
                assert ident is not None
                result.sightings.add(self.catalog.observe(dock_name, relpath, ident, now).id)
        for s in self.catalog.pending_sightings(dock_name):
            if s.id not in result.sightings and (only is None or s.relpath in only):
                try:
                    self._check_presence(dock, s)
                except ClaimLost as e:  # another process is releasing it right now
                    log.debug("%s/%s: %s", s.dock, s.relpath, e)
        return result

    def _check_presence(self, dock: Dock, s: Sighting) -> None:
        try:
            ident = dock.reader.stat(s.relpath)
        except UnsafePath:
            ident = None
        if ident is None and self._verified_before_it_went(s):
            # under 'delete' that is our own release, cut off by a kill between the unlink and
            # its record (or a hand that did the same): the stored copy is verified, so it
            # completes as a release; as "gone" the recording would stay verified for ever
            self.catalog.release(
                s.id,
                SightingState.RELEASED,
                self.clock(),
                "dock file gone after its stored copy was verified (a release cut short, or removed by hand)",
            )
            self.notify("released", f"{s.dock}/{s.relpath}")
        elif ident is None:
            self.catalog.mark_gone(s.id, self.clock())
            self.notify("gone", f"{s.dock}/{s.relpath}")

    def _verified_before_it_went(self, s: Sighting) -> bool:
        if self.release_policy != ReleasePolicy.DELETE or s.state != SightingState.HASHED:
            return False
        return s.recording_id is not None and self.catalog.recording(s.recording_id).state.at_least(
            RecordingState.VERIFIED
        )

    # --- the state machine ----------------------------------------------------

    def run_once(self) -> PassSummary:
        """One pass over everything pending; safe to call again at any time.

        Items are independent, so with ``workers`` > 1 they are worked on side by side
        (each item by one worker): one file's ffprobe, fsync or upload round trips overlap
        another's hashing. A recording is taken as far as it can go in one turn.

        Only items this process has claimed are worked on (a lease on the row, see
        ``services.claims``): another daemon that shares the database works other items,
        and takes ours over only once our claim has lapsed."""
        report = PassSummary()
        now = self.clock()
        docks = list(self.docks)
        if self._docks_seen != set(docks):
            # at start, and when a dock is taken over from a holder that ended: what this
            # station's dead processes claimed is ours to take now, not after their lease
            for owner in self.catalog.free_claims_of_dead():
                log.warning("claims of %s freed: that process of this station has ended", owner)
            self._docks_seen = set(docks)
        if self._staging is not None and not self._staging_swept:
            self._staging_swept = self._sweep_staged(self._staging)

        def sightings(after: Sighting | None, at: datetime, until: datetime) -> list[Sighting]:
            start = after.id if after is not None else 0
            return self.catalog.claim_sightings(docks, at, until, after=start, limit=self.batch)

        def recordings(after: Recording | None, at: datetime, until: datetime) -> list[Recording]:
            start = (after.ingested_at, after.id) if after is not None else None
            return self.catalog.claim_recordings(at, until, after=start, limit=self.batch)

        def hashed(s: Sighting) -> bool:
            return s.state == SightingState.HASHED and self._due(s, now)

        self._claimed(report, "sightings", sightings, lambda s: self._due(s, now), self.step_sighting)
        self._claimed(report, "recordings", recordings, self._ours, self._advance)
        self._claimed(report, "sightings", sightings, hashed, self.step_sighting)
        return report

    def _claimed(
        self,
        report: PassSummary,
        table: str,
        claim: Callable[[T | None, datetime, datetime], list[T]],
        wanted: Callable[[T], bool],
        step: Callable[[T], bool],
    ) -> None:
        """Claim a batch, work the wanted items of it, let the claims go; on to the next batch
        (after the last item claimed, so none is starved by others that cannot progress)."""
        failed: Callable[[Any, str], None] = (
            self._sighting_failed if table == "sightings" else self._recording_failed
        )
        last: T | None = None
        while True:
            now = self.clock()
            batch = claim(last, now, self.lease.until(now))
            if not batch:
                return
            last = batch[-1]
            keys: list[int | str] = [getattr(x, "id") for x in batch]  # noqa: B009
            try:
                work = [x for x in batch if wanted(x)]
                self._probe_ahead(work)
                held_step = functools.partial(self._held_step, table, now, step)
                self._each(report, work, held_step, failed)
            finally:
                self._probes.close()
                self._let_go(table, keys)
            if len(batch) < self.batch:
                return

    def _held_step(self, table: str, claimed_at: datetime, step: Callable[[T], bool], item: T) -> bool:
        held = Held(self.catalog, table, getattr(item, "id"), self.lease, self.clock, claimed_at)  # noqa: B009
        self._holding.claim = held
        try:
            held.keep()  # the batch may have waited long for this worker: still ours?
            return step(item)
        finally:
            self._holding.claim = None

    def _keep_claim(self) -> None:
        held: Held | None = getattr(self._holding, "claim", None)
        if held is not None:
            held.keep()

    def _let_go(self, table: str, keys: list[int | str]) -> None:
        try:
            self.catalog.release_claims(table, keys)
        except Exception as e:  # the claims lapse on their own; nothing is lost meanwhile
            log.warning("could not let go of %d claim(s) on %s: %s", len(keys), table, e)

    def _each(
        self, report: PassSummary, items: list[T], step: Callable[[T], bool], failed: Callable[[T, str], None]
    ) -> None:
        if self.workers == 1 or len(items) < 2:
            for item in items:
                self._guard(report, step, item, failed)
            return
        with ThreadPoolExecutor(min(self.workers, len(items)), thread_name_prefix="ingest") as pool:
            for future in [pool.submit(self._guard, report, step, item, failed) for item in items]:
                future.result()

    def _ours(self, rec: Recording) -> bool:
        """Work on a recording only through one of our docks. Another process that shares the
        database (a daemon of another dock, a standby, a one-shot ``ingest``) owns the rest: taking
        them up here would find no source and flag ``source-unavailable`` on work in progress.
        A recording with no file left on any dock belongs to the dock it came from."""
        live = [s.dock for s in self.catalog.sightings_of(rec.id) if s.state == SightingState.HASHED]
        return any(d in self.docks for d in live) if live else rec.dock in self.docks

    def _advance(self, rec: Recording) -> bool:
        progressed = False
        while not rec.state.at_least(RecordingState.VERIFIED) and self.step_recording(rec):
            progressed = True
            self._keep_claim()
            rec = self.catalog.recording(rec.id)
        return progressed

    def _guard(
        self, report: PassSummary, step: Callable[[T], bool], item: T, failed: Callable[[T, str], None]
    ) -> None:
        """One step; its failure is recorded on the item and never stops the others (or the daemon).

        Whatever a file does to us (a camera's metadata, a parser's recursion, a database
        refusing a value) is an outcome of that file: recorded on it and retried with
        backoff. Only KeyboardInterrupt, SystemExit and a database that cannot be reached
        (``DatabaseUnavailable``: the whole pass stops) go through."""
        try:
            if step(item):
                report.add_progress()
        except ClaimLost as e:
            # not a failure of the item: another process has it, and records its outcome
            log.info("%s", e)
        except DatabaseUnavailable:
            # not a failure of the item either (and none could be recorded): the pass stops,
            # the daemon waits for the database, and the step is redone without any backoff
            raise
        except Exception as e:
            subject = (
                f"{item.dock}/{item.relpath}" if isinstance(item, Sighting) else getattr(item, "id", "?")
            )
            if isinstance(e, Error):
                message = str(e)
            elif isinstance(e, OSError):
                # a dock that fails mid-read (USB pulled, I/O error) is an outcome, not a crash
                message = f"I/O error: {e}"
            else:
                message = f"internal error: {type(e).__name__}: {e}"
                self._traceback_once(subject, e)
            # stored and shown: no control characters (PostgreSQL refuses NUL), bounded length
            message = escape(message)[:_MAX_ERROR]
            self.metrics.error(error_family(e), type(e).__name__)
            log.warning("%s: %s", subject, message)
            report.add_error(f"{subject}: {message}")
            try:
                failed(item, message)
            except Exception:
                log.exception("%s: could not record its failure; tried again at the next pass", subject)

    def _traceback_once(self, subject: str, e: Exception) -> None:
        """The trace of an unexpected failure, once per file and kind of failure: a file
        retried with backoff must not fill the journal with the same trace."""
        key = (subject, type(e).__name__)
        with self._lock:
            first = key not in self._traced
            self._traced.add(key)
        if first:
            log.error("%s: unexpected failure (a bug: please report it with this trace)", subject, exc_info=e)

    def _sighting_failed(self, s: Sighting, message: str) -> None:
        now = self.clock()
        with self._lock:
            self._retry_at[s.id] = next_attempt(now, s.attempts + 1, jitter=self.jitter())
        self.catalog.sighting_error(s.id, message, now)

    def _due(self, s: Sighting, now: datetime) -> bool:
        """A sighting whose last step failed waits for its backoff (kept in memory: a
        restart tries every file once more at once)."""
        with self._lock:
            retry_at = self._retry_at.get(s.id)
            if retry_at is not None and retry_at <= now:
                del self._retry_at[s.id]
                retry_at = None
        return retry_at is None

    def _recording_failed(self, rec: Recording, message: str) -> None:
        if self.catalog.recording(rec.id).attempts == rec.attempts:  # not yet recorded by the step itself
            self._failed(rec, message, None)

    def _meter(self, what: str, subject: str, total: int) -> Progress | None:
        inner = self.meter(what, subject, total) if self.meter is not None else None
        held: Held | None = getattr(self._holding, "claim", None)
        # a long read keeps the claim of the item it is for, and stops if that claim is lost
        return inner if held is None else held.metered(inner)

    def _done(self, stage: str, nbytes: int) -> None:
        """For monitoring: ``stage`` done, timed from the start of this worker's step."""
        started = getattr(self._holding, "started", None)
        self.metrics.stage_done(stage, nbytes, 0.0 if started is None else time.monotonic() - started)

    def step_sighting(self, s: Sighting) -> bool:
        self._holding.started = time.monotonic()
        dock = self.docks[s.dock]
        now = self.clock()
        if s.state == SightingState.DISCOVERED:
            ident = dock.reader.stat(s.relpath)
            if ident is None:
                self.catalog.mark_gone(s.id, now)
                return True
            if ident != s.identity:
                self.catalog.observe(s.dock, s.relpath, ident, now)
                return False
            if now - s.last_change < dock.stable_window:
                return False
            self.catalog.mark_stable(s.id, now)
            s = self.catalog.sighting(s.id)
        if s.state == SightingState.STABLE:
            return self._hash(dock, s, now)
        if s.state == SightingState.HASHED:
            return self._release(dock, s)
        return False

    def _hash(self, dock: Dock, s: Sighting, now: datetime) -> bool:
        # a copy staged by the read is removed on the way out, unless kept for the store step
        with contextlib.ExitStack() as staging:
            return self._hash_staging(dock, s, now, staging)

    def _hash_staging(self, dock: Dock, s: Sighting, now: datetime, staging: contextlib.ExitStack) -> bool:
        try:
            f, before = dock.reader.open(s.relpath)
        except SourceUnavailable:
            self.catalog.mark_gone(s.id, now)
            return True
        with f:
            if before != s.identity:
                self.catalog.sighting_changed(s.id, before, now, "changed after it looked stable")
                return False
            self.notify("hashing", f"{s.dock}/{s.relpath} ({before.size} bytes)")
            digest, nbytes, staged = self._read_once(f, s.relpath, before.size, staging)
        after = dock.reader.stat(s.relpath)
        if after != before or nbytes != before.size:
            self.catalog.sighting_changed(
                s.id,
                after or before,
                self.clock(),
                f"changed while being read ({nbytes} of {before.size} bytes)",
            )
            self.notify("changed", f"{s.dock}/{s.relpath}")
            return False
        sidecar = self._sidecar(dock, s.relpath)
        rec, duplicate = self.catalog.attach_hash(
            s.id,
            sha256=digest,
            ident=before,
            kind_hint=kind_from_name(s.relpath),
            sidecar=None if sidecar is None else storable_text(sidecar.decode("utf-8", errors="replace")),
            sidecar_sha256=hashlib.sha256(sidecar).hexdigest() if sidecar is not None else None,
            now=self.clock(),
        )
        self._keep_staged(staged, rec, duplicate)
        if sidecar is None and not duplicate:
            self._flag_large_sidecar(dock, s, rec)
        self.notify(
            "duplicate" if duplicate else "hashed", f"{s.dock}/{s.relpath} sha256={digest[:16]}… {rec.id}"
        )
        self._done("hashed", nbytes)
        return True

    def _read_once(
        self, f: BinaryIO, relpath: str, size: int, staging: contextlib.ExitStack
    ) -> tuple[str, int, Staged | None]:
        """Hash the dock file. Where the store can stage (the vault), the same read copies it
        there, so that the store step need not read the dock again; where it cannot just now
        (full, not mounted), the file is hashed alone and later stored from the dock."""
        meter = self._meter("hashing", relpath, size)
        if self._staging is not None:
            try:
                # one byte more than expected is enough to notice a growing file
                staged = staging.enter_context(self._staging.stage(f, size + 1, meter))
            except CouldNotCheck as e:
                log.warning("%s: hashed without staging a copy: %s", relpath, e)
                f.seek(0)
                meter = self._meter("hashing", relpath, size)
            else:
                return staged.sha256, staged.size, staged
        digest, nbytes = sha256_file(f, meter)
        return digest, nbytes, None

    def _keep_staged(self, staged: Staged | None, rec: Recording, duplicate: bool) -> None:
        """Keep the copy staged while hashing for the store step, when that step will store
        from a dock (not once stored, nor for a restore, which reads the dock copy again)."""
        if staged is None or rec.stored_at is not None:
            return
        try:
            staged.keep()
        except CouldNotCheck as e:
            log.warning("%s: staged copy not kept, stored from the dock instead: %s", rec.id, e)
            return
        if duplicate and self.catalog.recording(rec.id).stored_at is not None:
            # stored meanwhile by another worker, whose unstage may have come before this keep
            self._unstage(rec.sha256)

    def _unstage(self, sha256: str) -> None:
        if self._staging is None:
            return
        try:
            self._staging.unstage(sha256)
        except CouldNotCheck as e:  # left for the sweep at the next start
            log.warning("could not remove the staged copy of %s: %s", sha256, e)

    def _sweep_staged(self, staging: Staging) -> bool:
        """Remove the staged copies that no recording will store from (the recording stored
        already, by a process killed before it removed its copy, or one that staged a
        duplicate meanwhile); the others stay for their store step. Whether it could look."""
        try:
            for sha256 in staging.staged():
                try:
                    done = self.catalog.recording(sha256).stored_at is not None
                except NotFound:
                    done = True
                if done:
                    staging.unstage(sha256)
        except CouldNotCheck as e:
            # the store step reports an unavailable vault; this only says why the sweep waits
            log.debug("staged copies not swept (tried again at the next pass): %s", e)
            return False
        return True

    def _flag_large_sidecar(self, dock: Dock, s: Sighting, rec: Recording) -> None:
        """A sidecar too large to read as metadata is never dropped in silence: the recording
        gets a ``bad-sidecar`` flag (the sidecar itself is taken as a file of its own)."""
        name = _sidecar_path(s.relpath)
        if name is None:
            return
        try:
            found = dock.reader.stat(name)
        except Error:  # a link or special file there is refused by discovery, with its reason
            return
        if found is not None and found.size > SIDECAR_LIMIT:
            self.catalog.raise_flag(
                Flag(
                    FlagKind.BAD_SIDECAR,
                    Severity.LOW,
                    recording_subject(rec.id),
                    f"sidecar {escape(name.rpartition('/')[2])} is {found.size} bytes, more than "
                    f"{SIDECAR_LIMIT // 1024} KiB: not read as this recording's metadata (it is stored "
                    "as a file of its own)",
                    recording_id=rec.id,
                ),
                self.clock(),
            )

    @staticmethod
    def _sidecar(dock: Dock, relpath: str) -> bytes | None:
        """The sidecar's bytes as on the dock: the manifest names their hash, the catalog their text."""
        name = _sidecar_path(relpath)
        return None if name is None else dock.reader.read_small(name, SIDECAR_LIMIT)

    def _release(self, dock: Dock, s: Sighting) -> bool:
        assert s.recording_id is not None
        rec = self.catalog.recording(s.recording_id)
        now = self.clock()
        if not rec.state.at_least(RecordingState.VERIFIED):
            current = dock.reader.stat(s.relpath)
            if current == s.identity:
                return False
            # undocked or overwritten before the stored copy was verified: the recording
            # waits for another source; a replaced file is picked up as a new sighting
            self.catalog.mark_gone(s.id, now)
            if current is not None:
                self.catalog.raise_flag(
                    Flag(
                        FlagKind.SOURCE_CHANGED,
                        Severity.HIGH,
                        file_subject(s.dock, s.relpath),
                        "replaced on the dock after it was hashed, before its stored copy was verified; "
                        "the new content is ingested as a recording of its own",
                        recording_id=rec.id,
                    ),
                    now,
                )
            return True
        if not self._stored_copy_good(rec, s):
            return True
        if self.release_policy == ReleasePolicy.KEEP:
            self.catalog.release(s.id, SightingState.KEPT, now, "release policy 'keep'")
            self.notify("kept", f"{s.dock}/{s.relpath}")
            self._done("kept", s.identity.size)
            return True
        if dock.reader.remove(s.relpath, s.identity):
            self.catalog.release(
                s.id, SightingState.RELEASED, now, f"stored copy verified: {rec.storage_uri}"
            )
            self.notify("released", f"{s.dock}/{s.relpath}")
            self._done("released", s.identity.size)
        else:
            self.catalog.release(
                s.id,
                SightingState.KEPT,
                now,
                "dock file changed since it was hashed; left in place, re-examined",
            )
            self.notify("kept", f"{s.dock}/{s.relpath} (changed since hashing)")
        return True

    def _stored_copy_good(self, rec: Recording, s: Sighting) -> bool:
        """Whether the store still holds the recording as signed, before a dock copy goes
        (re-checked unless ``verification_holds``). When the check fails, the recording goes
        back to SIGNED, flagged, to be stored again from this file, which stays on the dock
        until the new copy verifies."""
        if verification_holds(rec.verified_at, s.last_change, self.clock()):
            return True
        try:
            self.store.verify(
                layout.media_key(rec.sha256), rec.sha256, rec.size, self._meter("checking", rec.id, rec.size)
            )
            for key, data in self._signed_objects(rec):
                self.store.verify(key, hashlib.sha256(data).hexdigest(), len(data))
        except IntegrityFailure as e:
            problem = f"stored copy failed its check before dock:{s.dock}/{s.relpath} was released: {e}"
            flag = Flag(
                FlagKind.INTEGRITY_FAILURE,
                Severity.CRITICAL,
                recording_subject(rec.id),
                f"{problem}; stored again from that dock copy, which is kept until the new copy verifies",
                recording_id=rec.id,
            )
            if self.catalog.stored_copy_failed(rec.id, problem, flag, self.clock()):
                log.warning("%s: %s", rec.id, problem)
                self.notify("integrity-failure", f"{rec.id}: {e}")
            return False
        return True

    @staticmethod
    def _signed_objects(rec: Recording) -> list[tuple[str, bytes]]:
        """The manifest and its signature, stored beside the media."""
        assert rec.manifest is not None and rec.signature is not None
        return [
            (layout.manifest_key(rec.sha256), rec.manifest),
            (layout.signature_key(rec.sha256), rec.signature),
        ]

    def step_recording(self, rec: Recording) -> bool:
        self._holding.started = time.monotonic()
        try:
            if rec.state == RecordingState.HASHED:
                return self._probe(rec)
            if rec.state == RecordingState.PROBED:
                return self._sign(rec)
            if rec.state == RecordingState.SIGNED:
                return self._store(rec)
            if rec.state == RecordingState.STORED:
                return self._verify(rec)
        except IntegrityFailure as e:
            self._failed(
                rec,
                e,
                Flag(
                    FlagKind.INTEGRITY_FAILURE,
                    Severity.CRITICAL,
                    recording_subject(rec.id),
                    str(e),
                    recording_id=rec.id,
                ),
            )
            raise
        except StorageRejected as e:
            self._failed(
                rec,
                e,
                Flag(
                    FlagKind.STORAGE_REJECTED,
                    Severity.HIGH,
                    recording_subject(rec.id),
                    str(e),
                    recording_id=rec.id,
                ),
            )
            raise
        except DatabaseUnavailable:
            raise  # nothing can be recorded: the pass stops (see _guard)
        except CouldNotCheck as e:
            # the store is down: its outage, not this file's fault, so the wait is bounded as
            # the daemon's wait for its database is: uploads resume soon after it is back
            self._failed(rec, e, None, cap=outage.MAX_RETRY_SECONDS)
            raise
        return False

    def _failed(
        self, rec: Recording, e: Error | str, flag: Flag | None, *, cap: float = MAX_BACKOFF_SECONDS
    ) -> None:
        now = self.clock()
        retry_at = next_attempt(now, rec.attempts + 1, cap=cap, jitter=self.jitter())
        self.catalog.recording_error(rec.id, str(e), now, retry_at, flag)

    def _source(self, rec: Recording) -> tuple[Dock, Sighting] | None:
        """A dock file that still holds exactly the recording's bytes as hashed."""
        for s in self.catalog.sightings_of(rec.id):
            if s.state == SightingState.HASHED and s.dock in self.docks:
                dock = self.docks[s.dock]
                if dock.reader.stat(s.relpath) == s.identity:
                    return dock, s
        return None

    def _source_changed(self, rec: Recording, s: Sighting, e: SourceChanged) -> NoReturn:
        """This dock file no longer holds the recording's bytes: nothing is taken from it;
        the recording waits for another source and the new content is examined afresh."""
        now = self.clock()
        self.catalog.mark_gone(s.id, now)
        self.catalog.raise_flag(
            Flag(
                FlagKind.SOURCE_CHANGED,
                Severity.HIGH,
                file_subject(s.dock, s.relpath),
                str(e),
                recording_id=rec.id,
            ),
            now,
        )
        raise e

    def _no_source(self, rec: Recording) -> bool:
        now = self.clock()
        self.catalog.recording_error(
            rec.id,
            "no dock holds this recording's file any more; waiting for the camera to be docked again",
            now,
            next_attempt(now, rec.attempts + 1, cap=600.0, jitter=self.jitter()),
            Flag(
                FlagKind.SOURCE_UNAVAILABLE,
                Severity.HIGH,
                recording_subject(rec.id),
                f"{rec.original_name} left the dock before it was stored; re-dock device to finish",
                recording_id=rec.id,
            ),
        )
        return False

    def _probe_ahead(self, items: list[Any]) -> None:
        """Start the probes of the batch's hashed recordings (see ``services.probe_ahead``).
        Their dock files are looked up here: the pool's threads read the docks only, never
        the catalog, whose SQLite lock they would contend for with each commit here."""
        if not self._probes.threads:
            return
        jobs = []
        for r in items:
            if isinstance(r, Recording) and r.state == RecordingState.HASHED:
                try:
                    src = self._source(r)
                except Exception:  # its probe step meets it again, and records it on r
                    continue
                jobs.append((r.id, functools.partial(self._read_probe, r, src)))
        self._probes.start(jobs)

    def _read_probe(self, rec: Recording, src: tuple[Dock, Sighting] | None) -> _Probed:
        """What the prober makes of the recording's dock file ``src``, opened if it still is
        the file hashed (else ``None`` in its place). Reads only, so that it can run ahead of
        the probe step, which records the outcome."""
        if src is None:
            return None
        dock, s = src
        f, ident = dock.reader.open(s.relpath)
        with f:
            if ident != s.identity:
                return dock, s, None
            return dock, s, self.prober.probe_open(f, s.relpath)

    def _probe(self, rec: Recording) -> bool:
        src = self._probes.take(rec.id, lambda: self._read_probe(rec, self._source(rec)))
        if src is None:
            return self._no_source(rec)
        dock, s, probe = src
        if probe is None:
            self._source_changed(rec, s, SourceChanged(f"{s.dock}/{s.relpath}", _NOT_AS_HASHED))
        # the signature follows from what the probe found, at once: one commit for both
        with self.catalog.together():
            self._record_probe(rec, dock, s, probe)
            return self._sign(self.catalog.recording(rec.id))

    def _record_probe(self, rec: Recording, dock: Dock, s: Sighting, probe: ProbeResult) -> None:
        sidecar = naming.Layer()
        if rec.sidecar is not None:
            sidecar = naming.from_sidecar(rec.sidecar, dock.tz, dock.bounds)
            if sidecar.problem:
                self.catalog.raise_flag(
                    Flag(
                        FlagKind.BAD_SIDECAR,
                        Severity.LOW,
                        recording_subject(rec.id),
                        sidecar.problem,
                        recording_id=rec.id,
                    ),
                    self.clock(),
                )
        metadata = naming.merge(
            sidecar,
            naming.from_filename(dock.profiles, s.relpath, dock.tz, dock.bounds),
            naming.from_container(probe, dock.bounds),
            duration_ms=probe.duration_ms,
            fallback=naming.from_mtime(s.identity.mtime_ns, dock.bounds),
            bounds=dock.bounds,
        )
        if metadata.bad:
            # camera-controlled values that cannot be believed are left out, never fatal
            self.catalog.raise_flag(
                Flag(
                    FlagKind.BAD_METADATA,
                    Severity.LOW,
                    recording_subject(rec.id),
                    "; ".join(str(b) for b in metadata.bad) + "; treated as absent",
                    recording_id=rec.id,
                ),
                self.clock(),
            )
        unreadable = unreadable_media_flag(rec.id, rec.original_name, probe)
        self.catalog.record_probe(rec.id, probe, metadata.values, self.clock(), flag=unreadable)
        self.notify(
            "probed", f"{rec.id} {probe.kind.value}{'' if unreadable is None else ' (unreadable: flagged)'}"
        )
        self._done("probed", rec.size)

    def _sign(self, rec: Recording) -> bool:
        signer = self.signer  # one key for the manifest, its signature and its record
        metadata = {k: Sourced(v["value"], v["source"]) for k, v in rec.metadata.items()}
        media: dict[str, Any] = {"kind": rec.kind.value, **rec.media}
        manifest = build_manifest(
            ManifestInput(
                recording_id=rec.id,
                sha256=rec.sha256,
                size=rec.size,
                original_name=rec.original_name,
                station=self.station,
                dock=rec.dock,
                ingested_at=rec.ingested_at,
                software=self.software,
                key_id=signer.key_id,
                media=media,
                metadata=metadata,
                sidecar_sha256=rec.sidecar_sha256 or _text_sha256(rec.sidecar),
            )
        )
        signature = signer.sign(manifest)
        try:
            self.catalog.record_signature(
                rec.id, manifest, signature, signer.key_id, signer.public_key_pem(), self.clock()
            )
        except (KeyReplaced, KeyRevoked):
            if not self._take_new_signer(signer):
                raise
            return self._sign(rec)
        self.notify("signed", f"{rec.id} key={signer.key_id}")
        self._done("signed", rec.size)
        return True

    def _take_new_signer(self, replaced: Signer) -> bool:
        """After ``replaced`` was refused (replaced, or revoked and maybe replaced since): sign
        with the station's key as it is now. False when there is no other key to take (the
        refusal stands); the station's refusal of its current key (revoked) when that is it."""
        if self.reload_signer is None:
            return False
        with self._signer_lock:  # one reload for all the workers that hit it
            if self.signer is replaced:
                current = self.reload_signer()
                if current.key_id == replaced.key_id:
                    return False
                log.warning(
                    "station key %s was replaced: now signing with %s", replaced.key_id, current.key_id
                )
                self.signer = current
        return True

    def _store(self, rec: Recording) -> bool:
        assert rec.manifest is not None and rec.signature is not None
        src = self._source(rec)
        if src is None:
            return self._no_source(rec)
        dock, s = src
        meta = {"recording-id": rec.id, "station": self.station}  # the store adds sha256 itself
        # stored before, so that copy failed a check: a plain put would keep what the key holds
        restoring = rec.stored_at is not None
        stored = None if restoring else self._put_staged(rec)
        if stored is None:
            stored = self._put_from_dock(rec, dock, s, restoring, meta)
        for key, data in self._signed_objects(rec):
            if restoring:
                digest = hashlib.sha256(data).hexdigest()
                self.store.restore_stream(
                    key, io.BytesIO(data), len(data), digest, meta, retention_class=self.retention_class
                )
            else:
                self.store.put_bytes(key, data, meta, retention_class=self.retention_class)
        # the object holds the bytes now: a kill before the commit below stores from the dock,
        # which finds the object there
        self._unstage(rec.sha256)
        return self._stored(rec, stored, restoring)

    def _put_staged(self, rec: Recording) -> StoredObject | None:
        """The copy staged when the recording was hashed, given its key (None: there is none)."""
        if self._staging is None:
            return None
        stored = self._staging.put_staged(layout.media_key(rec.sha256), rec.sha256, rec.size)
        if stored is not None:
            self.notify("storing", f"{rec.id} ({rec.size} bytes, staged while hashing)")
        return stored

    def _put_from_dock(
        self, rec: Recording, dock: Dock, s: Sighting, restoring: bool, meta: dict[str, str]
    ) -> StoredObject:
        put = self.store.restore_stream if restoring else self.store.put_stream
        f, ident = dock.reader.open(s.relpath)
        with f:
            if ident != s.identity:
                self._source_changed(rec, s, SourceChanged(f"{s.dock}/{s.relpath}", _NOT_AS_HASHED))
            self.notify("restoring" if restoring else "storing", f"{rec.id} ({rec.size} bytes)")
            try:
                stored = put(
                    layout.media_key(rec.sha256),
                    f,
                    rec.size,
                    rec.sha256,
                    meta,
                    retention_class=self.retention_class,
                    progress=self._meter("storing", rec.id, rec.size),
                )
            except SourceChanged as e:
                self._source_changed(rec, s, e)
        return stored

    def _stored(self, rec: Recording, stored: StoredObject, restoring: bool) -> bool:
        """The copy just stored is verified at once, and both outcomes commit as one: a kill
        before that commit leaves the recording signed, and storing it again finds the copy.
        A check that fails still finds the copy recorded as stored, as a step of its own."""
        stored_at = self.clock()
        self.notify("restored" if restoring else "stored", f"{rec.id} {stored.uri}")
        self._done("stored", rec.size)
        try:
            checked = self._reread(rec, stored.version_id)
        except Exception:
            self.catalog.record_stored(rec.id, stored, stored_at)
            raise
        with self.catalog.together():
            self.catalog.record_stored(rec.id, stored, stored_at)
            self.catalog.record_verified(rec.id, checked, self.clock())
        self._verified(rec)
        return True

    def _verify(self, rec: Recording) -> bool:
        stored = self._reread(rec, rec.version_id)
        self.catalog.record_verified(rec.id, stored, self.clock())
        self._verified(rec)
        return True

    def _reread(self, rec: Recording, version_id: str | None) -> StoredObject:
        return self.store.verify(
            layout.media_key(rec.sha256),
            rec.sha256,
            rec.size,
            self._meter("verifying", rec.id, rec.size),
            version_id=version_id,
        )

    def _verified(self, rec: Recording) -> None:
        self.notify("verified", f"{rec.id}")
        self._done("verified", rec.size)
