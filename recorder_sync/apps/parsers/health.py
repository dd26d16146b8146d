"""``health``: for load balancers and cron."""

from __future__ import annotations

from typing import Any

from recorder_sync.apps.parsers import command, seconds


def register(sub: Any) -> None:
    p = sub.add_parser(
        "health",
        help="exit 0 if the daemon's heartbeat is recent, the database and storage answer and no "
        "critical flag is open; else 1, one reason per line",
    )
    p.add_argument("--json", action="store_true", help="one JSON object: healthy, reasons (a list)")
    p.add_argument(
        "--max-age",
        type=seconds(),
        default=None,
        help="a heartbeat older than this many seconds is stale (default 120)",
    )
    p.set_defaults(func=command("health_cmd", "cmd_health"))
