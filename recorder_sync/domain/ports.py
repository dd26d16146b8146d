"""The small interfaces the services depend on; adapters implement them.

Adapters wrap foreign errors in ours (``recorder_sync.domain.errors``):
a store raises ``IntegrityFailure`` when the stored bytes are wrong, and
``StorageUnavailable`` when it could not look (never the other way round).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, runtime_checkable

from recorder_sync.domain import custody
from recorder_sync.domain.access_figures import AccessInputs
from recorder_sync.domain.cases import Action, ActionQuery, Checkout, ImportOutcome
from recorder_sync.domain.derived import SourceFacts
from recorder_sync.domain.evidence_audit import SignedRecording
from recorder_sync.domain.flags import FlagSpec
from recorder_sync.domain.linking import LinkProposal, RecordingFacts, StoredLink
from recorder_sync.domain.logstate import Acknowledgement, RecordedCheckpoint
from recorder_sync.domain.model import (
    FileIdentity,
    Flag,
    Kind,
    ProbeResult,
    Recording,
    Sighting,
    SightingState,
    Sourced,
    StoredObject,
)
from recorder_sync.domain.policy import DeadlineSettings
from recorder_sync.domain.report_tallies import ReportAggregates
from recorder_sync.domain.roster import RosterEntry
from recorder_sync.domain.sweep import SweepInputs, SweepLimits

if TYPE_CHECKING:  # replay's values bring the signature checks (cryptography): not for every command
    from recorder_sync.domain.provenance import Derivation
    from recorder_sync.domain.redaction import EditPlan
    from recorder_sync.domain.replay import ClipRange, FetchedCopy, FindQuery, FoundRecording

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware (UTC)."""

Progress = Callable[[int], None]
"""Called with the number of bytes just processed."""


class Metrics(Protocol):
    """Counters and timings for monitoring (``domain.metrics``; ``NO_METRICS`` counts nothing).
    Called from worker threads: an implementation is thread-safe."""

    def stage_done(self, stage: str, nbytes: int, seconds: float) -> None:
        """One file or recording finished ``stage`` (one of ``metrics.STAGES``)."""
        ...

    def error(self, family: str, kind: str) -> None:
        """An error of ``family`` (``metrics.ERROR_FAMILIES``), ``kind`` its class name."""
        ...

    def sweep_done(self, seconds: float) -> None: ...


class ObjectStore(Protocol):
    """Content-addressed, write-once object storage (local vault or S3).

    Keys are produced by ``domain.layout`` from the SHA-256; writing a key that
    already holds the same bytes is a no-op.
    """

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
        """Store ``size`` bytes from ``stream``; hash them on the way and raise
        ``SourceChanged`` (storing nothing) when they do not hash to ``sha256``."""
        ...

    def put_bytes(
        self, key: str, data: bytes, metadata: Mapping[str, str], retention_class: str | None = None
    ) -> StoredObject:
        """Small objects (manifest, signature) beside the media, under its retention class."""
        ...

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
        """Make the object a reader of ``key`` gets hold exactly these bytes again.

        Nothing is written when it already does (checked as ``verify`` checks, never by size
        alone). Otherwise the bytes are stored anew, hashed on the way as by ``put_stream``,
        in place of the missing or damaged object: replaced atomically where the store can
        replace, a new latest version where it keeps versions (a locked damaged version
        cannot be removed and stays behind). Returns what is stored now."""
        ...

    def stat(self, key: str) -> StoredObject | None:
        """The stored object, or None when the key does not exist."""
        ...

    def verify(
        self,
        key: str,
        sha256: str,
        size: int,
        progress: Progress | None = None,
        version_id: str | None = None,
    ) -> StoredObject:
        """Re-read the stored object (the given version, where the store keeps versions) and
        recompute its SHA-256.

        Raises ``IntegrityFailure`` when it differs, ``StorageUnavailable`` when
        the store could not be read."""
        ...

    def open(self, key: str, version_id: str | None = None) -> BinaryIO:
        """A reader of the stored bytes (replay, export, audit): of the given version, where
        the store keeps versions (the vault keeps one copy per key and ignores it)."""
        ...

    def get_bytes(self, key: str) -> bytes: ...

    def list_keys(self, prefix: str, start_after: str | None = None) -> list[str]:
        """Every key that starts with ``prefix`` (and sorts after ``start_after``), sorted:
        the log's published checkpoints."""
        ...


