"""``ingest PATH…``: take the given files or dock folders all the way through, then exit."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from recorder_sync.adapters.dockfs import shown_name
from recorder_sync.apps.config import DockConfig, Settings
from recorder_sync.apps.output import ByteMeter, progress
from recorder_sync.apps.shutdown import Shutdown
from recorder_sync.apps.wiring import check_log, dock_locks, open_app, publish_checkpoint
from recorder_sync.domain.errors import IngestIncomplete, UsageError
from recorder_sync.domain.model import RecordingState, SightingState


def targets(
    paths: list[Path], settings: Settings, stable: float | None
) -> dict[str, tuple[DockConfig, set[str] | None]]:
    """Map each path to a dock (configured, or an ad-hoc one for the folder) and the files wanted."""
    configured = {d.path.resolve(): d for d in settings.docks}
    out: dict[str, tuple[DockConfig, set[str] | None]] = {}
    for p in paths:
        if p.is_symlink():
            raise UsageError(f"{p}: is a symbolic link; give the real folder or file")
        if not p.exists():
            raise UsageError(f"{p}: no such file or folder")
        folder, name = (p, None) if p.is_dir() else (p.parent, shown_name(p.name))
        folder = folder.resolve()
        dock = configured.get(folder) or DockConfig(
            name=shown_name(str(folder)),
            path=folder,
            timezone=settings.timezone,
            stable_seconds=settings.stable_seconds,
        )
        if stable is not None:
            dock = DockConfig(dock.name, dock.path, dock.naming_profile, dock.timezone, dock.observer, stable)
        prev = out.get(dock.name)
        wanted: set[str] | None
        if name is None or (prev is not None and prev[1] is None):
            wanted = None
        else:
            wanted = (prev[1] if prev else set()) | {name}  # type: ignore[operator]
        out[dock.name] = (dock, wanted)
    return out


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    wanted = targets(args.paths, settings, args.stable_seconds)
    locks = dock_locks(settings)
    for dock, _ in wanted.values():
        locks.take(dock.path)  # held until this process ends; a busy dock is refused whole
    app = open_app(settings, actor=f"recorder-sync ingest@{settings.station_id}")
    # a database rolled back behind what was published stops here, before it logs anything
    checkpoints = app.checkpoints()
    check_log(checkpoints)
    shutdown: Shutdown = args.shutdown
    svc = app.ingest_service(
        [d for d, _ in wanted.values()],
        notify=None if args.quiet else progress,
        # a stop request ends a long hash or copy at its next buffer
        meter=shutdown.metered(None if args.quiet else ByteMeter),
    )
    cases = app.cases_runtime(alerts=False)
    # the camera's clock as the dock shows it (clock.json), before the file is released
    cases.read_dock_clocks([d for d, _ in wanted.values()])
    sightings: set[int] = set()
    refused: set[str] = set()
    deadline = time.monotonic() + args.timeout
    before: dict[int, int] | None = None
    while True:
        for name, (_, only) in wanted.items():
            scan = svc.scan(name, only)
            sightings |= scan.sightings
            refused |= set(scan.refused)
        if before is None:
            # an operator asks for these files now (space freed, storage back): earlier
            # failures neither make them wait out their backoff nor count against this run
            _retry_now(app.catalog, sightings, args.quiet)
            before = {sid: _attempts(app.catalog, sid) for sid in sightings}
        report = svc.run_once()
        pending, given_up = _pending(app.catalog, sightings, args.max_attempts, before)
        if not pending or time.monotonic() > deadline:
            break
        if report.progressed == 0:
            if pending <= given_up:
                break
            time.sleep(0.2)
    cases.cases.link_new_recordings()
    publish_checkpoint(lambda: checkpoints, app.timestamps(checkpoints.store))
    failed = _summarise(app.catalog, sightings, refused, args.quiet)
    if failed:
        raise IngestIncomplete(failed, len(sightings) + len(refused))
    return 0


def _retry_now(catalog: Any, sightings: set[int], quiet: bool) -> None:
    recordings = {rid for sid in sightings if (rid := catalog.sighting(sid).recording_id) is not None}
    lifted = catalog.retry_now(recordings)
    if lifted and not quiet:
        progress("retrying", f"{lifted} recording(s) that waited out a backoff after a failure: now")


def _attempts(catalog: Any, sid: int) -> int:
    s = catalog.sighting(sid)
    rec_attempts: int = catalog.recording(s.recording_id).attempts if s.recording_id else 0
    return max(int(s.attempts), rec_attempts)


def _pending(
    catalog: Any, sightings: set[int], max_attempts: int, before: dict[int, int]
) -> tuple[set[int], set[int]]:
    """The files not done yet, and those of them that failed ``max_attempts`` times in this run."""
    pending: set[int] = set()
    given_up: set[int] = set()
    for sid in sightings:
        s = catalog.sighting(sid)
        if s.state.final:
            continue
        pending.add(sid)
        if _attempts(catalog, sid) - before.get(sid, 0) >= max_attempts:
            given_up.add(sid)
    return pending, given_up


def _summarise(catalog: Any, sightings: set[int], refused: set[str], quiet: bool) -> int:
    failed = len(refused)
    for line in sorted(refused):
        progress("REFUSED", line)
    for sid in sorted(sightings):
        s = catalog.sighting(sid)
        rec = catalog.recording(s.recording_id) if s.recording_id else None
        done = s.state in (SightingState.RELEASED, SightingState.KEPT)
        if rec is None or not done or not rec.state.at_least(RecordingState.VERIFIED):
            failed += 1
            why = (rec.last_error if rec else None) or s.last_error or f"stopped at state {s.state.value}"
            progress("FAILED", f"{s.dock}/{s.relpath}: {why}")
        elif not quiet:
            progress("done", f"{s.dock}/{s.relpath} → {rec.id} ({rec.state.value})")
    return failed
