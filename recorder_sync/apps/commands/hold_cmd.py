"""``legal-hold ID on|off --reason …``: an S3 legal hold on one recording's stored copy.

While a hold is on, no one can delete the object version, even after its retention ends.
Each change is a custody event with who and why.
"""

from __future__ import annotations

import argparse

from recorder_sync.adapters.s3store import S3Store
from recorder_sync.apps.config import Settings
from recorder_sync.apps.wiring import open_app, utcnow
from recorder_sync.domain import layout
from recorder_sync.domain.custody import Action
from recorder_sync.domain.errors import UsageError


def cmd_hold(args: argparse.Namespace, settings: Settings) -> int:
    if settings.s3 is None:
        raise UsageError(
            "legal holds are an S3 Object Lock feature; the local vault has none (configure [s3])"
        )
    app = open_app(settings, actor=f"{args.by} via recorder-sync")
    rec = app.catalog.recording(args.id)
    store = app.store()
    assert isinstance(store, S3Store)
    obj = store.set_legal_hold(layout.media_key(rec.sha256), args.state == "on")
    app.catalog.note(
        Action.LEGAL_HOLD if args.state == "on" else Action.LEGAL_HOLD_RELEASED,
        utcnow(),
        recording_id=rec.id,
        details={"uri": obj.uri, "version_id": obj.version_id or ""},
        reason=args.reason,
    )
    print(f"legal hold {args.state} for {rec.id} ({obj.uri})")
    return 0
