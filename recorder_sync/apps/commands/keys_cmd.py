"""``keys init`` and ``keys export-public``: the station's Ed25519 signing key."""

from __future__ import annotations

import argparse
import getpass
import sys

from recorder_sync.adapters import keys
from recorder_sync.apps.config import Settings
from recorder_sync.apps.wiring import open_app, utcnow
from recorder_sync.domain.errors import KeyProblem, UsageError


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    reason = (args.reason or "").strip()
    if args.replace and not reason:
        raise UsageError("keys init --replace needs --reason WHY (it is kept in the custody log)")
    if reason and not args.replace:
        raise UsageError("--reason goes with --replace")
    catalog = open_app(settings, actor=f"recorder-sync keys ({user()})").catalog
    signs_with = catalog.station_key()
    if not args.replace:
        if signs_with is not None:
            # A new key now would leave the evidence signed by a key nobody retired.
            raise KeyProblem(
                f"station {settings.station_id} signs with {signs_with}; to replace it, run: "
                "recorder-sync keys init --replace --reason WHY"
            )
        signer = keys.create_key(settings.key_path)
        print(f"created {settings.key_path} ({signer.key_id})")
        return 0
    now = utcnow()
    moved = keys.retire_key(settings.key_path, now)
    signer = keys.create_key(settings.key_path)
    retired = catalog.replace_station_key(
        signer.key_id,
        signer.public_key_pem(),
        now,
        reason,
        {"old_key_file": str(moved) if moved else None},
    )
    print(f"created {settings.key_path} ({signer.key_id})")
    print(
        f"retired {', '.join(retired) or 'no registered key'}"
        + (f"; old key file kept as {moved}" if moved else "")
    )
    # a running daemon holds the old key in memory until it starts again
    print("restart recorder-sync (the daemon) so that it signs with the new key")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    pem = keys.load_key(settings.key_path).public_key_pem()
    if args.out:
        args.out.write_bytes(pem)
    else:
        sys.stdout.write(pem.decode("ascii"))
    return 0


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