class Staged(Protocol):
    """A source's bytes, copied into a store's staging area by the read that hashed them."""

    @property
    def sha256(self) -> str: ...

    @property
    def size(self) -> int: ...

    def keep(self) -> None:
        """Sync the copy and keep it for ``put_staged``; without this it is removed when its
        context ends. Raises ``StorageUnavailable`` when it could not be kept."""
        ...


@runtime_checkable
class Staging(Protocol):
    """An optional capability of an ``ObjectStore`` (the vault has it, S3 does not): the first
    hash of a dock file copies it into the store on the same read, and the store step gives
    that copy its key instead of reading the dock a second time.

    A staged copy is only ever a shortcut: whenever it is missing the caller stores from its
    source as before, and the stored object is verified by a re-read either way."""

    def stage(
        self, stream: BinaryIO, max_bytes: int, progress: Progress | None = None
    ) -> AbstractContextManager[Staged]:
        """Copy at most ``max_bytes`` of ``stream`` into the staging area while hashing them.
        Read errors propagate unchanged; ``StorageUnavailable`` when the copy cannot be written."""
        ...

    def put_staged(self, key: str, sha256: str, size: int) -> StoredObject | None:
        """Store the kept copy of ``sha256`` under ``key`` (as ``put_stream`` would: complete,
        synced, never replacing an object); None when no such copy of ``size`` bytes is kept.
        The copy stays staged until ``unstage``."""
        ...

    def unstage(self, sha256: str) -> None:
        """Remove the kept copy of ``sha256``, if any."""
        ...

    def staged(self) -> list[str]:
        """The SHA-256 of every kept copy."""
        ...


class LegalHolds(Protocol):
    """A store that can hold an object version beyond its retention (S3 Object Lock)."""

    def set_legal_hold(self, key: str, on: bool) -> StoredObject:
        """Set or release the hold on the latest version of ``key``; ``NotFound`` when absent."""
        ...


