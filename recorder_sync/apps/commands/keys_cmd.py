"""``keys init``, ``keys export-public`` and ``keys export-trust``: the station's Ed25519 signing
key, and the public keys an auditor trusts."""

from __future__ import annotations

import argparse
import getpass
import sys

from recorder_sync.adapters import keys
from recorder_sync.apps.config import Settings
from recorder_sync.apps.wiring import open_app, utcnow
from recorder_sync.domain.errors import ConfigError, Error, KeyProblem, UsageError
from recorder_sync.domain.ports import Signer


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
        signer, where = _create(settings)
        print(f"created {where} ({signer.key_id})")
        return 0
    now = utcnow()
    # a token's old key stays in the token: the operator names the new one (pkcs11_label)
    moved = None if settings.pkcs11 else keys.retire_key(settings.key_path, now)
    signer, where = _create(settings)
    retired = catalog.replace_station_key(
        signer.key_id,
        signer.public_key_pem(),
        now,
        reason,
        {"old_key_file": str(moved) if moved else None},
    )
    print(f"created {where} ({signer.key_id})")
    print(
        f"retired {', '.join(retired) or 'no registered key'}"
        + (f"; old key file kept as {moved}" if moved else "")
    )
    # a running daemon holds the old key in memory until it starts again
    print("restart recorder-sync (the daemon) so that it signs with the new key")
    return 0


def _create(settings: Settings) -> tuple[Signer, str]:
    """A new station key: in the configured PKCS#11 token, else a key file."""
    if settings.pkcs11 is not None:
        from recorder_sync.adapters import pkcs11_key

        where = f"key {settings.pkcs11.label!r} in PKCS#11 token {settings.pkcs11.token!r}"
        return pkcs11_key.create_key(settings.pkcs11), where
    return keys.create_key(settings.key_path), str(settings.key_path)


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    if settings.pkcs11 is not None:
        from recorder_sync.adapters.pkcs11_key import Pkcs11Signer

        pem = Pkcs11Signer(settings.pkcs11).public_key_pem()
    else:
        pem = keys.load_key(settings.key_path).public_key_pem()
    if args.out:
        args.out.write_bytes(pem)
    else:
        sys.stdout.write(pem.decode("ascii"))
    return 0


def cmd_export_trust(args: argparse.Namespace, settings: Settings) -> int:
    """The log's verifier key and every station key the database knows, for ``recorder-audit
    --trust``. Run it on the station that holds the log key, and hand the file over out of band:
    an auditor trusts what it says, never a key found only in the database."""
    from recorder_sync.domain.checkpoint import NoteKey
    from recorder_sync.domain.trust import TrustAnchors

    ls = settings.log
    log_signer = keys.load_or_create(ls.key_path) if ls.sign else keys.load_if_present(ls.key_path)
    if log_signer is None:
        raise KeyProblem(
            f"no log key at {ls.key_path} ([log] sign is off here): export the trust anchors on the "
            "station that signs the log's checkpoints"
        )
    station_keys = open_app(settings, actor=f"recorder-sync keys ({user()})").catalog.station_keys()
    if not station_keys:
        print(
            "warning: no station key has signed anything yet; export again after the first ingest",
            file=sys.stderr,
        )
    tsa_roots = _tsa_roots(settings)
    anchors = TrustAnchors((NoteKey(ls.origin, log_signer.public_raw()),), tuple(station_keys), tsa_roots)
    data = anchors.to_json()
    if args.out:
        args.out.write_bytes(data)
        tsa = f", {len(tsa_roots)} time-stamping root(s)" if tsa_roots else ""
        print(f"wrote {args.out}: log {ls.origin}, {len(station_keys)} station key(s){tsa}")
    else:
        sys.stdout.write(data.decode())
    return 0


def _tsa_roots(settings: Settings) -> tuple[bytes, ...]:
    """The certificates of ``[timestamping] tsa_certs``, one PEM block each (none when not set)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from recorder_sync.domain.timestamps import load_roots

    ts = settings.timestamping
    if ts is None:
        return ()
    try:
        certs = load_roots(ts.tsa_certs.read_bytes())
    except (OSError, Error) as e:
        raise ConfigError(settings.source, "timestamping.tsa_certs", str(e)) from None
    return tuple(c.public_bytes(Encoding.PEM) for c in certs)


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
