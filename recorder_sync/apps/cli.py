"""``recorder-sync``: argument parsing and the one place exceptions become exit codes.

Exit codes: each error class owns its code and says what it means; ``--help`` prints the
table, made from the classes (``domain.errors.exit_codes``), and the README's table is
tested against it.

Only light modules are imported here: the handlers of SIGTERM and SIGINT are installed
before anything else, and each command's implementation is imported when it runs.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from recorder_sync import __version__
from recorder_sync.apps import output
from recorder_sync.apps.logredact import redact_handlers
from recorder_sync.apps.parsers import register_all
from recorder_sync.apps.shutdown import Interrupted, Shutdown
from recorder_sync.apps.stdout_guard import guarded_stdout
from recorder_sync.domain.errors import EXIT_BROKEN_PIPE, EXIT_BUG, EXIT_INTERRUPTED, Error, exit_codes
from recorder_sync.domain.redact import redact

log = logging.getLogger("recorder_sync")


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(
        "recorder-sync",
        "Ingest body-worn camera footage: hash, sign, custody-log, store, verify, release.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register_all(sub)
    return parser


def script_parser(prog: str, description: str, codes: Sequence[int] | None = None) -> argparse.ArgumentParser:
    """The options every console script has; each reads the same configuration. ``codes``:
    the exit codes this script can end with (default: all of them)."""
    table = exit_codes()
    shown = [(code, table[code]) for code in codes] if codes is not None else list(table.items())
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="exit codes:\n" + "\n".join(f"  {code:>3}  {what}" for code, what in shown),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, help="TOML configuration file (env: RECORDER_SYNC_CONFIG)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("--version", action="version", version=f"{prog} {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser, argv)


def console() -> NoReturn:
    """The ``recorder-sync`` console script."""
    exit_with(main())


def exit_with(code: int) -> NoReturn:
    """End a console script: as ``sys.exit``, but the interpreter's end no longer walks every
    object the command imported looking for garbage (about 70 ms at the end of a command
    that loaded SQLAlchemy). Nothing needs that walk by now: ``run`` has closed the
    database connections; files are written with ``with``; threads are still joined and
    exit handlers still run."""
    gc.freeze()
    sys.exit(code)


def run(make_parser: Callable[[], argparse.ArgumentParser], argv: Sequence[str] | None) -> int:
    """Parse, load the configuration, call the command: the body of every console script
    (``recorder-sync``, ``recorder-audit``), whose messages it prefixes with the parser's prog."""
    # first thing: a stop request from here on is noted, never the default action (-15)
    shutdown = Shutdown()
    shutdown.install()
    parser = make_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    redact_handlers()
    output.escape_log_lines()
    if args.verbose < 2:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        args.shutdown = shutdown
        if getattr(args, "stops_at_step", False):
            shutdown.stop_at_step()
        else:
            shutdown.interrupt_now()
        from recorder_sync.apps import config

        settings = config.load(args.config)
        with guarded_stdout():
            code: int = args.func(args, settings)
        return code
    except Error as e:
        print(f"{parser.prog}: {output.printable_lines(redact(str(e)))}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        if isinstance(e, Interrupted):
            # the pipeline is persisted step by step and imports are all or nothing
            said = f"interrupted by {e}; nothing is lost: run it again to go on"
            print(f"{parser.prog}: {said}", file=sys.stderr)
        return shutdown.exit_code if isinstance(e, Interrupted) else EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader (e.g. `| head`) went away: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception:
        log.exception("internal error (a bug: please report it with this trace)")
        return EXIT_BUG
    finally:
        # the database connections the command opened are closed as it ends (imported only
        # if the command used a database)
        engines = sys.modules.get("recorder_sync.adapters.db.engine")
        if engines is not None:
            try:
                engines.close_engines()
            except Exception:  # a connection that cannot even close: the exit closes it
                log.debug("closing the database connections failed", exc_info=True)


if __name__ == "__main__":
    console()