class CustodyNotes(Protocol):
    """Custody events that change no state (a legal hold, an access): who, what, when, why."""

    def recording(self, ref: str) -> Recording: ...
    def note(
        self,
        action: custody.EventKind,
        now: datetime,
        *,
        recording_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> custody.CustodyEvent: ...


class CustodyLog(Protocol):
    """The custody log as a Merkle tree, with the checkpoints published of it."""

    def log_size(self) -> int: ...

    def log_root(self, size: int) -> bytes:
        """The root of the tree of the first ``size`` events."""
        ...

    def consistency_proof(self, old_size: int, size: int) -> list[bytes]: ...

    def record_checkpoint(self, cp: RecordedCheckpoint) -> None: ...

    def latest_checkpoint(self) -> int | None:
        """The size of the latest checkpoint recorded (a hint where to look: not trusted)."""
        ...

    def acknowledgements(self) -> list[Acknowledgement]: ...

    def acknowledge(self, ack: Acknowledgement, now: datetime, actor: str) -> custody.CustodyEvent:
        """Record ``ack`` as a custody event, the stored tree cut back to the events still held."""
        ...


class AuditedLog(CustodyLog, Protocol):
    """The reads an auditor makes of the custody log (none of them trusted: each is checked)."""

    def iter_events(self, after_seq: int = 0) -> Iterator[custody.CustodyEvent]: ...

    def inclusion_proof(self, index: int, size: int) -> list[bytes]: ...

    def recorded_checkpoints(self) -> list[RecordedCheckpoint]: ...

    def event(self, recording_id: str, action: custody.EventKind) -> custody.CustodyEvent | None: ...


class AuditorState(Protocol):
    """The last checkpoint of each log this auditor verified (its own, not the station's)."""

    def last_verified(self, origin: str) -> bytes | None: ...

    def remember(self, origin: str, note: bytes) -> None: ...


class Signer(Protocol):
    key_id: str

    def sign(self, data: bytes) -> bytes: ...

    def public_key_pem(self) -> bytes: ...


class Prober(Protocol):
    def probe_open(self, f: BinaryIO, name: str) -> ProbeResult:
        """What the open file is (``name`` for its extension). Never raises for bad media:
        returns ``readable=False`` with the reason."""
        ...


class DockReader(Protocol):
    """Read-only-until-release access to one dock, confined to its folder.

    Never follows a symbolic link, never accepts a path that leaves the dock."""

    name: str

    def walk(self) -> Iterator[tuple[str, FileIdentity | None, str | None]]:
        """Every entry below the dock: (relpath, identity, None) for regular files,
        (relpath, None, reason) for entries refused (links, devices, hard links, folders
        that cannot be read or hold a vault, …): nothing is skipped without a reason."""
        ...

    def stat(self, relpath: str) -> FileIdentity | None:
        """None when the file is gone; raises UnsafePath for a link or non-regular file."""
        ...

    def open(self, relpath: str) -> tuple[BinaryIO, FileIdentity]: ...

    def read_small(self, relpath: str, limit: int) -> bytes | None:
        """A small regular file's bytes (sidecars), None when absent or too large."""
        ...

    def remove(self, relpath: str, expected: FileIdentity) -> bool:
        """Delete the file only if it is still exactly ``expected``; False when it changed."""
        ...


class Catalog(Protocol):
    """The persisted state machine and custody log (implemented on SQLAlchemy).

    Each transition method records the new state and its custody event atomically
    and is a no-op when the state was already reached."""

    station: str

    def observe(self, dock: str, relpath: str, ident: FileIdentity, now: datetime) -> Sighting: ...
    def reject(self, dock: str, relpath: str, reason: str, now: datetime, *, flag: Flag) -> bool: ...
    def sighting(self, sighting_id: int) -> Sighting: ...
    def pending_sightings(self, dock: str | None = None) -> list[Sighting]: ...
    def sightings_of(self, recording_id: str) -> list[Sighting]: ...
    def sighting_changed(self, sighting_id: int, ident: FileIdentity, now: datetime, error: str) -> None: ...
    def sighting_error(self, sighting_id: int, error: str, now: datetime) -> None: ...
    def mark_stable(self, sighting_id: int, now: datetime) -> None: ...
    def mark_gone(self, sighting_id: int, now: datetime) -> None: ...
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
    ) -> tuple[Recording, bool]: ...
    def release(self, sighting_id: int, outcome: SightingState, now: datetime, reason: str) -> None: ...
    def pending_recordings(self, now: datetime | None = None) -> list[Recording]: ...
    def recording(self, ref: str) -> Recording: ...
    def record_probe(
        self,
        recording_id: str,
        probe: ProbeResult,
        metadata: Mapping[str, Sourced],
        now: datetime,
        *,
        flag: Flag | None,
    ) -> Recording: ...
    def record_signature(
        self,
        recording_id: str,
        manifest: bytes,
        signature: bytes,
        key_id: str,
        public_pem: bytes,
        now: datetime,
    ) -> None: ...
    def record_stored(self, recording_id: str, stored: StoredObject, now: datetime) -> None: ...
    def record_verified(self, recording_id: str, stored: StoredObject, now: datetime) -> None: ...
    def together(self) -> AbstractContextManager[None]:
        """The transitions made inside commit as one (one synced commit): for steps that
        follow one another at once, with no slow work between them."""
        ...

    def stored_copy_failed(self, recording_id: str, problem: str, flag: Flag, now: datetime) -> bool:
        """A verified recording's stored copy failed a later check: back to SIGNED, so that it
        is stored again (a restore) and verified; False when it was already on its way back."""
        ...

    def recording_error(
        self,
        recording_id: str,
        error: str,
        now: datetime,
        retry_at: datetime | None,
        flag: Flag | None = None,
    ) -> int: ...
    def raise_flag(self, flag: Flag, now: datetime) -> None: ...

    # work claims (leases on rows; see domain.claims): taken for ``owner``, atomically, so
    # that daemons sharing one database never work one item at once. Transitions raise
    # ClaimLost on a row that another owner holds a live claim on.
    owner: str

    def claim_sightings(
        self, docks: Collection[str], now: datetime, until: datetime, *, after: int = 0, limit: int = 64
    ) -> list[Sighting]: ...
    def claim_recordings(
        self, now: datetime, until: datetime, *, after: tuple[datetime, str] | None = None, limit: int = 64
    ) -> list[Recording]: ...
    def renew_claim(self, table: str, key: int | str, until: datetime) -> bool: ...
    def release_claims(self, table: str, keys: Collection[int | str]) -> None: ...
    def free_claims_of_dead(self, alive: Callable[[int], bool] | None = None) -> list[str]: ...


