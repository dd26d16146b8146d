"""``recorder-replay find``, ``timeline``, ``play``, ``export``, ``url`` and ``access-report``:
composition of the replay service, and its output."""

from __future__ import annotations

import argparse
import csv
import os
import pwd
import socket
import sys
from contextlib import AbstractContextManager
from pathlib import Path

from recorder_sync.adapters.db.replay_repo import ReplayRepo
from recorder_sync.adapters.db.users_repo import RosterRepo
from recorder_sync.adapters.player import CommandPlayer, StoreCopies
from recorder_sync.adapters.vault import Vault
from recorder_sync.apps.commands.cases_cmd import _time as option_time
from recorder_sync.apps.config import Settings
from recorder_sync.apps.output import emit_json, printable, shown_times, table
from recorder_sync.apps.wiring import open_app, s3_store, utcnow
from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.ports import ObjectStore, PrivateCopies
from recorder_sync.domain.replay import FetchedCopy, FindQuery, clip_range, correction_text
from recorder_sync.domain.reports import spreadsheet_cell
from recorder_sync.domain.times import display
from recorder_sync.domain.trust import TrustAnchors
from recorder_sync.services.derived import DerivedEvidence
from recorder_sync.services.replay import ReplayService


def actor() -> str:
    """``user@host`` of the account running the command: its effective uid's name, never
    $USER or $LOGNAME, which anyone can set."""
    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = f"uid{uid}"
    return f"{user}@{socket.gethostname()}"


