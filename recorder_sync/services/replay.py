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
from dataclasses import dataclass

from recorder_sync.domain import layout
from recorder_sync.domain.cases import ActionQuery
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.errors import (
    AccessRefused,
    CouldNotCheck,
    Error,
    NotFound,
    UsageError,
    VerificationFailed,
)
from recorder_sync.domain.model import Flag, FlagKind, Recording, Severity
from recorder_sync.domain.policy import DeadlineSettings
from recorder_sync.domain.ports import AccessLog, Clock, Player, PrivateCopies, ReplayLibrary, Roster
from recorder_sync.domain.replay import (
    VIA,
    ClipRange,
    FindQuery,
    FoundRecording,
    access_details,
    check_copy,
    outcome_details,
    require_reason,
)
from recorder_sync.domain.roster import RosterEntry, authorize, entry_for, may_see, officer_scope
from recorder_sync.domain.subjects import recording_subject
from recorder_sync.domain.timeline import Timeline, action_title, build_timeline, timeline_selection
from recorder_sync.domain.trust import TrustAnchors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Played:
    recording: Recording
    access_seq: int
    player_status: int


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
    ) -> None:
        self.actor = actor
        self.roster = roster
        self.library = library
        self.log = log
        self.copies = copies
        self.clock = clock

    def who(self, command: str) -> RosterEntry:
        """The actor's roster entry, if it may run ``command``; else ``AccessRefused`` (exit 2)."""
        return authorize(self.actor, entry_for(self.actor, self.roster.roster()), command)

    # --- metadata: logged as searches --------------------------------------------------

    def find(self, query: FindQuery) -> list[FoundRecording]:
        entry = self.who("find")
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
        entry = self.who("timeline")
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
            timelines.append(
                build_timeline(
                    action_title(action),
                    (action.start, action.end),
                    found,
                    settings.coverage_tolerance,
                    action=action,
                    checkouts=checkouts,
                    slack=slack,
                )
            )
        return timelines

    # --- content: logged before the first byte is read ----------------------------------

    def play(
        self, ref: str, reason: str | None, span: ClipRange, trust: TrustAnchors, player: Player
    ) -> Played:
        entry = self.who("play")
        why = require_reason(reason, "play")
        rec = self._visible(entry, ref)
        if rec.storage_uri is None:
            raise NotFound(f"a stored copy of {rec.id} (not stored yet: state {rec.state.value})")
        unusable = player.unusable()
        if unusable is not None:
            raise UsageError(unusable)
        access = self.log.note(
            EventKind.ACCESSED,
            self.clock(),
            recording_id=rec.id,
            details=access_details(entry, "play", [rec], span, player=player.name),
            reason=why,
        )
        try:
            # the version that was stored and verified, not whatever is latest under the key
            with self.copies.fetch(layout.media_key(rec.sha256), rec.version_id) as copy:
                try:
                    signed_at = self.library.signed_at(rec.id) or rec.ingested_at
                    check_copy(rec, copy.sha256, copy.size, trust, signed_at)
                except VerificationFailed as e:
                    self._failed_check(rec, access.seq, e)
                    raise
                status = player.play(copy.path, span)
        except VerificationFailed:
            raise
        except (Error, OSError) as e:
            self._outcome(rec, access.seq, "failed", str(e))
            raise
        if status != 0:
            self._outcome(rec, access.seq, "player-failed", f"{player.name} exited with status {status}")
        return Played(rec, access.seq, status)

    def _visible(self, entry: RosterEntry, ref: str) -> Recording:
        rec = self.log.recording(ref)
        if not may_see(entry, rec.officer):
            raise AccessRefused(
                self.actor, f"is officer {entry.officer}: an officer may replay only their own recordings"
            )
        return rec

    def _outcome(self, rec: Recording, access_seq: int, outcome: str, problem: str) -> None:
        try:
            self.log.note(
                EventKind.ACCESSED,
                self.clock(),
                recording_id=rec.id,
                details=outcome_details(access_seq, outcome, problem),
            )
        except CouldNotCheck as e:  # the access itself is logged; say why the outcome is not
            log.error("%s: could not record the outcome %s of access %d: %s", rec.id, outcome, access_seq, e)

    def _failed_check(self, rec: Recording, access_seq: int, e: VerificationFailed) -> None:
        problem = f"a copy fetched for replay did not verify: {e}"
        self._outcome(rec, access_seq, FlagKind.INTEGRITY_FAILURE.value, problem)
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
