"""``db upgrade``: bring the database schema to the current version."""

from __future__ import annotations

import argparse
from typing import Any

from recorder_sync.apps.config import Settings
from recorder_sync.apps.wiring import open_app


def register(sub: Any) -> None:
    p = sub.add_parser("db", help="database schema")
    dsub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dsub.add_parser("upgrade", help="apply migrations (Alembic) up to the current schema")
    up.set_defaults(func=cmd_upgrade)


def cmd_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    app = open_app(settings, actor="db-upgrade", migrate=True)
    print(f"database schema is current: {app.catalog.engine.url.render_as_string()}")
    return 0