# --- the case stores: actions, the ledger, links, sweeps, report tallies -------------
#
# Each protocol is one job of the case book.  Every change is a custody event in the
# catalog's chain, in the same transaction as the change.


class ActionStore(Protocol):
    """Enforcement actions as imported, with each version kept."""

    def upsert_actions(
        self, actions: Sequence[Action], now: datetime, source: str, actor: str
    ) -> ImportOutcome: ...
    def actions(self, query: ActionQuery) -> list[Action]: ...
    def action_history(self, action_id: str) -> list[dict[str, Any]]: ...
    def actions_overlapping(self, lo: datetime, hi: datetime) -> list[Action]: ...


class CheckoutLedger(Protocol):
    """Who carried which camera when, and when each camera was docked."""

    def upsert_checkouts(
        self, checkouts: Sequence[Checkout], now: datetime, source: str, actor: str
    ) -> ImportOutcome: ...
    def checkouts(self, device: str | None = None, officer: str | None = None) -> list[Checkout]: ...
    def checkouts_overlapping(self, lo: datetime, hi: datetime) -> list[Checkout]: ...
    def record_docking(
        self, device: str, dock: str, docked_at: datetime, camera_time: datetime | None, source: str
    ) -> None: ...


class LinkStore(Protocol):
    """Recording ↔ action links; removed links stay, with who and why."""

    def apply_proposals(self, proposals: Sequence[LinkProposal], now: datetime) -> list[StoredLink]: ...
    def link(self, recording_id: str, action_id: str, by: str, reason: str, now: datetime) -> StoredLink: ...
    def unlink(self, recording_id: str, action_id: str, by: str, reason: str, now: datetime) -> int: ...
    def links(
        self,
        *,
        recording_ids: Sequence[str] | None = None,
        action_ids: Sequence[str] | None = None,
        include_removed: bool = False,
        device: str | None = None,
    ) -> list[StoredLink]: ...


class LinkFeed(Protocol):
    """The recordings automatic linking looks at, and how far it has read the custody log."""

    def recordings_overlapping(self, lo: datetime, hi: datetime) -> list[RecordingFacts]: ...
    def recordings_probed_since(self, cursor: int, limit: int) -> tuple[list[RecordingFacts], int]: ...
    def cursor(self, name: str) -> int: ...
    def set_cursor(self, name: str, seq: int) -> None: ...


class SweepStore(Protocol):
    """What a deadline sweep loads (all of it, or what changed since the last one) and
    the writing of its flags."""

    def sweep_inputs(self, now: datetime, limits: SweepLimits, *, full: bool = False) -> SweepInputs: ...
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
    ) -> bool: ...
    def prepare_report(self, now: datetime, limits: SweepLimits) -> None: ...
    def last_sweep(self) -> datetime | None: ...


