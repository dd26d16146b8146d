"""``keys init`` and ``keys export-public``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recorder_sync.apps.parsers import command


def register(sub: Any) -> None:
    p = sub.add_parser("keys", help="station signing key")
    ksub = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    init = ksub.add_parser("init", help="create the station key (0600 file in a 0700 folder)")
    init.set_defaults(func=command("keys_cmd", "cmd_init"))
    export = ksub.add_parser("export-public", help="print (or write) the public key as PEM")
    export.add_argument("--out", type=Path, help="write to this file instead of stdout")
    export.set_defaults(func=command("keys_cmd", "cmd_export"))
