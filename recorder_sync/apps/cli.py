"""``recorder-sync``: argument parsing and the one place exceptions become exit codes.

Exit codes: 0 done; 1 some file could not be fully processed; 2 usage or
configuration error; 3 verification failed (evidence is not what it should be);
4 could not check (storage, database unavailable); 5 key problem; 6 not found;
70 internal error (a bug); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from recorder_sync import __version__
from recorder_sync.apps import config, output
from recorder_sync.apps.commands import (
    cases_cmd,
    db_cmd,
    hold_cmd,
    ingest_cmd,
    keys_cmd,
    records_cmd,
    run_cmd,
)
from recorder_sync.domain.errors import Error

log = logging.getLogger("recorder_sync")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recorder-sync",
        description="Ingest body-worn camera footage: hash, sign, custody-log, store, verify, release.",
    )
    parser.add_argument("--config", type=Path, help="TOML configuration file (env: RECORDER_SYNC_CONFIG)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("--version", action="version", version=f"recorder-sync {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (run_cmd, ingest_cmd, records_cmd, hold_cmd, keys_cmd, db_cmd, cases_cmd):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    output.escape_log_lines()
    if args.verbose < 2:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = config.load(args.config)
        code: int = args.func(args, settings)
        return code
    except Error as e:
        print(f"recorder-sync: {output.printable_lines(str(e))}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader (e.g. `| head`) went away: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception:
        log.exception("internal error (a bug: please report it with this trace)")
        return 70


if __name__ == "__main__":
    sys.exit(main())
