"""``users import FILE`` and ``users list``: the roster of ``recorder-replay``."""

from __future__ import annotations

import argparse

from recorder_sync.adapters.db.users_repo import RosterRepo
from recorder_sync.apps.commands.cases_cmd import _user as login_name
from recorder_sync.apps.config import Settings
from recorder_sync.apps.output import emit_json, table
from recorder_sync.apps.wiring import open_app, utcnow
from recorder_sync.services.roster import import_roster


def _repo(settings: Settings) -> RosterRepo:
    return RosterRepo(open_app(settings, actor=f"recorder-sync cli ({login_name()})").catalog)


def cmd_users_import(args: argparse.Namespace, settings: Settings) -> int:
    outcome = import_roster(_repo(settings), args.file, f"users import ({login_name()})", utcnow())
    if args.json:
        emit_json(
            {"added": list(outcome.added), "updated": list(outcome.updated), "unchanged": outcome.unchanged}
        )
    else:
        added, updated = len(outcome.added), len(outcome.updated)
        print(f"users: {added} added, {updated} updated, {outcome.unchanged} unchanged")
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = [e.as_record() for e in _repo(settings).roster()]
    if args.json:
        emit_json(rows)
    else:
        table(rows, ["user", "role", "officer", "unit"])
    return 0
