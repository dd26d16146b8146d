"""``recorder-replay find``, ``timeline``, ``play``, ``export``, ``frames``, ``url`` and ``access-report``:
composition of the replay service, and its output."""

from __future__ import annotations

import argparse
import csv
import os
import pwd
import socket
import sys
import time
from contextlib import AbstractContextManager
from datetime import timedelta
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
from recorder_sync.domain.ports import ExportTarget, ObjectStore, PrivateCopies
from recorder_sync.domain.redaction import redactions
from recorder_sync.domain.replay import FetchedCopy, FindQuery, clip_range, correction_text
from recorder_sync.domain.reports import spreadsheet_cell
from recorder_sync.domain.stills import parse_every
from recorder_sync.domain.times import display
from recorder_sync.domain.trust import TrustAnchors
from recorder_sync.services.derived import DerivedEvidence
from recorder_sync.services.replay import MosaicOut, ReplayService


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


def _out_folder(out: Path, settings: Settings, option: str = "--out") -> ExportTarget:
    """``--out`` (or ``option``), which must not be inside the vault or a dock (the next
    ingest would take an export there for camera footage)."""
    from recorder_sync.adapters.clips import ExportFolder

    guarded = {"the evidence vault": settings.vault_path}
    guarded |= {f"dock {d.name!r}": d.path for d in settings.docks}
    return ExportFolder(out, guarded, option)


def cmd_play(args: argparse.Namespace, settings: Settings) -> int:
    if args.action is not None or args.recording is None:
        return _play_action(args, settings)
    if args.out is not None:
        raise UsageError("--out goes with --action (a mosaic); one recording is written by `export`")
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


def _play_action(args: argparse.Namespace, settings: Settings) -> int:
    from recorder_sync.adapters.mosaic import FfmpegMosaic

    if (args.action is None) == (args.recording is None):
        raise UsageError("play: give either a recording (REC) or --action A")
    if args.clip_from is not None or args.clip_to is not None:
        raise UsageError("--from/--to are times into one recording; a mosaic shows the whole action")
    trust = _trust(args, settings)
    if args.out is not None:
        from recorder_sync.adapters.keys import load_key

        # the provenance is signed with the station key, as an export's
        out = MosaicOut(
            target=_out_folder(args.out, settings),
            signer=load_key(settings.key_path),
            station=settings.station_id,
        )
    else:
        out = MosaicOut(player=CommandPlayer(args.player))
    zone = settings.deadlines.display_tz
    meter = _MosaicMeter(args.action) if sys.stderr.isatty() else None
    try:
        made = _service(settings).play_action(args.action, args.reason, trust, FfmpegMosaic(meter), zone, out)
    finally:
        if meter is not None and meter.last:
            print(file=sys.stderr)  # off the line redrawn in place
    for x in made.layout.left_out:
        print(printable(f"recorder-replay: not in the mosaic: {x.recording_id}: {x.why}"), file=sys.stderr)
    shown = ", ".join(f"{t.recording.id} (+{t.offset.total_seconds():g} s)" for t in made.layout.tiles)
    events = ", ".join(str(seq) for seq in made.access_seqs)
    if made.path is not None:
        print(
            f"mosaic of action {args.action} written to {made.path} (sha256 {made.sha256}), with "
            f"{made.path.name}.provenance.json and .sig; from {shown}, each verified; "
            f"accesses logged as events {events}"
        )
        return 0
    if made.player_status:
        print(f"recorder-replay: {args.player} exited with status {made.player_status}", file=sys.stderr)
        return 1
    print(
        f"mosaic of action {args.action} played: {shown}, each verified; accesses logged as events {events}"
    )
    return 0


class _MosaicMeter:
    """The mosaic being made, redrawn in place on the terminal (twice a second at most)."""

    def __init__(self, action: str) -> None:
        self.action = printable(action)
        self.last = 0.0

    def __call__(self, done: timedelta, length: timedelta | None) -> None:
        now = time.monotonic()
        if now - self.last < 0.5:
            return
        self.last = now
        part = f"{done.total_seconds():.0f} s"
        if length:
            part += f" of {length.total_seconds():.0f} s ({min(100.0, 100 * done / length):.0f} %)"
        print(f"\r    mosaic  action {self.action}: {part}", end="", file=sys.stderr, flush=True)


def cmd_timeline(args: argparse.Namespace, settings: Settings) -> int:
    query = FindQuery(
        case_id=args.case,
        action_id=args.action,
        officer=args.officer,
        since=option_time(args.since, "--from"),
        until=option_time(args.until, "--to"),
    )
    if args.html is not None:  # a page in a dock would be ingested as camera footage
        _out_folder(args.html.parent, settings, "--html").check([])
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
    from recorder_sync.adapters.clips import FfmpegClipper
    from recorder_sync.adapters.keys import load_key

    trust = _trust(args, settings)
    span = clip_range(args.clip_from, args.clip_to)
    edits = redactions(args.blur, args.mute, args.watermark)
    # the provenance is signed with the station key: an export needs it readable
    signer = load_key(settings.key_path)
    exported = _service(settings).export(
        args.recording,
        args.reason,
        span,
        trust,
        FfmpegClipper(),
        _out_folder(args.out, settings),
        signer,
        settings.station_id,
        edits,
    )
    print(
        f"exported {exported.path} (sha256 {exported.sha256}) from {exported.recording.id}, "
        f"with {exported.path.name}.provenance.json and .sig; logged as event {exported.access_seq}"
    )
    print(f"stored as evidence at {exported.stored.keys[0]} (custody event {exported.stored.event_seq})")
    return 0


def cmd_frames(args: argparse.Namespace, settings: Settings) -> int:
    from recorder_sync.adapters.clips import FfmpegClipper
    from recorder_sync.adapters.keys import load_key

    trust = _trust(args, settings)
    span = clip_range(args.clip_from, args.clip_to)
    every = parse_every(args.every)
    signer = load_key(settings.key_path)
    delivered = _service(settings).frames(
        args.recording,
        args.reason,
        span,
        every,
        trust,
        FfmpegClipper(),
        _out_folder(args.out, settings),
        signer,
        settings.station_id,
    )
    for f in delivered.files:
        print(f"{f.path}  {f.sha256}")
    print(
        f"{len(delivered.files)} frames of {delivered.recording.id} in {args.out}, with their signed "
        f"provenance; logged as event {delivered.access_seq}"
    )
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
