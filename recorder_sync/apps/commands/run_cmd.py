"""``run``: the daemon in the foreground (systemd runs it as a ``Type=notify`` service).

Watches every dock (inotify or polling), rescans all docks at start and every
``reconcile_seconds``, and drives the pipeline until SIGTERM or SIGINT; then it
leaves the step it is in (a long hash or copy stops at its next buffer) and exits 0.
Nothing is lost by stopping anywhere: the state is in the database.

Each dock is locked machine-wide (``adapters.docklock``). A dock that another process
holds is watched on standby: the daemon takes it over as soon as the holder ends, which
is how two daemons give failover. Once set up it logs ``ready`` and tells systemd
``READY=1``.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from recorder_sync.adapters.docklock import DockLocks
from recorder_sync.adapters.sdnotify import Notifier
from recorder_sync.adapters.watcher import DirtyDocks, DockWatcher
from recorder_sync.apps.config import DockConfig, Settings
from recorder_sync.apps.shutdown import Interrupted, Shutdown
from recorder_sync.apps.wiring import dock_locks, make_dock, open_app
from recorder_sync.domain.errors import Error, UsageError
from recorder_sync.services.ingest import Report

log = logging.getLogger(__name__)


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

    shutdown: Shutdown = args.shutdown
    stop = shutdown.requested
    dirty = DirtyDocks()
    shutdown.on_request(dirty.wake.set)
    systemd = Notifier()
    locks = dock_locks(settings)
    standby = [d for d in docks if not _take(locks, d)]

    # the daemon's start is where a new version upgrades the schema (as `db upgrade` does)
    app = open_app(settings, actor=f"recorder-sync@{settings.station_id}", upgrade_schema=True)
    svc = app.ingest_service(
        [d for d in docks if d not in standby],
        notify=lambda what, subject: log.info("%s %s", what, subject),
        meter=shutdown.metered(),
    )
    runtime = app.cases_runtime()
    run_once = _Passes(svc)
    watcher = DockWatcher(dirty)
    watcher.start((d.name, d.path, d.observer) for d in docks)
    log.info(
        "station %s watching %d dock(s); store %s",
        settings.station_id,
        len(docks),
        settings.s3.endpoint if settings.s3 else settings.vault_path,
    )
    log.info("ready: %s", _state(docks, standby))
    systemd.ready(_state(docks, standby))
    last_full = last_sweep = float("-inf")
    worked = False
    try:
        while not stop.is_set():
            taken = [d for d in standby if _take(locks, d, quiet=True)]
            if taken:
                for d in taken:
                    log.warning("dock %s: its holder has ended; taken over", d.name)
                    svc.docks[d.name] = make_dock(settings, d)
                    standby.remove(d)
                systemd.status(_state(docks, standby))
                last_full = float("-inf")  # what arrived meanwhile is found by a full scan
            held = [d for d in docks if d not in standby]
            if time.monotonic() - last_full >= settings.reconcile_seconds:
                dirty.take()
                _guarded("reading camera clocks", runtime.read_dock_clocks, held)
                for d in held:
                    _scan(svc, d.name)
                last_full = time.monotonic()
            else:
                for name in dirty.take() & set(svc.docks):
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
    except Interrupted:
        log.info("stop requested in the middle of a step; it is taken up again at the next start")
    finally:
        systemd.stopping()
        watcher.stop()
        runtime.close()
    log.info("stopped cleanly")
    return 0


def _take(locks: DockLocks, d: DockConfig, *, quiet: bool = False) -> bool:
    if quiet:  # a standby's retry: a lock folder gone bad is reported, and tried again
        try:
            return locks.try_take(d.path) is None
        except Error as e:
            log.warning("dock %s: cannot take its lock: %s", d.name, e)
            return False
    holder = locks.try_take(d.path)
    if holder is not None and not quiet:
        log.warning("dock %s (%s) is held by another process (%s); standing by", d.name, d.path, holder)
    return holder is None


def _state(docks: list[DockConfig], standby: list[DockConfig]) -> str:
    if not standby:
        return f"ingesting {len(docks)} dock(s)"
    names = ", ".join(d.name for d in standby)
    return f"ingesting {len(docks) - len(standby)} dock(s), standby for {names}"


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
