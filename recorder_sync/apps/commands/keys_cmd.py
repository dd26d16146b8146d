"""``keys init``, ``keys export-public`` and ``keys export-trust``: the station's Ed25519 signing
key, and the public keys an auditor trusts."""

from __future__ import annotations

import argparse
import base64
import getpass
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from recorder_sync.adapters import keys
from recorder_sync.apps.config import Settings
from recorder_sync.apps.wiring import open_app, utcnow
from recorder_sync.domain.errors import ConfigError, Error, KeyProblem, UsageError
from recorder_sync.domain.keylife import OLD_KEY_UNAVAILABLE
from recorder_sync.domain.ports import Signer
from recorder_sync.domain.signatures import raw_public_key
from recorder_sync.domain.times import utc_iso

if TYPE_CHECKING:
    from recorder_sync.adapters.db.repository import SqlCatalog


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
    return _replace(settings, catalog, signs_with, reason, rotate=False)


def cmd_rotate(args: argparse.Namespace, settings: Settings) -> int:
    """``keys init --replace`` whose rotation statement is always signed and whose old
    private key is destroyed once the new one is registered."""
    reason = (args.reason or "").strip()
    if not reason:
        raise UsageError("keys rotate needs --reason WHY (it is kept in the custody log)")
    catalog = open_app(settings, actor=f"recorder-sync keys ({user()})").catalog
    if args.log:
        return _rotate_log(settings, catalog, reason)
    return _replace(settings, catalog, catalog.station_key(), reason, rotate=True)


def _rotate_log(settings: Settings, catalog: SqlCatalog, reason: str) -> int:
    """A new log key, registered (with the old key's signature over it) before any process
    can load it: it waits as ``<key>.next`` until then. The old key waits beside it as
    ``<key>.previous`` until it has co-signed the next checkpoint (see
    ``AppContext.checkpoints``), then is destroyed."""
    ls = settings.log
    previous_path = keys.previous_key_path(ls.key_path)
    staged = keys.staged_key_path(ls.key_path)
    if staged.exists():
        return _finish_rotation(catalog, ls.origin, staged, ls.key_path, previous_path)
    old = keys.load_if_present(ls.key_path)
    if old is None:
        raise KeyProblem(
            f"the old key is not here: no log key at {ls.key_path}; rotate the log key on the station "
            "that signs the checkpoints"
        )
    if previous_path.exists():
        raise KeyProblem(
            f"the last log key rotation still waits for its checkpoint signed by both keys ({previous_path}"
            " is the old key): let the station publish a checkpoint (ingest, or the daemon), then rotate"
        )
    now = utcnow()
    # a station upgraded from before log keys were kept: its key's history starts here
    catalog.register_log_key(ls.origin, old.key_id, old.public_raw(), now)
    new = keys.create_key(staged)
    try:
        catalog.rotate_log_key(
            ls.origin,
            new.key_id,
            new.public_raw(),
            now,
            reason,
            previous_key_id=old.key_id,
            rotation_signature=old.sign(new.public_raw()),
        )
    except BaseException:
        staged.unlink()  # nothing registered: the old key signs on as before
        raise
    keys.swap_in(staged, ls.key_path, previous_path)
    print(f"created log key {new.key_id} at {ls.key_path} for {ls.origin}")
    print(f"rotation signed by {old.key_id}")
    print(
        f"the next checkpoint is signed by both keys, then the old key ({previous_path}) is destroyed; "
        "export the trust anchors again (keys export-trust) and hand them to the auditors"
    )
    return 0


def _finish_rotation(catalog: SqlCatalog, origin: str, staged: Path, key_path: Path, previous: Path) -> int:
    """A rotation killed after the new key was made: put it in place if the database
    registered it, else say what the file is."""
    new = keys.load_key(staged)
    current = [k.key_id for k in catalog.log_keys(origin) if k.valid_until is None]
    if new.key_id not in current:
        raise KeyProblem(
            f"{staged} is a log key left by a rotation that was stopped before it was registered "
            f"({origin} signs with {', '.join(current) or 'none'}): remove it, then rotate again"
        )
    keys.swap_in(staged, key_path, previous)
    print(f"finished the interrupted rotation: log key {new.key_id} is at {key_path} for {origin}")
    return 0


