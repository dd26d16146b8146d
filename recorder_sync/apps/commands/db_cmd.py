"""``db upgrade``: bring the database schema to the current version."""

from __future__ import annotations

import argparse

from recorder_sync.apps.config import Settings
from recorder_sync.apps.wiring import open_app


def cmd_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    app = open_app(settings, actor="db-upgrade", upgrade_schema=True)
    print(f"database schema is current: {app.catalog.engine.url.render_as_string()}")
    return 0
