"""``log acknowledge``."""

from __future__ import annotations

from typing import Any

from recorder_sync.apps.parsers import command


def register(sub: Any) -> None:
    p = sub.add_parser("log", help="the custody log and its published checkpoints")
    lsub = p.add_subparsers(dest="log_command", required=True, metavar="ACTION")
    ack = lsub.add_parser(
        "acknowledge",
        help="accept that the database's log no longer extends the latest published checkpoint "
        "(a database restored from a backup); recorded in the custody log",
    )
    ack.add_argument("--size", type=int, required=True, help="the latest published checkpoint size, as named")
    ack.add_argument("--reason", required=True, help="why (kept in the custody log)")
    ack.set_defaults(func=command("log_cmd", "cmd_acknowledge"))
