"""``log acknowledge``: an operator accepts a custody log that lost published events."""

from __future__ import annotations

import argparse

from recorder_sync.apps.commands.keys_cmd import user
from recorder_sync.apps.config import Settings
from recorder_sync.apps.wiring import open_app, utcnow
from recorder_sync.domain.errors import UsageError


def cmd_acknowledge(args: argparse.Namespace, settings: Settings) -> int:
    reason = args.reason.strip()
    if not reason:
        raise UsageError("log acknowledge needs --reason WHY (it is kept in the custody log)")
    actor = f"recorder-sync log ({user()})"
    app = open_app(settings, actor=actor)
    ev = app.checkpoints().acknowledge(args.size, reason, utcnow(), actor)
    details = ev.fields["details"]
    print(
        f"acknowledged: the database's log ({details['database_size']} events) no longer extends the "
        f"published checkpoint of {args.size}; recorded as custody event {ev.seq}"
    )
    print("auditors will see the published checkpoint that the log does not extend, and this event")
    return 0
