"""``ingest PATH…``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recorder_sync.apps.parsers import DAY, command, seconds


def register(sub: Any) -> None:
    p = sub.add_parser("ingest", help="process files or dock folders to the end, then exit")
    p.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="files or folders (a folder is a dock)"
    )
    p.add_argument(
        "--stable-seconds", type=seconds(), help="how long size and mtime must hold still (default: config)"
    )
    p.add_argument(
        "--timeout",
        type=seconds(7 * DAY),
        default=600.0,
        help="give up waiting after this many seconds (600)",
    )
    p.add_argument(
        "--max-attempts", type=int, default=4, help="failed attempts per file before giving up (4)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=command("ingest_cmd", "cmd_ingest"))
