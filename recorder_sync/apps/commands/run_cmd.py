"""``run``: the daemon in the foreground (systemd runs it as a simple service).

Watches every dock (inotify or polling), rescans all docks at start and every
``reconcile_seconds``, and drives the pipeline until SIGTERM or SIGINT; then it
finishes the step it is in and exits 0. Nothing is lost by stopping anywhere:
the state is in the database.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

from recorder_sync.adapters.watcher import DirtyDocks, DockWatcher
from recorder_sync.apps.config import DockConfig, Settings
from recorder_sync.apps.wiring import open_app
from recorder_sync.apps.wiring_cases import SWEEP_SECONDS, cases_runtime
from recorder_sync.domain.errors import Error, UsageError
from recorder_sync.services.ingest import Report

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run the daemon in the foreground")
    p.add_argument(
        "--dock", type=Path, action="append", default=[], help="watch this folder too (repeatable)"
    )
    p.add_argument("--stable-seconds", type=float, help="override every dock's stability window")
    p.add_argument(
        "--sweep-seconds",
        type=float,
        default=SWEEP_SECONDS,
        help=(
            "link new recordings and run the deadline sweep this often, and whenever a batch "
            f"of work is done (default {SWEEP_SECONDS:.0f})"
        ),
    )
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    docks = list(settings.docks)
    for path in args.dock:
        if not path.is_dir():
            raise UsageError(f"{path}: not a folder")
        docks.append(
            DockConfig(
                name=path.resolve().name,
                path=path.resolve(),
                timezone=settings.timezone,
                stable_seconds=settings.stable_seconds,
            )
        )
    if args.stable_seconds is not None:
        docks = [
            DockConfig(d.name, d.path, d.naming_profile, d.timezone, d.observer, args.stable_seconds)
            for d in docks
        ]
    if not docks:
        raise UsageError(
            "no docks configured: add [[docks]] to the config, set RECORDER_SYNC_DOCKS, or pass --dock"
        )

    stop = threading.Event()
    dirty = DirtyDocks()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s; finishing the current step", signal.Signals(signum).name)
        stop.set()
        dirty.wake.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    app = open_app(settings, actor=f"recorder-sync@{settings.station_id}")
    svc = app.ingest_service(docks, notify=lambda what, subject: log.info("%s %s", what, subject))
    runtime = cases_runtime(settings, app.catalog)
    run_once = _Passes(svc)
    watcher = DockWatcher(dirty)
    watcher.start((d.name, d.path, d.observer) for d in docks)
    log.info(
        "station %s watching %d dock(s); store %s",
        settings.station_id,
        len(docks),
        settings.s3.endpoint if settings.s3 else settings.vault_path,
    )
    last_full = last_sweep = float("-inf")
    worked = False
    try:
        while not stop.is_set():
            if time.monotonic() - last_full >= settings.reconcile_seconds:
                dirty.take()
                _guarded("reading camera clocks", runtime.read_dock_clocks, docks)
                for d in docks:
                    _scan(svc, d.name)
                last_full = time.monotonic()
            else:
                for name in dirty.take():
                    _scan(svc, name)
            report = run_once()
            worked = worked or report.progressed > 0
            # every --sweep-seconds, and as soon as a batch of work is done: new footage is
            # linked and its flags settled without waiting for the next period
            settled = worked and report.progressed == 0
            if settled or time.monotonic() - last_sweep >= args.sweep_seconds:
                _guarded("linking and deadline sweep", runtime.tick)
                last_sweep = time.monotonic()
                worked = False
            if report.progressed == 0 and not stop.is_set():
                dirty.wake.wait(timeout=1.0)
    finally:
        watcher.stop()
        runtime.close()
    log.info("stopped cleanly")
    return 0


def _guarded(what: str, fn: Any, *args: Any) -> None:
    """Deadlines and linking must never stop ingestion: a failure is logged and tried next time."""
    try:
        fn(*args)
    except Error as e:
        log.warning("%s failed: %s; trying again at the next turn", what, e)
    except Exception:  # a database hiccup or a bug there must not take ingestion down with it
        log.exception("%s failed unexpectedly; trying again at the next turn", what)


class _Passes:
    """One ingest pass at a time; a failure outside any one file (the database, a bug) is
    logged (its trace once, until a pass succeeds again) and the pass is tried again at the
    next turn, so ingestion and the deadline sweep go on."""

    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.failing = False

    def __call__(self) -> Report:
        try:
            report: Report = self.svc.run_once()
        except Exception as e:
            if self.failing:
                log.warning("ingest pass failed again: %s; trying again at the next turn", e)
            else:
                log.exception("ingest pass failed unexpectedly; trying again at the next turn")
            self.failing = True
            return Report()
        self.failing = False
        return report


def _scan(svc: Any, name: str) -> None:
    try:
        svc.scan(name)
    except Exception as e:  # a dock that is unplugged mid-scan must not stop the daemon
        log.warning("dock %s: scan failed: %s", name, e)
