"""``recorder-replay find``, ``timeline``, ``play``, ``export``, ``frames``, ``url``, ``access-report``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recorder_sync.apps.parsers import command


def register(sub: Any) -> None:
    q = sub.add_parser("find", help="recordings with links, clock-corrected times, state and flags")
    q.add_argument("--case")
    q.add_argument("--action")
    q.add_argument("--officer")
    q.add_argument("--device")
    q.add_argument("--target", help="party id or name")
    q.add_argument("--from", dest="since", metavar="ISO", help="overlapping this time or later (with offset)")
    q.add_argument("--to", dest="until", metavar="ISO", help="overlapping this time or earlier (with offset)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=command("replay_cmd", "cmd_find"))

    q = sub.add_parser(
        "timeline", help="the multi-camera timeline of an action, a case, or an officer's window"
    )
    q.add_argument("--action")
    q.add_argument("--case")
    q.add_argument("--officer")
    q.add_argument("--from", dest="since", metavar="ISO", help="window start (with --officer)")
    q.add_argument("--to", dest="until", metavar="ISO", help="window end (with --officer)")
    q.add_argument("--json", action="store_true")
    q.add_argument("--html", type=Path, metavar="OUT", help="also write a self-contained HTML page (SVG)")
    q.set_defaults(func=command("replay_cmd", "cmd_timeline"))

    q = sub.add_parser(
        "play",
        help="play a verified copy of a recording, or of every video of an action side by side "
        "(logged first, with --reason)",
    )
    q.add_argument("recording", nargs="?", help="recording id or SHA-256 (or a unique prefix)")
    q.add_argument(
        "--action",
        metavar="A",
        help="instead of one recording: the action's videos as one mosaic, time-aligned on the "
        "clock-corrected times, each tile labelled (no sound)",
    )
    q.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="with --action: write the mosaic and its signed provenance to DIR instead of playing it",
    )
    q.add_argument("--from", dest="clip_from", metavar="HH:MM:SS", help="from this far into the recording")
    q.add_argument("--to", dest="clip_to", metavar="HH:MM:SS", help="to this far into the recording")
    q.add_argument("--reason", required=True, help="why you view it (recorded in the custody log)")
    q.add_argument(
        "--player",
        default="ffplay",
        metavar="ffplay|mpv|CMD",
        help="ffplay (default), mpv, or a command run with the verified file's path as its last argument",
    )
    q.add_argument("--trust", type=Path, metavar="FILE", help="trust anchors (default: config trust_file)")
    q.set_defaults(func=command("replay_cmd", "cmd_play"))

    q = sub.add_parser(
        "export",
        help="a derived copy (whole, a range by stream copy, or re-encoded with blur/mute/watermark) "
        "with signed provenance",
        description="Times of --blur and --mute are from the RECORDING's start, like --from/--to, "
        "also when the export is trimmed, not from the clip's start: with --from 00:01:00, "
        "--blur 0,0,200,100@00:01:10-00:01:20 blurs the clip's seconds 10 to 20. HH:MM:SS or seconds.",
    )
    q.add_argument("recording", help="recording id or SHA-256 (or a unique prefix)")
    q.add_argument("--from", dest="clip_from", metavar="HH:MM:SS", help="from this far into the recording")
    q.add_argument("--to", dest="clip_to", metavar="HH:MM:SS", help="to this far into the recording")
    q.add_argument(
        "--blur",
        action="append",
        metavar="X,Y,W,H@FROM-TO",
        help="blur this region (pixels from the top-left corner) from FROM to TO on the recording's "
        "clock (without @FROM-TO: all along); repeatable; re-encodes",
    )
    q.add_argument(
        "--mute",
        action="append",
        metavar="FROM-TO",
        help="silence the sound from FROM to TO on the recording's clock; repeatable; re-encodes",
    )
    q.add_argument(
        "--watermark",
        action="store_true",
        help="burn in who exported it, when (UTC) and the access event's number; re-encodes",
    )
    q.add_argument("--reason", required=True, help="why you export it (recorded in the custody log)")
    q.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder for the clip and its provenance"
    )
    q.add_argument("--trust", type=Path, metavar="FILE", help="trust anchors (default: config trust_file)")
    q.set_defaults(func=command("replay_cmd", "cmd_export"))

    q = sub.add_parser(
        "frames", help="still frames (PNG) every so often, with one signed provenance (logged first)"
    )
    q.add_argument("recording", help="recording id or SHA-256 (or a unique prefix)")
    q.add_argument("--every", default="10s", metavar="DURATION", help="10s (default), 2m, 00:00:30…")
    q.add_argument(
        "--from", dest="clip_from", metavar="HH:MM:SS", help="first frame this far into the recording"
    )
    q.add_argument(
        "--to", dest="clip_to", metavar="HH:MM:SS", help="frames before this far into the recording"
    )
    q.add_argument("--reason", required=True, help="why you take them (recorded in the custody log)")
    q.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder for the frames and their provenance"
    )
    q.add_argument("--trust", type=Path, metavar="FILE", help="trust anchors (default: config trust_file)")
    q.set_defaults(func=command("replay_cmd", "cmd_frames"))

    q = sub.add_parser("url", help="a presigned S3 URL of the stored version, valid minutes (logged first)")
    q.add_argument("recording", help="recording id or SHA-256 (or a unique prefix)")
    q.add_argument("--minutes", type=int, default=5, help="how long the URL works: 1 to 15 (default 5)")
    q.add_argument("--reason", required=True, help="why you hand it out (recorded in the custody log)")
    q.add_argument("--trust", type=Path, metavar="FILE", help="trust anchors (default: config trust_file)")
    q.set_defaults(func=command("replay_cmd", "cmd_url"))

    q = sub.add_parser("access-report", help="every access with who, what, when, why, how; and findings")
    q.add_argument("--from", dest="since", metavar="ISO", help="accesses at or after this time")
    q.add_argument("--to", dest="until", metavar="ISO", help="accesses at or before this time")
    q.add_argument("--user", help="accesses by this user (login name or user@host)")
    q.add_argument("--officer", help="accesses by the roster users of this officer number")
    fmt = q.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    q.set_defaults(func=command("replay_cmd", "cmd_access_report"))
