"""The replay roster: importing it (all or nothing, each change a custody event) and listing it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from recorder_sync.domain.cases import ImportOutcome
from recorder_sync.domain.ports import Roster
from recorder_sync.domain.roster import parse_roster_csv
from recorder_sync.services.cases import _read as read_import  # one set of messages for every import


def import_roster(repo: Roster, path: Path, actor: str, now: datetime) -> ImportOutcome:
    entries = parse_roster_csv(read_import(path), source=str(path))
    return repo.upsert_roster(entries, now, str(path), actor)