class ReportSource(Protocol):
    """The report's inputs: the rows of a period, or the tallies the sweep keeps."""

    def report_inputs(
        self, since: datetime | None, until: datetime | None
    ) -> tuple[list[RecordingFacts], list[Action], list[tuple[str, str]], list[Flag], list[Checkout]]: ...
    def report_aggregates(
        self,
        now: datetime,
        year: int | None,
        since: datetime | None,
        until: datetime | None,
        settings: DeadlineSettings,
        full_types: Collection[str],
    ) -> ReportAggregates | None: ...


class AccessSource(Protocol):
    """The report's access figures' inputs: access, export and search events of a period,
    the roster, and the links and actions of the recordings accessed."""

    def access_inputs(self, since: datetime | None, until: datetime | None) -> AccessInputs: ...


class CaseStores(ActionStore, CheckoutLedger, LinkStore, LinkFeed, Protocol):
    """What the case service works with: imports, queries and links."""


class CaseRepository(CaseStores, SweepStore, ReportSource, Protocol):
    """Every job of the case book at once (the composition root hands one object to
    each service; a service asks only for the protocols it uses)."""


# --- recorder-audit: what the auditor reads (never writes) --------------------------


class EvidenceReader(ObjectStore, Protocol):
    """The object store as ``recorder-audit`` uses it: ``stat``, ``verify`` and ``get_bytes``
    only (it never writes), and whether each object is protected."""

    def protection_problem(self, obj: StoredObject, now: datetime) -> str | None:
        """Why the stored object could be overwritten or deleted (no lock, a writable
        file), or None when it cannot."""
        ...


class EvidenceRecords(Protocol):
    """The database as ``recorder-audit`` sees it: read-only."""

    def signed_recordings(self, since: datetime | None = None) -> Iterator[SignedRecording]:
        """Every recording that holds a manifest or that the log says was signed (only those
        signed since ``since``, when given, and those with no ``signed`` event), by id."""
        ...

    def signed_events_without_recording(self) -> list[custody.CustodyEvent]:
        """``signed`` events of recordings the database no longer has."""
        ...


class DerivedRecords(Protocol):
    """The database as ``recorder-audit`` sees derived material: read-only."""

    def derived_events(self) -> list[custody.CustodyEvent]: ...

    def sources(self, ids: Collection[str]) -> dict[str, SourceFacts]:
        """What the database holds of the recordings ``ids`` (an id it does not hold is absent)."""
        ...


class Roster(Protocol):
    """Who may replay evidence, with which role (``domain.roster``); each change a custody event."""

    def upsert_roster(
        self, entries: Sequence[RosterEntry], now: datetime, source: str, actor: str
    ) -> ImportOutcome: ...
    def roster(self) -> list[RosterEntry]: ...


class ReplayLibrary(Protocol):
    """What replay reads: recordings found with their links and flags, and signing times."""

    def find(self, query: FindQuery) -> list[FoundRecording]: ...
    def signed_at(self, recording_id: str) -> datetime | None: ...
    def actions(self, query: ActionQuery) -> list[Action]: ...
    def checkouts_overlapping(self, lo: datetime, hi: datetime) -> list[Checkout]: ...
    def access_events(self, since: datetime | None, until: datetime | None) -> list[dict[str, Any]]:
        """The fields of the access and export events (and their outcome events) in the period."""
        ...

    def linked_actions(
        self, recording_ids: Sequence[str]
    ) -> tuple[dict[str, list[str]], dict[str, Action]]: ...


class AccessLog(CustodyNotes, Protocol):
    """Access events, and the flag a copy that failed its check raises."""

    def raise_flag(self, flag: Flag, now: datetime) -> None: ...


class Player(Protocol):
    """Shows a verified local copy of a recording to the person at the screen."""

    name: str

    def unusable(self) -> str | None:
        """Why it cannot play here (no display, say), asked before anything is logged or read."""
        ...

    def play(self, path: Path, span: ClipRange) -> int:
        """Play the file at ``path`` (its last argument) and wait; the player's exit status."""
        ...


