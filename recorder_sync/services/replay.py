"""Supervised replay: who may, what they looked for, and every viewing logged before it happens.

The order of ``play`` is the point of it:

1. the actor (``user@host``) must be in the roster with a role that may play, an officer
   only their own recording; a reason is required; the player must be usable here;
2. the ``accessed`` custody event (who, what, why, how, range) is written: if that fails,
   nothing is read from the store, nothing is shown;
3. the stored object is copied to a private temporary file and hashed on the way;
4. the copy must match the signed manifest, signed by a key of the trust anchors (obtained
   out of band, never from the station's own database): a copy that does not verify is
   never played: an ``integrity-failure`` flag is raised and a second event records it;
5. only then does the player start, on the verified file; the file is removed afterwards.
   A player that fails is recorded by a second event too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TypeVar

from recorder_sync.domain import layout
from recorder_sync.domain.access_report import (
    AccessLimits,
    AccessRecord,
    Finding,
    accesses_from_events,
    find_problems,
    officer_of,
    refusal_details,
    refusals_from_events,
    usage_problems,
)
from recorder_sync.domain.cases import ActionQuery
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.errors import (
    AccessRefused,
    CouldNotCheck,
    Error,
    IntegrityFailure,
    NotFound,
    UsageError,
    VerificationFailed,
)
from recorder_sync.domain.model import Flag, FlagKind, Recording, Severity
from recorder_sync.domain.mosaic import Mosaicker, MosaicLayout, mosaic_layout, mosaic_name, mosaic_provenance
from recorder_sync.domain.policy import DeadlineSettings
from recorder_sync.domain.ports import (
    AccessLog,
    Clipper,
    Clock,
    ExportTarget,
    Player,
    Presigner,
    PrivateCopies,
    ReplayLibrary,
    Roster,
    Signer,
)
from recorder_sync.domain.provenance import Derivation, OutputFile, build_provenance, output_name
from recorder_sync.domain.redaction import (
    NO_REDACTIONS,
    MediaShape,
    Redactions,
    check_redactions,
    plan_edits,
    watermark_lines,
)
from recorder_sync.domain.replay import (
    VIA,
    ClipRange,
    FetchedCopy,
    FindQuery,
    FoundRecording,
    access_details,
    check_copy,
    check_period,
    check_within,
    clip_time_text,
    outcome_details,
    require_reason,
    url_lifetime,
)
from recorder_sync.domain.roster import RosterEntry, authorize, entry_for, may_see, officer_scope
from recorder_sync.domain.stills import frame_name, frame_times, frames_set_name
from recorder_sync.domain.subjects import recording_subject
from recorder_sync.domain.timeline import (
    Timeline,
    action_title,
    build_timeline,
    own_part,
    timeline_selection,
)
from recorder_sync.domain.times import utc_iso
from recorder_sync.domain.trust import TrustAnchors
from recorder_sync.io.hashing import sha256_file
from recorder_sync.services.derived import DerivedEvidence, DerivedStored

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Played:
    recording: Recording
    access_seq: int
    player_status: int


@dataclass(frozen=True)
class HandedOut:
    recording: Recording
    access_seq: int
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class Access:
    """A logged access: its kind (accessed, exported) and position in the custody log."""

    kind: EventKind
    seq: int


@dataclass(frozen=True)
class PlacedFile:
    """A derived file handed out: where it was placed, and its hash."""

    name: str
    path: Path
    sha256: str
    size: int
    at: timedelta | None = None  # a still frame's time, from the recording's start


@dataclass(frozen=True)
class Delivered:
    """Derived files placed with their signed provenance (``frames``; ``export`` has one)."""

    recording: Recording
    access_seq: int
    files: tuple[PlacedFile, ...]
    provenance: bytes
    stored: DerivedStored  # the files, provenance and signature as stored as evidence


@dataclass(frozen=True)
class Exported:
    recording: Recording
    access_seq: int
    path: Path
    sha256: str
    provenance: bytes
    stored: DerivedStored  # the clip, its provenance and signature as stored as evidence


def _asked(edits: Redactions) -> dict[str, str]:
    """What an export's access event says of its redactions (nothing when there are none)."""
    return {"redactions": edits.as_text()} if edits.any else {}


@dataclass(frozen=True)
class MosaicOut:
    """Where a mosaic goes: to a player, or to a folder with provenance signed by ``signer``."""

    player: Player | None = None
    target: ExportTarget | None = None
    signer: Signer | None = None
    station: str = ""

    def __post_init__(self) -> None:
        if (self.player is None) == (self.target is None) or (
            self.target is not None and self.signer is None
        ):
            raise ValueError("a mosaic goes to a player, or to a target with a signer")


