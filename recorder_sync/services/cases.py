"""Cases, the device ledger and links: imports, manual links, automatic linking.

Imports are parsed whole by the pure core (a bad file is rejected with every
problem, nothing stored), then stored in one transaction.  New or changed actions
and ledger lines, and newly probed recordings, are run through ``propose_links``;
only what the evidence supports unambiguously becomes an ``auto`` link, the rest a
``suggested`` one for a person to confirm with ``link``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from recorder_sync.domain.cases import (
    Action,
    ActionQuery,
    Checkout,
    ImportOutcome,
    parse_action_record,
    parse_actions_csv,
    parse_actions_json,
    parse_checkouts_csv,
    parse_checkouts_json,
)
from recorder_sync.domain.errors import NotFound, UsageError
from recorder_sync.domain.linking import RecordingFacts, StoredLink, propose_links
from recorder_sync.domain.policy import ActionPolicy, DeadlineSettings
from recorder_sync.domain.ports import CaseStores, Clock

log = logging.getLogger(__name__)

LINK_CURSOR = "link"
# Recordings are linked a window at a time: a day of footage and the actions around it.
_BATCH = 5000


@dataclass(frozen=True)
class LinkRun:
    examined: int
    created: tuple[StoredLink, ...]
    seconds: float


def _is_json(name: str, text: str) -> bool:
    if name.lower().endswith(".json"):
        return True
    if name.lower().endswith(".csv"):
        return False
    return text.lstrip("\ufeff \t\r\n")[:1] in ("[", "{")


class CaseService:
    def __init__(
        self,
        repo: CaseStores,
        policy: Mapping[str, ActionPolicy],
        settings: DeadlineSettings,
        clock: Clock,
    ) -> None:
        self.repo = repo
        self.policy = policy
        self.settings = settings
        self.clock = clock

    # --- imports --------------------------------------------------------------

    def parse_actions(self, text: str, name: str) -> list[Action]:
        if _is_json(name, text):
            return parse_actions_json(text, self.policy, source=name)
        return parse_actions_csv(text, self.policy, source=name)

    def import_actions(self, path: Path, actor: str) -> tuple[ImportOutcome, LinkRun]:
        text = _read(path)
        actions = self.parse_actions(text, str(path))
        outcome = self.repo.upsert_actions(actions, self.clock(), str(path), actor)
        touched = set(outcome.added) | set(outcome.updated)
        return outcome, self.relink([a for a in actions if a.action_id in touched])

    def add_action(self, record: Mapping[str, Any], actor: str) -> tuple[ImportOutcome, LinkRun]:
        action = parse_action_record(record, self.policy, source="case add")
        outcome = self.repo.upsert_actions([action], self.clock(), "case add", actor)
        return outcome, self.relink([action] if (outcome.added or outcome.updated) else [])

    def import_checkouts(self, path: Path, actor: str) -> tuple[ImportOutcome, LinkRun]:
        text = _read(path)
        if _is_json(str(path), text):
            checkouts = parse_checkouts_json(text, source=str(path))
        else:
            checkouts = parse_checkouts_csv(text, source=str(path))
        outcome = self.repo.upsert_checkouts(checkouts, self.clock(), str(path), actor)
        windows = [(c.start, c.end or self.clock()) for c in checkouts]
        return outcome, self._relink_windows(windows)

    # --- queries ----------------------------------------------------------------

    def actions(self, query: ActionQuery | None = None) -> list[Action]:
        return self.repo.actions(query or ActionQuery())

    def action(self, action_id: str) -> Action:
        found = self.repo.actions(ActionQuery(action_id=action_id))
        if not found:
            raise NotFound(f"action {action_id!r}")
        return found[0]

    def case(self, case_or_action: str) -> list[Action]:
        """The actions of a case (given its id, or the id of one of its actions)."""
        found = self.repo.actions(ActionQuery(case_id=case_or_action))
        if not found:
            one = self.repo.actions(ActionQuery(action_id=case_or_action))
            if one:
                found = self.repo.actions(ActionQuery(case_id=one[0].case_id))
        if not found:
            raise NotFound(f"case {case_or_action!r}")
        return found

    def checkouts(self, device: str | None = None, officer: str | None = None) -> list[Checkout]:
        return self.repo.checkouts(device=device, officer=officer)

    def links_for(self, query: ActionQuery, *, include_removed: bool = False) -> list[StoredLink]:
        actions = self.repo.actions(query)
        return self.repo.links(
            action_ids=[a.action_id for a in actions], include_removed=include_removed, device=query.device
        )

    def history(self, action_id: str) -> list[dict[str, Any]]:
        return self.repo.action_history(action_id)

    # --- links ---------------------------------------------------------------------

    def link(self, recording_id: str, action_id: str, by: str, reason: str) -> StoredLink:
        """A manual link, or the confirmation of a suggested one."""
        _require_who_and_why("a manual link", by, reason)
        return self.repo.link(recording_id, action_id, by, reason, self.clock())

    def unlink(self, recording_id: str, action_id: str, by: str, reason: str) -> int:
        _require_who_and_why("an unlink", by, reason)
        return self.repo.unlink(recording_id, action_id, by, reason, self.clock())

    def relink(self, actions: Sequence[Action]) -> LinkRun:
        return self._relink_windows([(a.start, a.end) for a in actions])

    def _relink_windows(self, windows: Sequence[tuple[datetime, datetime]]) -> LinkRun:
        """Propose links for the recordings overlapping each window (merged when close)."""
        started = time.perf_counter()
        if not windows:
            return LinkRun(0, (), 0.0)
        slack = self.settings.link_slack
        merged: list[list[datetime]] = []
        for lo, hi in sorted(windows):
            if merged and lo <= merged[-1][1] + timedelta(hours=1):
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        examined = 0
        created: list[StoredLink] = []
        for lo, hi in merged:
            recordings = self.repo.recordings_overlapping(lo - slack, hi + slack)
            examined += len(recordings)
            created.extend(self._propose(recordings))
        return LinkRun(examined, tuple(created), time.perf_counter() - started)

    def _propose(self, recordings: Sequence[RecordingFacts]) -> list[StoredLink]:
        windows = [r.window for r in recordings if r.window is not None]
        if not windows:
            return []
        slack = self.settings.link_slack
        lo = min(w[0] for w in windows) - slack
        hi = max(w[1] for w in windows) + slack
        actions = self.repo.actions_overlapping(lo, hi)
        if not actions:
            return []
        checkouts = self.repo.checkouts_overlapping(lo, hi)
        proposals = propose_links(recordings, actions, checkouts, slack)
        return self.repo.apply_proposals(proposals, self.clock())

    def link_new_recordings(self) -> LinkRun:
        """Link recordings probed since the last call (the daemon calls this periodically)."""
        started = time.perf_counter()
        cursor = self.repo.cursor(LINK_CURSOR)
        examined = 0
        created: list[StoredLink] = []
        while True:
            recordings, new_cursor = self.repo.recordings_probed_since(cursor, _BATCH)
            examined += len(recordings)
            # one window per day keeps the action query narrow when a backlog spans months
            by_day: dict[object, list[RecordingFacts]] = {}
            for r in recordings:
                w = r.window
                if w is not None:
                    by_day.setdefault(w[0].date(), []).append(r)
            for group in by_day.values():
                created.extend(self._propose(group))
            if new_cursor != cursor:
                self.repo.set_cursor(LINK_CURSOR, new_cursor)
            if len(recordings) < _BATCH or new_cursor == cursor:
                break
            cursor = new_cursor
        return LinkRun(examined, tuple(created), time.perf_counter() - started)


def _require_who_and_why(what: str, by: str, reason: str) -> None:
    """A person's change to the links is evidence: it names who made it and why."""
    if not by.strip() or not reason.strip():
        raise UsageError(f"{what} needs who (--by) and why (--reason)")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror}") from None