class PrivateCopies(Protocol):
    """Private temporary copies (0600, in a 0700 folder) of stored objects, removed afterwards."""

    def fetch(self, key: str, version_id: str | None = None) -> AbstractContextManager[FetchedCopy]:
        """Copy the stored object ``key`` (that version, where the store keeps versions) to a
        private file, hashing it on the way."""
        ...


class Clipper(Protocol):
    """Makes a derived file from a verified local copy; the original is never touched."""

    def derive(
        self, source: Path, target: Path, span: ClipRange, edits: EditPlan | None = None
    ) -> Derivation:
        """``span`` of ``source`` into ``target``; re-encoded with ``edits`` (blur, mute,
        watermark) when it asks for any, else a stream copy."""
        ...

    def stills(self, source: Path, frames: Sequence[tuple[timedelta, Path]]) -> Derivation:
        """A picture of ``source`` at each time (from its start), into each path."""
        ...


class ExportTarget(Protocol):
    """Where exported files go: never over an existing file."""

    def check(self, names: Sequence[str]) -> None:
        """``UsageError`` when these files cannot be placed there (asked before anything is logged)."""
        ...

    def place_all(self, files: Sequence[tuple[str, Path | bytes]]) -> list[Path]:
        """Each (name, file or bytes) placed, all or none: what fails half-way is removed."""
        ...


class Presigner(ObjectStore, Protocol):
    """A store that hands out time-limited URLs to stored object versions (S3 only)."""

    def presigned_get(self, key: str, version_id: str | None, expires: timedelta, now: datetime) -> str: ...


class BundleSource(Protocol):
    """What an evidence bundle reads from the catalog (read-only)."""

    def recording(self, ref: str) -> Recording: ...
    def actions(self, query: ActionQuery) -> list[Action]: ...
    def links(
        self,
        *,
        recording_ids: Sequence[str] | None = None,
        action_ids: Sequence[str] | None = None,
        include_removed: bool = False,
        device: str | None = None,
    ) -> list[StoredLink]: ...
    def flags(self, recording_ids: Collection[str], subjects: Collection[str]) -> list[dict[str, Any]]: ...
    def events_about(
        self, recording_ids: Collection[str], subjects: Collection[str]
    ) -> list[custody.CustodyEvent]: ...


class BundleTarget(Protocol):
    """Where a bundle is written: a folder or one tar file, refused when already there."""

    def check(self) -> None:
        """``UsageError`` when the destination exists already (nothing is overwritten)."""
        ...

    def add_bytes(self, name: str, data: bytes) -> None: ...

    def add_stream(self, name: str, stream: BinaryIO, size: int, sha256: str) -> None:
        """Copy ``size`` bytes, hashed on the way: ``IntegrityFailure`` when they are not ``sha256``."""
        ...

    def close(self) -> Path:
        """Finish the bundle; returns where it is."""
        ...

    def abort(self) -> None:
        """Remove what was written of an unfinished bundle."""
        ...


class Leadership(Protocol):
    """Who runs the station-wide work (linking, deadline sweeps, alerts, checkpoints) among the
    daemons that share one database: at most one process at a time, handed over when it ends."""

    def try_lead(self) -> bool:
        """True while this process leads: takes the lead when no one holds it, and checks that a
        lead it holds is still held (a lost database connection loses it). Never blocks for the
        holder; call it again before every leader-only step."""
        ...

    def release(self) -> None:
        """Give the lead up (another process may take it at once); a no-op when not leading."""
        ...


class DaemonJournal(Protocol):
    """The daemons sharing the database, which one leads, and the leader's sweeps, written so
    that ``status`` on any station shows them (and an operator can see that one swept at a time;
    ``status`` reads them through ``adapters.db.status_view``)."""

    def register(self, now: datetime) -> None: ...

    def leading(self, since: datetime | None) -> None:
        """This daemon took the lead at ``since`` (every other one's claim to it is cleared), or
        gave it up (None)."""
        ...

    def sweep_started(self, now: datetime) -> int: ...

    def sweep_ended(self, run: int, now: datetime, ok: bool) -> None: ...

    def gone(self) -> None:
        """This daemon stops: its row goes."""
        ...