@dataclass(frozen=True)
class Mosaic:
    layout: MosaicLayout
    access_seqs: tuple[int, ...]
    player_status: int | None = None  # played
    path: Path | None = None  # written
    sha256: str | None = None
    provenance: bytes | None = None


class ReplayService:
    def __init__(
        self,
        *,
        actor: str,
        roster: Roster,
        library: ReplayLibrary,
        log: AccessLog,
        copies: PrivateCopies,
        clock: Clock,
        derived: DerivedEvidence | None = None,
    ) -> None:
        """``derived`` stores what ``export`` makes, as evidence, before it is handed out;
        without it ``export`` refuses (the play and search commands need none)."""
        self.actor = actor
        self.roster = roster
        self.library = library
        self.log = log
        self.copies = copies
        self.clock = clock
        self.derived = derived

    def who(self, command: str, asked: Mapping[str, Any] | None = None) -> RosterEntry:
        """The actor's roster entry, if it may run ``command``; else ``AccessRefused`` (exit 2),
        logged as an ``access-refused`` event naming what was ``asked``."""
        entry = entry_for(self.actor, self.roster.roster())
        try:
            return authorize(self.actor, entry, command)
        except AccessRefused as e:
            self._refused(command, entry, asked, e)
            raise

    def _refused(
        self, command: str, entry: RosterEntry | None, asked: Mapping[str, Any] | None, e: AccessRefused
    ) -> None:
        """Log a refusal; when the log cannot be written the refusal stands all the same."""
        try:
            self.log.note(
                EventKind.ACCESS_REFUSED,
                self.clock(),
                recording_id=None,
                details=refusal_details(command, entry, asked, str(e)),
            )
        except Exception as failed:  # whatever broke the log (even a bug), the answer stays "refused"
            log.error("could not log the refused %s by %s: %s", command, self.actor, failed)

    # --- metadata: logged as searches --------------------------------------------------

    def find(self, query: FindQuery) -> list[FoundRecording]:
        check_period("find", query.since, query.until)
        entry = self.who("find", query.as_json())
        scoped = query.scoped(officer_scope(entry))
        self.log.note(
            EventKind.SEARCHED,
            self.clock(),
            details={"via": VIA, "command": "find", "role": entry.role.value, "query": query.as_json()},
        )
        return [] if scoped is None else self.library.find(scoped)

    def timeline(self, query: FindQuery, settings: DeadlineSettings) -> list[Timeline]:
        """One timeline per action (``--action``, or each action of ``--case``), or one over an
        officer's window (``--officer --from --to``)."""
        why_not = timeline_selection(query)
        if why_not is not None:
            raise UsageError(why_not)
        entry = self.who("timeline", query.as_json())
        scope = officer_scope(entry)
        self.log.note(
            EventKind.SEARCHED,
            self.clock(),
            details={"via": VIA, "command": "timeline", "role": entry.role.value, "query": query.as_json()},
        )
        if query.officer is not None and query.since is not None and query.until is not None:
            scoped = query.scoped(scope)
            found = [] if scoped is None else self.library.find(scoped)
            window = (query.since, query.until)
            return [build_timeline(f"officer {query.officer}", window, found, settings.coverage_tolerance)]
        actions = self.library.actions(ActionQuery(case_id=query.case_id, action_id=query.action_id))
        if not actions:
            raise NotFound(f"action {query.action_id!r}" if query.action_id else f"case {query.case_id!r}")
        timelines = []
        for action in actions:
            scoped = FindQuery(action_id=action.action_id).scoped(scope)
            found = [] if scoped is None else self.library.find(scoped)
            slack = settings.link_slack
            checkouts = self.library.checkouts_overlapping(action.start - slack, action.end + slack)
            timeline = build_timeline(
                action_title(action),
                (action.start, action.end),
                found,
                settings.coverage_tolerance,
                action=action,
                checkouts=checkouts,
                slack=slack,
            )
            timelines.append(timeline if scope is None else own_part(timeline, scope))
        return timelines

    def access_report(
        self,
        since: datetime | None,
        until: datetime | None,
        user: str | None,
        officer: str | None,
        limits: AccessLimits,
        zone: tzinfo,
    ) -> tuple[list[AccessRecord], list[Finding]]:
        """Every access in the period (by ``user``, or by the roster users of ``officer``), and findings."""
        check_period("access-report", since, until)
        query = {k: v for k, v in (("user", user), ("officer", officer)) if v is not None}
        query |= {k: utc_iso(t) for k, t in (("since", since), ("until", until)) if t is not None}
        entry = self.who("access-report", query)
        self.log.note(
            EventKind.SEARCHED,
            self.clock(),
            details={"via": VIA, "command": "access-report", "role": entry.role.value, "query": query},
        )
        roster = self.roster.roster()
        logged = self.library.access_events(since, until)
        accesses = accesses_from_events(logged)
        refused = refusals_from_events(logged, user, officer)
        if user is not None:
            accesses = [a for a in accesses if user in (a.actor, a.actor.partition("@")[0])]
        if officer is not None:
            accesses = [a for a in accesses if officer_of(a, roster) == officer]
        links, actions = self.library.linked_actions([rid for a in accesses for rid, _ in a.recordings])
        findings = find_problems(accesses, roster, links, actions) + usage_problems(accesses, limits, zone)
        findings += refused
        return accesses, sorted(findings, key=lambda f: f.access_seq)

    # --- content: logged before the first byte is read ----------------------------------

    def play(
        self, ref: str, reason: str | None, span: ClipRange, trust: TrustAnchors, player: Player
    ) -> Played:
        entry = self.who("play", {"recording": ref})
        why = require_reason(reason, "play")
        rec = self._visible(entry, ref, "play")
        check_within(span, rec)
        unusable = player.unusable()
        if unusable is not None:
            raise UsageError(unusable)
        access = self._log_access(
            EventKind.ACCESSED,
            self.clock(),
            recording_id=rec.id,
            details=access_details(entry, "play", [rec], span, player=player.name),
            reason=why,
        )
        with self._verified(rec, access, trust) as copy:
            status = self._serving(rec, access, lambda: player.play(copy.path, span))
        if status != 0:
            self._outcome(rec, access, "player-failed", f"{player.name} exited with status {status}")
        return Played(rec, access.seq, status)

    def export(
        self,
        ref: str,
        reason: str | None,
        span: ClipRange,
        trust: TrustAnchors,
        clipper: Clipper,
        target: ExportTarget,
        signer: Signer,
        station: str,
        edits: Redactions = NO_REDACTIONS,
    ) -> Exported:
        """A derived file (the whole recording, a stream-copied range, or a re-encode that blurs,
        mutes or watermarks it: ``edits``) with its provenance signed by ``signer``; the
        original is only read. Redactions that do not fit the recording are refused before
        anything is logged."""
        entry = self.who("export", {"recording": ref})
        why = require_reason(reason, "export")
        rec = self._visible(entry, ref, "export")
        check_within(span, rec)
        check_redactions(edits, MediaShape.of_recording(rec), span)
        shown = span.as_json()
        name = output_name(rec, None if shown is None else [shown["from"], shown["to"]])
        target.check([name, name + ".provenance.json", name + ".provenance.sig"])
        keeper = self._derived()  # asked before anything is logged
        now = self.clock()
        access = self._log_access(
            EventKind.EXPORTED,
            now,
            recording_id=rec.id,
            details=access_details(entry, "export", [rec], span, **_asked(edits)),
            reason=why,
        )
        with self._verified(rec, access, trust) as copy:

            def make() -> Exported:
                derived = copy.path.with_name("derived-" + name)
                marks = watermark_lines(self.actor, now, access.seq) if edits.watermark else ()
                plan = plan_edits(edits, span, marks) if edits.any else None
                derivation = clipper.derive(copy.path, derived, span, plan)
                files = [(name, derived, None)]
                delivered = self._deliver(
                    rec, access, why, derivation, files, name, shown, target, signer, station, keeper
                )
                [clip] = delivered.files
                return Exported(
                    rec, access.seq, clip.path, clip.sha256, delivered.provenance, delivered.stored
                )

            return self._serving(rec, access, make)

    def frames(
        self,
        ref: str,
        reason: str | None,
        span: ClipRange,
        every: timedelta,
        trust: TrustAnchors,
        clipper: Clipper,
        target: ExportTarget,
        signer: Signer,
        station: str,
    ) -> Delivered:
        """Still frames (PNG) every ``every`` over ``span``, from a verified copy, with one signed
        provenance naming each frame's time and SHA-256."""
        entry = self.who("frames", {"recording": ref})
        why = require_reason(reason, "frames")
        rec = self._visible(entry, ref, "frames")
        shape = MediaShape.of_recording(rec)
        if not shape.picture:
            raise UsageError(f"frames: {rec.id} is {rec.kind.value}, not video")
        times = frame_times(span, shape.duration, every)
        shown = span.as_json()
        names = [frame_name(rec.id, t) for t in times]
        base = frames_set_name(rec.id, None if shown is None else [shown["from"], shown["to"]])
        target.check([*names, base + ".provenance.json", base + ".provenance.sig"])
        keeper = self._derived()  # asked before anything is logged
        access = self._log_access(
            EventKind.EXPORTED,
            self.clock(),
            recording_id=rec.id,
            details=access_details(entry, "frames", [rec], span, every=clip_time_text(every)),
            reason=why,
        )
        with self._verified(rec, access, trust) as copy:

            def make() -> Delivered:
                made = [(t, copy.path.with_name("frame-" + n)) for t, n in zip(times, names, strict=True)]
                derivation = clipper.stills(copy.path, made)
                every_op = {"op": "frames", "every": clip_time_text(every), "count": len(made)}
                derivation = replace(derivation, operations=(every_op, *derivation.operations))
                files = [(n, path, t) for n, (t, path) in zip(names, made, strict=True)]
                return self._deliver(
                    rec,
                    access,
                    why,
                    derivation,
                    files,
                    base,
                    shown,
                    target,
                    signer,
                    station,
                    keeper,
                    a_set=True,
                )

            return self._serving(rec, access, make)

    def _deliver(
        self,
        rec: Recording,
        access: Access,
        why: str,
        derivation: Derivation,
        files: Sequence[tuple[str, Path, timedelta | None]],
        base: str,
        range_asked: Mapping[str, str] | None,
        target: ExportTarget,
        signer: Signer,
        station: str,
        keeper: DerivedEvidence,
        *,
        a_set: bool = False,
    ) -> Delivered:
        """The one step that hands out derived material: each file hashed, one provenance for
        them all built and signed with the station key (its ``output``, or with ``a_set`` its
        ``outputs``, each still with its time), and all of it placed as
        ``base.provenance.json`` / ``.sig`` beside the files. Everything derived goes through
        here (export, frames). The files, the provenance and its signature are stored as
        evidence (``keeper``, with a ``derived`` event) before anything is placed: what the
        store or the log refuses is never handed out."""
        outputs = []
        for name, path, at in files:
            with path.open("rb") as f:
                sha256, size = sha256_file(f)
            outputs.append(OutputFile(name, sha256, size, at))
        provenance = build_provenance(
            source=rec,
            derivation=derivation,
            output=outputs if a_set else outputs[0],
            range_asked=range_asked,
            actor=self.actor,
            reason=why,
            at=self.clock(),
            station=station,
            key_id=signer.key_id,
            access_seq=access.seq,
        )
        signature = signer.sign(provenance)
        stored = keeper.keep([path for _, path, _ in files], provenance, signature, [rec], access.seq)
        paths = target.place_all(
            [
                *((o.name, path) for o, (_, path, _) in zip(outputs, files, strict=True)),
                (base + ".provenance.json", provenance),
                (base + ".provenance.sig", signature),
            ]
        )
        placed = [
            PlacedFile(o.name, p, o.sha256, o.size, o.at)
            for o, p in zip(outputs, paths[: len(outputs)], strict=True)
        ]
        return Delivered(rec, access.seq, tuple(placed), provenance, stored)

    def url(
        self, ref: str, reason: str | None, minutes: int, trust: TrustAnchors, presigner: Presigner
    ) -> HandedOut:
        """A presigned GET URL pinned to the version stored and verified, handed out only once
        the access is logged and that version re-hashes to the signed manifest's SHA-256."""
        entry = self.who("url", {"recording": ref})
        why = require_reason(reason, "url")
        lifetime = url_lifetime(minutes)
        rec = self._visible(entry, ref, "url")
        now = self.clock()
        access = self._log_access(
            EventKind.ACCESSED,
            now,
            recording_id=rec.id,
            details=access_details(
                entry,
                "url",
                [rec],
                ClipRange(),
                version_id=rec.version_id or "",
                expires_at=utc_iso(now + lifetime),
            ),
            reason=why,
        )
        key = layout.media_key(rec.sha256)

        def checked_url() -> str:
            try:
                stored = presigner.verify(key, rec.sha256, rec.size, version_id=rec.version_id)
                check_copy(rec, rec.sha256, stored.size, trust, self._signed_at(rec))
            except VerificationFailed as e:
                self._failed_check(rec, access, e)
                raise
            return presigner.presigned_get(key, rec.version_id, lifetime, now)

        return HandedOut(rec, access.seq, self._serving(rec, access, checked_url), now + lifetime)

    # --- the mosaic of an action: every recording logged, then every copy verified --------

    def play_action(
        self,
        action_id: str,
        reason: str | None,
        trust: TrustAnchors,
        mosaicker: Mosaicker,
        zone: tzinfo,
        out: MosaicOut,
    ) -> Mosaic:
        """All stored videos of the action side by side, time-aligned on the corrected times,
        played (``out.player``) or written with signed provenance (``out.target``).

        One access event per recording (each names the whole group under ``mosaic``), all
        written before any copy is read; every copy verified before ffmpeg reads any: one
        that fails, and nothing is made or shown. A mosaic written out is stored as derived
        evidence first (``keep``), as an export is."""
        entry = self.who("play", {"action": action_id})
        why = require_reason(reason, "play")
        if not self.library.actions(ActionQuery(action_id=action_id)):
            raise NotFound(f"action {action_id!r}")
        scoped = FindQuery(action_id=action_id).scoped(officer_scope(entry))
        layout = mosaic_layout(action_id, [] if scoped is None else self.library.find(scoped), zone)
        name = mosaic_name(action_id)
        names = [name, name + ".provenance.json", name + ".provenance.sig"]
        if out.player is not None:
            unusable = out.player.unusable()
            if unusable is not None:
                raise UsageError(f"{unusable}; or write the mosaic to a folder: --out DIR")
        keeper = None
        if out.target is not None:
            out.target.check(names)
            keeper = self._derived()  # asked before anything is logged
        kind, how = (EventKind.ACCESSED, "play") if out.player is not None else (EventKind.EXPORTED, "export")
        extra = {} if out.player is None else {"player": out.player.name}
        group = {"action_id": action_id, "recordings": [r.id for r in layout.recordings]}
        now = self.clock()
        logged: list[tuple[Recording, Access]] = []
        for rec in layout.recordings:
            details = access_details(entry, how, [rec], ClipRange(), **extra) | {"mosaic": group}
            try:
                access = self._log_access(kind, now, recording_id=rec.id, details=details, reason=why)
            except Error as e:
                self._outcome_all(logged, "failed", f"the access to {rec.id} could not be logged: {e}")
                raise
            logged.append((rec, access))
        with ExitStack() as stack:
            copies: dict[str, Path] = {}
            for i, (rec, access) in enumerate(logged):
                try:
                    copies[rec.id] = stack.enter_context(self._verified(rec, access, trust)).path
                except (Error, OSError, KeyboardInterrupt) as e:  # that one's outcome is recorded
                    others = logged[:i] + logged[i + 1 :]
                    self._outcome_all(others, "not-served", f"the mosaic was not made: {rec.id}: {e}")
                    raise
            made = copies[layout.tiles[0].recording.id].with_name("mosaic-" + name)

            def serve() -> Mosaic:
                derivation = mosaicker.render(layout, copies, made)
                seqs = tuple(a.seq for _, a in logged)
                if out.player is not None:
                    return Mosaic(layout, seqs, player_status=out.player.play(made, ClipRange()))
                assert out.target is not None and out.signer is not None and keeper is not None
                with made.open("rb") as f:
                    sha256, size = sha256_file(f)
                provenance = mosaic_provenance(
                    layout=layout,
                    derivation=derivation,
                    output_name=name,
                    output_sha256=sha256,
                    output_size=size,
                    actor=self.actor,
                    reason=why,
                    at=self.clock(),
                    station=out.station,
                    key_id=out.signer.key_id,
                    access_seqs=seqs,
                )
                signature = out.signer.sign(provenance)
                keeper.keep([made], provenance, signature, layout.recordings, seqs[0])
                path, _, _ = out.target.place_all(
                    [(name, made), (names[1], provenance), (names[2], signature)]
                )
                return Mosaic(layout, seqs, path=path, sha256=sha256, provenance=provenance)

            try:
                shown = serve()
            except (Error, OSError) as e:
                self._outcome_all(logged, "failed", str(e))
                raise
            except KeyboardInterrupt as e:
                self._outcome_all(logged, "interrupted", str(e) or "interrupted")
                raise
        if shown.player_status:
            assert out.player is not None
            status = f"{out.player.name} exited with status {shown.player_status}"
            self._outcome_all(logged, "player-failed", status)
        return shown

    def _outcome_all(self, logged: Sequence[tuple[Recording, Access]], outcome: str, problem: str) -> None:
        for rec, access in logged:
            self._outcome(rec, access, outcome, problem)

    @contextmanager
    def _verified(self, rec: Recording, access: Access, trust: TrustAnchors) -> Iterator[FetchedCopy]:
        """A private copy of the version stored and verified (not whatever is latest under
        the key), checked against the signed manifest before anything uses it."""
        key = layout.media_key(rec.sha256)
        with ExitStack() as stack:

            def fetch() -> FetchedCopy:
                try:
                    return stack.enter_context(self.copies.fetch(key, rec.version_id))
                except NotFound as e:
                    raise self._missing(rec, access, e) from e

            copy = self._serving(rec, access, fetch)
            try:
                check_copy(rec, copy.sha256, copy.size, trust, self._signed_at(rec))
            except VerificationFailed as e:
                self._failed_check(rec, access, e)
                raise
            yield copy

    def _derived(self) -> DerivedEvidence:
        if self.derived is None:
            raise UsageError("derived material must be stored as evidence, and no store for it was given")
        return self.derived

    def _signed_at(self, rec: Recording) -> datetime:
        """When the manifest was signed (its custody event), which the key must be valid at;
        a recording without that event falls back to its ingest time."""
        return self.library.signed_at(rec.id) or rec.ingested_at

    def _serving(self, rec: Recording, access: Access, serve: Callable[[], T]) -> T:
        """Run ``serve``; when it fails, a second event records the outcome."""
        try:
            return serve()
        except VerificationFailed:
            raise  # recorded by _failed_check
        except (Error, OSError) as e:
            self._outcome(rec, access, "failed", str(e))
            raise
        except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM while it was being served
            self._outcome(rec, access, "interrupted", str(e) or "interrupted")
            raise

    def _visible(self, entry: RosterEntry, ref: str, command: str = "replay") -> Recording:
        """The recording, if this person may see it and it has a stored copy to serve
        (both refused before anything is logged: nothing was accessed)."""
        rec = self.log.recording(ref)
        if not may_see(entry, rec.officer):
            refused = AccessRefused(
                self.actor, f"is officer {entry.officer}: an officer may replay only their own recordings"
            )
            self._refused(command, entry, {"recording": rec.id}, refused)
            raise refused
        if rec.storage_uri is None:
            raise NotFound(f"a stored copy of {rec.id} (not stored yet: state {rec.state.value})")
        return rec

    def _log_access(self, kind: EventKind, now: datetime, **event: Any) -> Access:
        """The access event; if it cannot be written, nothing is served (the error propagates)."""
        return Access(kind, self.log.note(kind, now, **event).seq)

    def _outcome(self, rec: Recording, access: Access, outcome: str, problem: str) -> None:
        """The second event of an access that went wrong after it was logged, of the same kind."""
        access_seq = access.seq
        try:
            self.log.note(
                access.kind,
                self.clock(),
                recording_id=rec.id,
                details=outcome_details(access_seq, outcome, problem),
            )
        except CouldNotCheck as e:  # the access itself is logged; say why the outcome is not
            log.error("%s: could not record the outcome %s of access %d: %s", rec.id, outcome, access_seq, e)

    def _missing(self, rec: Recording, access: Access, e: NotFound) -> IntegrityFailure:
        """The catalog says this version is stored, and the store has none: evidence gone
        from the store is an integrity failure (exit 3, flagged), not a name mistyped."""
        missing = IntegrityFailure(rec.id, rec.sha256, f"no stored copy ({e})")
        self._failed_check(rec, access, missing)
        return missing

    def _failed_check(self, rec: Recording, access: Access, e: VerificationFailed) -> None:
        problem = f"a copy fetched for replay did not verify: {e}"
        self._outcome(rec, access, FlagKind.INTEGRITY_FAILURE.value, problem)
        flag = Flag(
            FlagKind.INTEGRITY_FAILURE,
            Severity.CRITICAL,
            recording_subject(rec.id),
            f"{problem}; it was not played",
            recording_id=rec.id,
        )
        try:
            self.log.raise_flag(flag, self.clock())
        except CouldNotCheck as db:  # the verification failure is what the caller must hear
            log.error("%s: could not raise the integrity-failure flag: %s", rec.id, db)
