"""``legal-hold ID on|off --reason …``: an S3 legal hold on one recording's stored copy.

While a hold is on, no one can delete the object version, even after its retention ends.
Each change is a custody event with who and why.
"""

from __future__ import annotations

import argparse

from recorder_sync.apps.config import Settings
from recorder_sync.apps.wiring import legal_holds, open_app, utcnow
from recorder_sync.services.holds import set_legal_hold


def cmd_hold(args: argparse.Namespace, settings: Settings) -> int:
    holds = legal_holds(settings)
    app = open_app(settings, actor=f"{args.by} via recorder-sync")
    rec_id, obj = set_legal_hold(app.catalog, holds, args.id, args.state == "on", args.reason, utcnow())
    print(f"legal hold {args.state} for {rec_id} ({obj.uri})")
    return 0
