"""``users import FILE``, ``users list``: the roster of who may use ``recorder-replay``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recorder_sync.apps.parsers import command


def register(sub: Any) -> None:
    p = sub.add_parser("users", help="the roster of who may replay evidence (recorder-replay)")
    usub = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    q = usub.add_parser("import", help="import the roster from CSV user,officer,role,unit (all or nothing)")
    q.add_argument("file", type=Path)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=command("users_cmd", "cmd_users_import"))
    q = usub.add_parser("list", help="the roster")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=command("users_cmd", "cmd_users_list"))
