"""``keys init``, ``export-public``, ``export-trust``, ``revoke`` and ``list``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recorder_sync.apps.parsers import command


def register(sub: Any) -> None:
    p = sub.add_parser("keys", help="station signing key")
    ksub = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    init = ksub.add_parser("init", help="create the station key (0600 file in a 0700 folder)")
    init.add_argument(
        "--replace",
        action="store_true",
        help="retire the key this station signs with (file moved aside) and make a new one, "
        "signed by the old key when it is still there",
    )
    init.add_argument("--reason", help="why the key is replaced (required with --replace; kept in custody)")
    init.set_defaults(func=command("keys_cmd", "cmd_init"))
    rotate = ksub.add_parser(
        "rotate",
        help="make a new station key signed by the old one (which must be here), then destroy the "
        "old private key (file overwritten and removed, or token object destroyed)",
    )
    rotate.add_argument(
        "--log",
        action="store_true",
        help="rotate the log key instead: the next checkpoint is signed by both keys, then the old "
        "log key file is destroyed",
    )
    rotate.add_argument("--reason", required=True, help="why (kept in the custody log)")
    rotate.set_defaults(func=command("keys_cmd", "cmd_rotate"))
    export = ksub.add_parser("export-public", help="print (or write) the public key as PEM")
    export.add_argument("--out", type=Path, help="write to this file instead of stdout")
    export.set_defaults(func=command("keys_cmd", "cmd_export"))
    trust = ksub.add_parser(
        "export-trust",
        help="write the trust anchors an auditor keeps: the log origin and public key, and every "
        "station public key with its key id and validity window",
    )
    trust.add_argument("--out", type=Path, help="write to this file instead of stdout")
    trust.set_defaults(func=command("keys_cmd", "cmd_export_trust"))
    revoke = ksub.add_parser(
        "revoke",
        help="declare a key's signatures invalid from a time on (recorder-audit verify reports them)",
    )
    revoke.add_argument("key_id", metavar="KEYID", help="the key id, as keys list shows it")
    revoke.add_argument(
        "--at",
        required=True,
        help="from this ISO 8601 time with offset on (now or earlier, at most a minute ahead)",
    )
    revoke.add_argument("--reason", required=True, help="why (kept in the custody log)")
    revoke.set_defaults(func=command("keys_cmd", "cmd_revoke"))
    listed = ksub.add_parser(
        "list", help="every key (station and log): validity, revocation, rotation and status"
    )
    listed.add_argument("--json", action="store_true")
    listed.set_defaults(func=command("keys_cmd", "cmd_list"))
