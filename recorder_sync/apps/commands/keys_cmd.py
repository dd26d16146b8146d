"""``keys init`` and ``keys export-public``: the station's Ed25519 signing key."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from recorder_sync.adapters import keys
from recorder_sync.apps.config import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("keys", help="station signing key")
    ksub = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    init = ksub.add_parser("init", help="create the station key (0600 file in a 0700 folder)")
    init.set_defaults(func=cmd_init)
    export = ksub.add_parser("export-public", help="print (or write) the public key as PEM")
    export.add_argument("--out", type=Path, help="write to this file instead of stdout")
    export.set_defaults(func=cmd_export)


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    signer = keys.create_key(settings.key_path)
    print(f"created {settings.key_path} ({signer.key_id})")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    pem = keys.load_key(settings.key_path).public_key_pem()
    if args.out:
        args.out.write_bytes(pem)
    else:
        sys.stdout.write(pem.decode("ascii"))
    return 0