def _replace(
    settings: Settings, catalog: SqlCatalog, signs_with: str | None, reason: str, *, rotate: bool
) -> int:
    """Make a new station key and register it as one ``key-replaced`` custody event, signed
    by the old key when it is here. ``rotate``: the old key must be here (a rotation is
    always signed), and its private part is destroyed after the new key is registered, so a
    failure on the way leaves a key that still signs."""
    now = utcnow()
    revoked = catalog.key_revocation(signs_with) if signs_with else None
    old_signer, unavailable = _old_signer(settings, signs_with, revoked)
    if rotate and old_signer is None:
        raise KeyProblem(f"the old key is not here: use keys init --replace --reason WHY ({unavailable})")
    # a token's old key stays in the token: the operator names the new one (pkcs11_label)
    moved = None if settings.pkcs11 else keys.retire_key(settings.key_path, now)
    signer, where = _create(settings)
    public_pem = signer.public_key_pem()
    # the rotation statement: the old key vouches for the new one
    rotation = old_signer.sign(raw_public_key(public_pem)) if old_signer else None
    retired = catalog.replace_station_key(
        signer.key_id,
        public_pem,
        now,
        reason,
        {
            "old_key_file": None if rotate or moved is None else str(moved),
            "previous_key_id": signs_with,
            "rotation_signature": base64.b64encode(rotation).decode("ascii") if rotation else None,
            "rotation_unsigned_because": unavailable,
            **({"rotated": True} if rotate else {}),
        },
        previous_key_id=signs_with,
        rotation_signature=rotation,
    )
    print(f"created {where} ({signer.key_id})")
    print(
        f"retired {', '.join(retired) or 'no registered key'}"
        + (f"; old key file kept as {moved}" if moved and not rotate else "")
    )
    if signs_with is not None:
        print(
            f"rotation signed by {signs_with}"
            if rotation
            else f"rotation not signed: {OLD_KEY_UNAVAILABLE} ({unavailable})"
        )
    if rotate and signs_with is not None:
        _destroy_old(settings, signs_with, moved)
        print(f"destroyed the private key of {signs_with}")
    # a running daemon holds the old key in memory until it starts again
    return 0


def _destroy_old(settings: Settings, key_id: str, moved: Path | None) -> None:
    """The old private key, gone for good: its file overwritten and removed, or its token
    objects destroyed."""
    if settings.pkcs11 is not None:
        from recorder_sync.adapters import pkcs11_key

        pkcs11_key.destroy_key(settings.pkcs11, key_id)
    elif moved is not None:
        keys.destroy_key_file(moved)


