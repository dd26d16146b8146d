"""Read-only views: ``status``, ``list``, ``show``, ``manifest``, ``flags``."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recorder_sync.apps.config import Settings
from recorder_sync.apps.output import emit_json, printable, shown_time, table
from recorder_sync.domain.model import Flag, Recording
from recorder_sync.domain.times import utc_iso

if TYPE_CHECKING:
    from recorder_sync.adapters.db.repository import SqlCatalog

# `status` reads through SQLAlchemy Core (adapters.db.status_view): the catalog, its ORM
# and the wiring are imported by the commands that use them, so that `status` starts fast


def _catalog(settings: Settings) -> SqlCatalog:
    from recorder_sync.apps.wiring import open_app

    return open_app(settings, actor="recorder-sync cli").catalog


# metadata values that are times (stored as UTC ISO 8601, see ``times.utc_iso``)
_METADATA_TIMES = frozenset({"start", "end"})


def recording_json(rec: Recording, flags: list[Flag]) -> dict[str, Any]:
    return {
        "id": rec.id,
        "sha256": rec.sha256,
        "size": rec.size,
        "kind": rec.kind.value,
        "state": rec.state.value,
        "device": rec.device,
        "officer": rec.officer,
        "start": utc_iso(rec.start) if rec.start else None,
        "end": utc_iso(rec.end) if rec.end else None,
        "important": rec.important,
        "duration_ms": rec.duration_ms,
        "station": rec.station,
        "dock": rec.dock,
        "source_path": rec.original_name,
        "storage_uri": rec.storage_uri,
        "ingested_at": utc_iso(rec.ingested_at),
        "verified_at": utc_iso(rec.verified_at) if rec.verified_at else None,
        "released_at": utc_iso(rec.released_at) if rec.released_at else None,
        "key_id": rec.key_id,
        "last_error": rec.last_error,
        "flags": [f.kind.value for f in flags],
    }


def flag_json(f: Flag) -> dict[str, Any]:
    d = {k: v for k, v in asdict(f).items()}
    d["kind"], d["severity"], d["state"] = f.kind.value, f.severity.value, f.state.value
    for k in ("due", "raised_at"):
        d[k] = utc_iso(d[k]) if d[k] else None
    return d


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from recorder_sync.adapters.db.engine import make_engine, open_schema
    from recorder_sync.adapters.db.status_view import read_status

    engine = make_engine(settings.database_url)
    open_schema(engine, upgrade_old=False)  # as every command: see wiring.open_app
    status, timestamps = read_status(engine)
    status["station"] = settings.station_id
    status["store"] = settings.s3.endpoint if settings.s3 else str(settings.vault_path)
    status["timestamps"] = timestamps | {"tsa": settings.timestamping is not None}
    if args.json:
        emit_json(status)
        return 0
    print(f"station {status['station']}   store {status['store']}")
    print("recordings: " + (", ".join(f"{k} {v}" for k, v in sorted(status["recordings"].items())) or "none"))
    print("dock files: " + (", ".join(f"{k} {v}" for k, v in sorted(status["sightings"].items())) or "none"))
    waiting = f" ({status['awaiting_release']} verified, dock copy not yet released)" * bool(
        status["awaiting_release"]
    )
    zone = settings.deadlines.display_tz
    oldest = shown_time(status["oldest_pending"], zone) or "-"
    print(f"backlog: {status['backlog']}{waiting}   oldest pending since: {oldest}")
    if status["last_error"]:
        e = status["last_error"]
        print(printable(f"last error: {e['recording_id']} at {shown_time(e['at'], zone)}: {e['error']}"))
    _print_waiting(status["waiting"], status["waiting_total"], zone)
    print("open flags: " + (", ".join(f"{k} {v}" for k, v in sorted(status["open_flags"].items())) or "none"))
    _print_timestamps(status["timestamps"], zone)
    _print_daemons(status, zone)
    return 0


def _print_daemons(status: dict[str, Any], zone: tzinfo) -> None:
    daemons = status["daemons"]
    if not daemons:
        print("daemons: none running")
        return
    leader = status["leader"]
    lead = (
        "no leader"
        if leader is None
        else (
            f"leader {leader['station']} (pid {leader['pid']} on {leader['host']}) "
            f"since {shown_time(leader['leading_since'], zone)}" + (" [silent]" if leader["silent"] else "")
        )
    )
    print(printable(f"daemons: {len(daemons)} running; {lead}"))
    for d in daemons:
        print(
            printable(
                f"  {d['station']} pid {d['pid']} on {d['host']}: heard from "
                f"{shown_time(d['heartbeat_at'], zone)}" + (" [silent]" if d["silent"] else "")
            )
        )
    sweep = status["last_sweep"]
    if sweep is not None:
        state = "running" if sweep["ended_at"] is None else ("done" if sweep["ok"] else "failed")
        print(
            printable(
                f"last sweep: {state}, by {sweep['station']} from {shown_time(sweep['started_at'], zone)}"
            )
        )


def _print_waiting(waiting: list[dict[str, Any]], total: int, zone: tzinfo) -> None:
    """What failed and waits out its backoff, soonest first: when it is tried next, and why.
    (`recorder-sync ingest PATH` tries the files it is given at once.)"""
    if not total:
        return
    print(f"waiting to be tried again: {total}")
    for w in waiting:
        line = (
            f"  {w['recording_id']} ({w['state']}, {w['attempts']} failed attempt(s)): "
            f"next try {shown_time(w['next_attempt'], zone)}: {w['error']}"
        )
        print(printable(line))
    if total > len(waiting):
        print(f"  … and {total - len(waiting)} more")


def _print_timestamps(ts: dict[str, Any], zone: tzinfo) -> None:
    """The checkpoints' trusted time: the last token, the drift it showed, what still waits."""
    if not ts["tsa"] and not ts["tokens"]:
        return
    last = ts["last"]
    if last is None:
        print(f"trusted time: no token yet; {ts['missing']} published checkpoint(s) without one")
        return
    print(
        printable(
            f"trusted time: last token for checkpoint {last['size']} at {shown_time(last['tsa_time'], zone)} "
            f"({last['tsa']}); station clock drift {last['drift_ms']} ms; "
            f"{ts['missing']} published checkpoint(s) without a token"
        )
    )


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from recorder_sync.adapters.db.repository import RecordingFilter

    catalog = _catalog(settings)
    recs = catalog.list_recordings(
        RecordingFilter(state=args.state, device=args.device, officer=args.officer, limit=args.limit)
    )
    by_rec: dict[str, list[Flag]] = {}
    for f in catalog.flags(state="unresolved"):
        if f.recording_id:
            by_rec.setdefault(f.recording_id, []).append(f)
    rows = [recording_json(r, by_rec.get(r.id, [])) for r in recs]
    if args.json:
        emit_json(rows)
    else:
        for row in rows:
            row["flags"] = ",".join(row["flags"])
            row["start"] = shown_time(row["start"], settings.deadlines.display_tz)
        table(rows, ["id", "state", "kind", "device", "officer", "start", "size", "flags", "source_path"])
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    catalog = _catalog(settings)
    rec = catalog.recording(args.id)
    flags = catalog.flags(recording_id=rec.id)
    events = [e.fields | {"leaf_hash": e.leaf_hash} for e in catalog.events(rec.id)]
    doc = recording_json(rec, [f for f in flags if f.state.value in ("open", "acknowledged")])
    doc["manifest"] = json.loads(rec.manifest) if rec.manifest else None
    doc["metadata"] = rec.metadata
    doc["sightings"] = [
        {"dock": s.dock, "path": s.relpath, "state": s.state.value} for s in catalog.sightings_of(rec.id)
    ]
    doc["custody_events"] = events
    doc["all_flags"] = [flag_json(f) for f in flags]
    if args.json:
        emit_json(doc)
        return 0
    zone = settings.deadlines.display_tz
    doc["start"], doc["end"] = shown_time(doc["start"], zone), shown_time(doc["end"], zone)
    for key in (
        "id",
        "sha256",
        "size",
        "kind",
        "state",
        "device",
        "officer",
        "start",
        "end",
        "important",
        "storage_uri",
        "key_id",
        "last_error",
    ):
        print(f"{key:>12}: {printable(str(doc[key]))}")
    print("   metadata:")
    for name, v in sorted(rec.metadata.items()):
        value = shown_time(v["value"], zone) if name in _METADATA_TIMES else v["value"]
        print(printable(f"      {name}: {value}  (from {v['source']})"))
    print("  dock files:")
    for s in doc["sightings"]:
        print(f"      {s['state']:<9} {printable(s['dock'] + '/' + s['path'])}")
    print("    custody:")
    for e in events:
        extra = e.get("subject") or json.dumps(e.get("details", {}), ensure_ascii=False)
        at = shown_time(e["at"], zone)
        print(printable(f"      #{e['seq']:<5} {at}  {e['action']:<15} {e['actor']}  {extra}"))
    if flags:
        print("      flags:")
        for f in flags:
            print(printable(f"      {f.state.value:<12} {f.severity.value:<8} {f.kind}: {f.detail}"))
    return 0


def cmd_manifest(args: argparse.Namespace, settings: Settings) -> int:
    catalog = _catalog(settings)
    rec = catalog.recording(args.id)
    if rec.manifest is None or rec.signature is None or rec.key_id is None:
        from recorder_sync.domain.errors import NotFound

        raise NotFound(f"signed manifest of {rec.id} (state {rec.state.value}; not signed yet)")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_bytes(rec.manifest)
    (out / "manifest.sig").write_bytes(rec.signature)
    (out / "station.pub.pem").write_bytes(catalog.public_key(rec.key_id))
    print(f"wrote {out / 'manifest.json'}, manifest.sig, station.pub.pem ({rec.key_id})")
    print("verify: openssl pkeyutl -verify -pubin -inkey station.pub.pem -rawin \\")
    print("          -in manifest.json -sigfile manifest.sig")
    return 0


def cmd_flags(args: argparse.Namespace, settings: Settings) -> int:
    flags = _catalog(settings).flags(state=None if args.all else "unresolved")
    rows = [flag_json(f) for f in flags]
    if args.json:
        emit_json(rows)
    else:
        table(rows, ["id", "state", "severity", "kind", "subject", "detail"])
    return 0
