"""``run``: the daemon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recorder_sync.apps.parsers import command, seconds

SWEEP_SECONDS = 300.0


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run the daemon in the foreground")
    p.add_argument(
        "--dock", type=Path, action="append", default=[], help="watch this folder too (repeatable)"
    )
    p.add_argument("--stable-seconds", type=seconds(), help="override every dock's stability window")
    p.add_argument(
        "--sweep-seconds",
        type=seconds(),
        default=SWEEP_SECONDS,
        help=(
            "link new recordings and run the deadline sweep this often, and whenever a batch "
            f"of work is done, while this daemon leads (default {SWEEP_SECONDS:.0f})"
        ),
    )
    # a stop request ends the loop after the current step (exit 0) instead of unwinding it
    p.set_defaults(func=command("run_cmd", "cmd_run"), stops_at_step=True)
