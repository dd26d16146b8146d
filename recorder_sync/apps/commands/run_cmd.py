"""``run``: the daemon in the foreground (systemd runs it as a ``Type=notify`` service).

Composition only: settings → dock locks, ingest and cases services, watcher, systemd →
:class:`~recorder_sync.services.daemon.DaemonService`, whose loop rescans all docks at start
and every ``reconcile_seconds`` and drives the pipeline until SIGTERM or SIGINT; then it
leaves the step it is in (a long hash or copy stops at its next buffer) and exits 0.
Nothing is lost by stopping anywhere: the state is in the database.

Each dock is locked machine-wide (``adapters.docklock``). A dock that another process
holds is watched on standby: the daemon takes it over as soon as the holder ends, which
is how two daemons give failover. Once set up it logs ``ready`` and tells systemd
``READY=1``.

Linking, deadline sweeps, alerts and checkpoints run in a thread of their own, with a
database engine of their own, in the one daemon that leads among those sharing the database
(``services.leader``, ``adapters.db.leader``). Every daemon records itself, its heartbeat
and whether it leads in the ``daemons`` table, which ``status`` shows.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from recorder_sync.adapters.db.daemons_repo import DaemonsRepo
from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.heartbeat_repo import Heartbeat
from recorder_sync.adapters.db.leader import leadership_for
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.docklock import DockLocks
from recorder_sync.adapters.sdnotify import Notifier, Watchdog
from recorder_sync.adapters.watcher import DirtyDocks, DockWatcher
from recorder_sync.apps.config import DockConfig, Settings
from recorder_sync.apps.shutdown import Interrupted, Shutdown
from recorder_sync.apps.wiring import (
    App,
    CasesRuntime,
    check_log,
    dock_locks,
    make_dock,
    open_app,
    publish_checkpoint,
    utcnow,
)
from recorder_sync.domain.errors import DatabaseUnavailable, Error, UsageError
from recorder_sync.domain.health import BEAT_SECONDS
from recorder_sync.services.daemon import DaemonService
from recorder_sync.services.leader import LeaderService

if TYPE_CHECKING:
    from recorder_sync.services.checkpoints import CheckpointService

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

    by_name: dict[str, DockConfig] = {}
    for d in docks:
        seen = by_name.setdefault(d.name, d)
        if seen.path != d.path:
            # files are recorded under their dock's name: one of the two would be locked and
            # watched, but never ingested
            raise UsageError(
                f"two docks are named {d.name!r} ({seen.path} and {d.path}): each needs its own name "
                "(the name of its [[docks]] entry, or of its folder for --dock)"
            )
    docks = list(by_name.values())  # the same folder twice is one dock

    shutdown: Shutdown = args.shutdown
    if shutdown.requested.is_set():
        # asked to stop before anything started: start nothing (a start on a fresh station
        # migrates the schema, opens stores and engines, which may outlast the stop's grace)
        log.info("stopped cleanly before starting")
        return 0
    dirty = DirtyDocks()
    shutdown.on_request(dirty.wake.set)
    systemd = Notifier()
    watchdog = Watchdog(systemd)
    monitoring = None
    if settings.metrics_listen is not None:  # first: a port in use stops the start before any work
        from recorder_sync.apps.monitoring import start_monitoring

        monitoring = start_monitoring(settings, *settings.metrics_listen)
    locks = dock_locks(settings)
    standby = [d for d in docks if not _take(locks, d)]

    # the daemon's start is where a new version upgrades the schema (as `db upgrade` does)
    try:
        app = open_app(settings, actor=f"recorder-sync@{settings.station_id}", upgrade_schema=True)
    except DatabaseUnavailable as e:
        # not retried here: before any file is touched the schema must be current and the log
        # checked against what was published, and a unit that is not READY helps no one;
        # systemd's Restart=on-failure starts it again, and a running daemon rides out outages
        raise DatabaseUnavailable(
            f"{e.args[0]}; `run` starts only with its database (under systemd it is started again)"
        ) from e

    # the leader's work has an engine of its own: a long sweep holds none of ingestion's
    # connections, and ingestion none of its
    sweeping = App(
        settings,
        # the same owner: one daemon, one row in the daemons table
        SqlCatalog(
            make_engine(settings.database_url),
            station=settings.station_id,
            actor=app.catalog.actor,
            owner=app.catalog.owner,
        ),
    )
    journal = DaemonsRepo(app.catalog)
    journal.register(utcnow())
    # its heartbeat: this row's heartbeat_at, at most every BEAT_SECONDS (`health`, `status`)
    heartbeat = Heartbeat(app.catalog.engine, owner=app.catalog.owner, now=utcnow, every=BEAT_SECONDS)

    def alive() -> None:
        """The loop turned, or bytes flowed in a long step: systemd's watchdog, and `health`."""
        watchdog.ping()
        heartbeat.beat()

    # a database rolled back behind what was published does not start (exit 3)
    checkpoints = sweeping.checkpoints()
    check_log(checkpoints)
    stamps = sweeping.timestamps(checkpoints.store)

    def current_checkpoints() -> CheckpointService:
        """With the log keys as they are now: ``keys rotate --log`` needs no restart."""
        return sweeping.checkpoints(checkpoints.store, create_key=False)

    svc = app.ingest_service(
        [d for d in docks if d not in standby],
        notify=lambda what, subject: log.info("%s %s", what, subject),
        meter=shutdown.metered(lambda what, subject, total: lambda n: alive()),  # bytes flow: at work
    )
    runtime = sweeping.cases_runtime()
    if monitoring is not None:
        svc.metrics = monitoring.metrics
        monitoring.watch_alerts(runtime.alerts.queued, lambda: runtime.alerts.dropped)
    wake = threading.Event()
    shutdown.on_request(wake.set)
    leader = LeaderService(
        leadership=leadership_for(sweeping.catalog.engine),
        tick=runtime.tick,
        clock=time.monotonic,
        wall=utcnow,
        stop=shutdown.requested,
        wake=wake,
        sweep_seconds=args.sweep_seconds,
        checkpoint=lambda: publish_checkpoint(current_checkpoints, stamps),
        checkpoint_seconds=settings.log.checkpoint_seconds,
        journal=DaemonsRepo(sweeping.catalog),
        metrics=svc.metrics,
    )

    def acquire(name: str) -> bool:
        """A standby dock whose holder has ended: lock it and ingest it from now on."""
        if not _take(locks, by_name[name], quiet=True):
            return False
        svc.docks[name] = make_dock(settings, by_name[name])
        return True

    daemon = DaemonService(
        ingest=svc,
        cases=_CasesOfDocks(app.cases_runtime(alerts=False), by_name),  # the docks' clocks: ingest's engine
        queue=dirty,
        clock=time.monotonic,
        stop=shutdown.requested,
        docks=[d.name for d in docks],
        standby=[d.name for d in standby],
        acquire=acquire,
        status=systemd.status,
        reconcile_seconds=settings.reconcile_seconds,
        leader=leader,
        alive=alive,
        metrics=svc.metrics,
    )
    watcher = DockWatcher(dirty)
    watcher.start((d.name, d.path, d.observer) for d in docks)
    log.info(
        "station %s watching %d dock(s); store %s",
        settings.station_id,
        len(docks),
        settings.s3.endpoint if settings.s3 else settings.vault_path,
    )
    log.info("ready: %s", daemon.state())
    systemd.ready(daemon.state())
    try:
        daemon.run()
    except Interrupted:
        log.info("stop requested in the middle of a step; it is taken up again at the next start")
    finally:
        systemd.stopping()
        watcher.stop()
        runtime.close()
        if monitoring is not None:
            monitoring.close()
    if leader.leading and leader.leadership.try_lead():
        # what was logged since the last one, before the station goes quiet (the leader's
        # job: another daemon that goes on leading signs it otherwise)
        publish_checkpoint(current_checkpoints)
    leader.give_up()
    try:
        journal.gone()
    except Error as e:
        log.warning("could not remove this daemon from the daemons table: %s", e)
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


@dataclass
class _CasesOfDocks:
    """The cases runtime as the loop sees it: docks by name."""

    runtime: CasesRuntime
    docks: Mapping[str, DockConfig]

    def read_dock_clocks(self, names: Sequence[str]) -> int:
        return self.runtime.read_dock_clocks([self.docks[n] for n in names])