def _old_signer(
    settings: Settings, signs_with: str | None, revoked: tuple[datetime, str] | None
) -> tuple[Signer | None, str | None]:
    """The key being replaced, to sign the rotation statement; else None and why not. Only
    the key the station signs with may vouch for its successor, and not once revoked (its
    signatures no longer count)."""
    if signs_with is None:
        return None, "the station had no key"
    if revoked is not None:
        return None, f"{signs_with} was revoked at {utc_iso(revoked[0])}"
    try:
        if settings.pkcs11 is not None:
            from recorder_sync.adapters import pkcs11_key

            found: Signer | None = pkcs11_key.find_key(settings.pkcs11, signs_with)
            where = f"PKCS#11 token {settings.pkcs11.token!r}"
        else:
            found = keys.load_if_present(settings.key_path)
            where = str(settings.key_path)
    except KeyProblem as e:
        # the old key is damaged or unreadable: replacing it is what the operator is doing
        return None, str(e)
    if found is None:
        return None, f"no key at {where}"
    if found.key_id != signs_with:
        return None, f"the key at {where} is {found.key_id}, not {signs_with}"
    return found, None


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
    from recorder_sync.domain.trust import TrustAnchors, check_rotations

    ls = settings.log
    log_signer = keys.load_or_create(ls.key_path) if ls.sign else keys.load_if_present(ls.key_path)
    if log_signer is None:
        raise KeyProblem(
            f"no log key at {ls.key_path} ([log] sign is off here): export the trust anchors on the "
            "station that signs the log's checkpoints"
        )
    catalog = open_app(settings, actor=f"recorder-sync keys ({user()})").catalog
    catalog.register_log_key(ls.origin, log_signer.key_id, log_signer.public_raw(), utcnow())
    # every key that signed this log's checkpoints, so that the older ones still verify
    log_keys = tuple(NoteKey(ls.origin, k.public_raw) for k in catalog.log_keys(ls.origin))
    station_keys = catalog.station_keys()
    if not station_keys:
        print(
            "warning: no station key has signed anything yet; export again after the first ingest",
            file=sys.stderr,
        )
    tsa_roots = _tsa_roots(settings)
    # a rotation statement altered in the database would make the auditors refuse the file
    check_rotations(station_keys)
    anchors = TrustAnchors(log_keys, tuple(station_keys), tsa_roots)
    data = anchors.to_json()
    if args.out:
        args.out.write_bytes(data)
        tsa = f", {len(tsa_roots)} time-stamping root(s)" if tsa_roots else ""
        print(
            f"wrote {args.out}: log {ls.origin} ({len(log_keys)} key(s)), "
            f"{len(station_keys)} station key(s){tsa}"
        )
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


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    """From ``--at`` on, the key's signatures do not count (``recorder-audit verify`` reports
    them); a custody event says who revoked it and why."""
    from recorder_sync.domain.keylife import revocation_problem
    from recorder_sync.domain.times import parse_strict

    reason = (args.reason or "").strip()
    if not reason:
        raise UsageError("keys revoke needs --reason WHY (it is kept in the custody log)")
    now = utcnow()
    try:
        at = parse_strict(args.at, plausible=True)
    except ValueError as e:
        raise UsageError(f"--at {args.at!r}: {e}") from None
    why = revocation_problem(at, now)
    if why is not None:
        raise UsageError(f"--at {args.at!r}: {why}")
    catalog = open_app(settings, actor=f"recorder-sync keys ({user()})").catalog
    earlier = catalog.revoke_station_key(args.key_id, at, reason, now)
    print(
        f"revoked {args.key_id} from {utc_iso(at)} on"
        + (f" (was revoked from {utc_iso(earlier)})" if earlier else "")
    )
    if catalog.station_key() == args.key_id:
        print("this station signs with that key: ingest stops until: recorder-sync keys init --replace")
    print("export the trust anchors again (keys export-trust) and hand them to the auditors")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    """Every key: the log key (where this station signs checkpoints) and every station key."""
    from recorder_sync.apps.output import emit_json, shown_times, table
    from recorder_sync.domain.keylife import LogKeyInfo, listing

    catalog = open_app(settings, actor=f"recorder-sync keys ({user()})").catalog
    log_keys = catalog.log_keys(settings.log.origin)
    log_signer = keys.load_if_present(settings.log.key_path)
    if log_signer is not None and all(k.key_id != log_signer.key_id for k in log_keys):
        log_keys.append(LogKeyInfo(settings.log.origin, log_signer.key_id))  # not used yet
    rows = listing(catalog.station_keys(), catalog.revoke_reasons(), log_keys)
    if args.json:
        emit_json(rows)
        return 0
    zone = settings.deadlines.display_tz
    for row in rows:
        shown_times(row, ("valid_from", "valid_until", "revoked_at"), zone)
        row["rotation"] = row["rotation_signed_by"]
        row["revoked"] = f"{row['revoked_at']} ({row['revoke_reason']})" if row["revoked_at"] else None
        row["station"] = row["station"] or row["origin"]
    table(rows, ["key_id", "kind", "station", "status", "valid_from", "valid_until", "revoked", "rotation"])
    return 0


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
