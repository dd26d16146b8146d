"""``keys init`` and ``keys export-public``: the station's Ed25519 signing key."""

from __future__ import annotations

import argparse
import sys

from recorder_sync.adapters import keys
from recorder_sync.apps.config import Settings


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
