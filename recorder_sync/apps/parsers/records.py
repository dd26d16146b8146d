"""Read-only views: ``status``, ``list``, ``show``, ``manifest``, ``flags``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recorder_sync.apps.parsers import command


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="counts by state, backlog, oldest pending, open flags")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=command("records_cmd", "cmd_status"))

    p = sub.add_parser("list", help="recordings")
    p.add_argument("--state")
    p.add_argument("--device")
    p.add_argument("--officer")
    p.add_argument("--limit", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=command("records_cmd", "cmd_list"))

    p = sub.add_parser("show", help="one recording: manifest, stored copy, custody events, flags")
    p.add_argument("id", help="recording id or SHA-256 (a unique prefix of 8+ characters is enough)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=command("records_cmd", "cmd_show"))

    p = sub.add_parser("manifest", help="write manifest.json, manifest.sig and station.pub.pem for openssl")
    p.add_argument("id")
    p.add_argument("--out", type=Path, required=True, help="folder to write into (created if missing)")
    p.set_defaults(func=command("records_cmd", "cmd_manifest"))

    p = sub.add_parser("flags", help="flags raised (default: open and acknowledged)")
    p.add_argument("--all", action="store_true", help="include resolved flags")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=command("records_cmd", "cmd_flags"))