class _LazyCopies:
    """The store is opened only when a copy is fetched: ``find`` never touches it, and a
    refused ``play`` is refused before it does."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def fetch(self, key: str, version_id: str | None = None) -> AbstractContextManager[FetchedCopy]:
        return StoreCopies(_read_store(self.settings)).fetch(key, version_id)


def _read_store(settings: Settings) -> ObjectStore:
    # read-only use: no bucket set-up (open_bucket), no vault created
    return s3_store(settings) if settings.s3 is not None else Vault(settings.vault_path, create=False)


def _derived_store(settings: Settings) -> ObjectStore:
    """Where derived material goes: the evidence store, opened to write only there (S3: the
    bucket's Object Lock is checked, no other upload is touched; the replay policy lets these
    credentials put under ``derived/`` only)."""
    if settings.s3 is None:
        return Vault(settings.vault_path, create=False)
    store = s3_store(settings)
    store.open_bucket(abort_uploads_older_than=None)
    return store


def _service(settings: Settings) -> ReplayService:
    who = actor()
    catalog = open_app(settings, actor=who).catalog
    copies: PrivateCopies = _LazyCopies(settings)
    derived = DerivedEvidence(
        store=lambda: _derived_store(settings),
        log=catalog,
        clock=utcnow,
        station=settings.station_id,
        retention_class=settings.s3.default_retention_class if settings.s3 else None,
    )
    return ReplayService(
        actor=who,
        roster=RosterRepo(catalog),
        library=ReplayRepo(catalog),
        log=catalog,
        copies=copies,
        clock=utcnow,
        derived=derived,
    )


def cmd_find(args: argparse.Namespace, settings: Settings) -> int:
    query = FindQuery(
        case_id=args.case,
        action_id=args.action,
        officer=args.officer,
        device=args.device,
        target=args.target,
        since=option_time(args.since, "--from"),
        until=option_time(args.until, "--to"),
    )
    found = _service(settings).find(query)
    if args.json:
        emit_json([f.as_json() for f in found])
        return 0
    rows = []
    for f in found:
        row = f.as_json()
        row["correction"] = correction_text(f.correction) + (" (uncertain)" if row["clock_uncertain"] else "")
        row["links"] = ";".join(f"{link['action_id']}({link['confidence']})" for link in row["links"])
        row["flags"] = ";".join(row["flags"])
        rows.append(shown_times(row, ("start", "end"), settings.deadlines.display_tz))
    table(rows, ["id", "device", "officer", "start", "end", "correction", "state", "links", "flags"])
    return 0


def _trust(args: argparse.Namespace, settings: Settings) -> TrustAnchors:
    path: Path | None = args.trust or settings.trust_file
    if path is None:
        raise UsageError(
            "play checks every copy against trust anchors obtained out of band: "
            "give --trust FILE or set trust_file in the configuration (RECORDER_SYNC_TRUST_FILE)"
        )
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"trust file {path}: {e.strerror or e}") from None
    return TrustAnchors.from_json(data, source=str(path))


def cmd_play(args: argparse.Namespace, settings: Settings) -> int:
    trust = _trust(args, settings)
    span = clip_range(args.clip_from, args.clip_to)
    player = CommandPlayer(args.player)
    played = _service(settings).play(args.recording, args.reason, span, trust, player)
    rec = played.recording
    if played.player_status != 0:
        print(f"recorder-replay: {args.player} exited with status {played.player_status}", file=sys.stderr)
        return 1
    print(f"{rec.id} (sha256 {rec.sha256}) verified and played; access logged as event {played.access_seq}")
    return 0


def cmd_timeline(args: argparse.Namespace, settings: Settings) -> int:
    query = FindQuery(
        case_id=args.case,
        action_id=args.action,
        officer=args.officer,
        since=option_time(args.since, "--from"),
        until=option_time(args.until, "--to"),
    )
    timelines = _service(settings).timeline(query, settings.deadlines)
    zone = settings.deadlines.display_tz
    if args.html is not None:
        from recorder_sync.apps.timeline_view import render_html

        page = render_html(timelines, zone, display(utcnow(), zone))
        try:
            args.html.write_text(page, encoding="utf-8")
        except OSError as e:
            raise UsageError(f"--html {args.html}: {e.strerror or e}") from None
    if args.json:
        emit_json([t.as_json() for t in timelines])
        return 0
    from rich.console import Console

    from recorder_sync.apps.timeline_view import render_terminal

    render_terminal(timelines, Console(highlight=False), zone)
    if args.html is not None:
        print(f"written: {args.html}")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from recorder_sync.adapters.clips import ExportFolder, FfmpegClipper
    from recorder_sync.adapters.keys import load_key

    trust = _trust(args, settings)
    span = clip_range(args.clip_from, args.clip_to)
    # the provenance is signed with the station key: an export needs it readable
    signer = load_key(settings.key_path)
    exported = _service(settings).export(
        args.recording,
        args.reason,
        span,
        trust,
        FfmpegClipper(),
        ExportFolder(args.out),
        signer,
        settings.station_id,
    )
    print(
        f"exported {exported.path} (sha256 {exported.sha256}) from {exported.recording.id}, "
        f"with {exported.path.name}.provenance.json and .sig; logged as event {exported.access_seq}"
    )
    if exported.stored is not None:
        print(f"stored as evidence at {exported.stored.keys[0]} (custody event {exported.stored.event_seq})")
    return 0


def cmd_url(args: argparse.Namespace, settings: Settings) -> int:
    if settings.s3 is None:
        raise UsageError("url hands out S3 presigned URLs; the local vault has none (configure [s3])")
    trust = _trust(args, settings)
    handed = _service(settings).url(args.recording, args.reason, args.minutes, trust, s3_store(settings))
    print(handed.url)
    zone = settings.deadlines.display_tz
    print(
        f"valid until {display(handed.expires_at, zone)}, for that stored version of {handed.recording.id}; "
        f"logged as event {handed.access_seq}",
        file=sys.stderr,
    )
    return 0


_ACCESS_COLUMNS = ["seq", "at", "user", "how", "recordings", "range", "reason", "outcome", "findings"]


def cmd_access_report(args: argparse.Namespace, settings: Settings) -> int:
    accesses, findings = _service(settings).access_report(
        option_time(args.since, "--from"),
        option_time(args.until, "--to"),
        args.user,
        args.officer,
        settings.access_limits,
        settings.deadlines.display_tz,
    )
    if args.json:
        emit_json({"accesses": [a.as_json() for a in accesses], "findings": [f.as_json() for f in findings]})
        return 0
    found: dict[int, list[str]] = {}
    for f in findings:
        found.setdefault(f.access_seq, []).append(f"{f.kind}:{f.recording_id}")
    rows = []
    for a in accesses:
        row = a.as_json()
        row["recordings"] = ";".join(r["id"] for r in row["recordings"])
        row["range"] = "" if a.range is None else f"{a.range.get('from')}-{a.range.get('to')}"
        row["findings"] = ";".join(found.get(a.seq, []))
        rows.append(row)
    if args.csv:
        w = csv.DictWriter(sys.stdout, fieldnames=_ACCESS_COLUMNS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows({k: spreadsheet_cell(v) for k, v in row.items()} for row in rows)
        return 0
    table([shown_times(r, ("at",), settings.deadlines.display_tz) for r in rows], _ACCESS_COLUMNS)
    print(f"findings: {len(findings)}")
    for f in findings:
        print(printable(f"  {f.kind:<15} access {f.access_seq} by {f.user}: {f.recording_id}: {f.detail}"))
    return 0
