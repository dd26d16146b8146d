"""Argument parsers of every command, kept light: registering them imports no command module.

``recorder-sync --help`` (and every command's start-up) should not pay for SQLAlchemy,
Alembic, minio, watchdog or cryptography. Each module here registers one command group's
parsers with a :class:`Command` that imports the implementation (``apps.commands.*_cmd``)
only when that command runs.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recorder_sync.apps.config import Settings


class Command:
    """A command's handler, named ``"module:function"`` and imported when it is called."""

    def __init__(self, target: str) -> None:
        self.module, _, self.function = target.partition(":")

    def __call__(self, args: argparse.Namespace, settings: Settings) -> int:
        handler = getattr(importlib.import_module(self.module), self.function)
        code: int = handler(args, settings)
        return code

    def __repr__(self) -> str:
        return f"Command({self.module}:{self.function})"


def command(module: str, function: str) -> Command:
    """``command("run_cmd", "cmd_run")``: a handler in ``recorder_sync.apps.commands``."""
    return Command(f"recorder_sync.apps.commands.{module}:{function}")


DAY = 86400.0


def seconds(high: float = DAY) -> Callable[[str], float]:
    """An argparse ``type=`` for a duration, checked like the configuration file's durations
    (NaN, infinity or a negative number is exit 2); the checker is imported only when the
    option is given, so that ``--help`` stays light."""

    def parse(text: str) -> float:
        from recorder_sync.apps.config import seconds_option

        return seconds_option(high)(text)

    return parse


def register_all(sub: Any) -> None:
    from recorder_sync.apps.parsers import cases, db, health, hold, ingest, keys, log, records, run, users

    for module in (run, ingest, records, hold, keys, log, db, cases, users, health):
        module.register(sub)
