"""``recorder-replay``: find and play evidence under access supervision.

For a person who may read evidence but never change it. The actor is the operating-system
account running the command (``user@host``), checked against the roster that
``recorder-sync users import`` keeps; every viewing is a custody event written before the
first byte is read. Same configuration, signals and exit codes as ``recorder-sync``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

from recorder_sync.apps.cli import exit_with, run, script_parser
from recorder_sync.apps.parsers import replay


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(
        "recorder-replay",
        "Find and play evidence, every access logged first (who, what, why) and every copy verified.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    replay.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser, argv)


def console() -> NoReturn:
    """The ``recorder-replay`` console script."""
    exit_with(main())


if __name__ == "__main__":
    console()
