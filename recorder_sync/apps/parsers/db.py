"""``db upgrade``."""

from __future__ import annotations

from typing import Any

from recorder_sync.apps.parsers import command


def register(sub: Any) -> None:
    p = sub.add_parser("db", help="database schema")
    dsub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dsub.add_parser("upgrade", help="apply migrations (Alembic) up to the current schema")
    up.set_defaults(func=command("db_cmd", "cmd_upgrade"))
