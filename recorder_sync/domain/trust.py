"""Trust anchors: the public keys an auditor accepts, obtained out of band.

The station's database lists its keys too, but a key found only there proves nothing: whoever
can write the database can add one.  So every check of a signature by ``recorder-audit`` (and
by replay, before it plays) goes through this file's keys and their validity windows: a
manifest signed by a key the auditor was not given, by a key outside its window, or after it
was revoked, does not verify.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from recorder_sync.domain.canonical import parse
from recorder_sync.domain.checkpoint import NoteKey
from recorder_sync.domain.errors import SignatureInvalid, UsageError
from recorder_sync.domain.signatures import key_id_from_pem, raw_public_key, verify_signature
from recorder_sync.domain.times import parse_lenient, utc_iso

TRUST_TYPE = "recorder_sync.trust/v1"


@dataclass(frozen=True)
class StationKey:
    """A station's manifest-signing key and when its signatures count.

    A key that replaced another names it (``previous_key_id``) and, when the old private key
    was still there, carries the old key's signature over its own 32 raw public bytes
    (``rotation_signature``); None when the old key was lost."""

    key_id: str
    station: str
    public_pem: bytes = field(repr=False)
    valid_from: datetime
    valid_until: datetime | None = None
    revoked_at: datetime | None = None
    previous_key_id: str | None = None
    rotation_signature: bytes | None = field(default=None, repr=False)

    def check_rotation(self, previous: StationKey) -> None:
        """Raise ``SignatureInvalid`` unless ``previous`` signed this key's public bytes."""
        if self.rotation_signature is None:
            return
        verify_signature(
            previous.public_pem,
            raw_public_key(self.public_pem),
            self.rotation_signature,
            f"rotation of {previous.key_id} to {self.key_id}",
        )

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "station": self.station,
            "public_pem": self.public_pem.decode("ascii"),
            "valid_from": utc_iso(self.valid_from),
            "valid_until": utc_iso(self.valid_until) if self.valid_until else None,
            "revoked_at": utc_iso(self.revoked_at) if self.revoked_at else None,
            "previous_key_id": self.previous_key_id,
            "rotation_signature": (
                base64.b64encode(self.rotation_signature).decode("ascii") if self.rotation_signature else None
            ),
        }

    def why_not_valid_at(self, at: datetime) -> str | None:
        signed = f"key {self.key_id} signed at {utc_iso(at)}"
        if at < self.valid_from:
            return f"{signed}, before its validity began ({utc_iso(self.valid_from)})"
        if self.revoked_at is not None and at >= self.revoked_at:
            return f"{signed}, after it was revoked ({utc_iso(self.revoked_at)})"
        if self.valid_until is not None and at >= self.valid_until:
            return f"{signed}, after its validity ended ({utc_iso(self.valid_until)})"
        return None


@dataclass(frozen=True)
class TrustAnchors:
    log_keys: tuple[NoteKey, ...]
    station_keys: tuple[StationKey, ...]
    tsa_roots: tuple[bytes, ...] = ()  # PEM certificates: the time-stamping roots tokens chain to

    def station_key(self, key_id: str, at: datetime) -> StationKey:
        """The trusted key ``key_id`` if its signatures count at ``at``; else ``SignatureInvalid``."""
        known = [k for k in self.station_keys if k.key_id == key_id]
        if not known:
            raise SignatureInvalid(key_id, "not a key of the trust anchors")
        reasons = [why for k in known if (why := k.why_not_valid_at(at)) is not None]
        if len(reasons) == len(known):
            raise SignatureInvalid(key_id, "; ".join(reasons))
        return next(k for k in known if k.why_not_valid_at(at) is None)

    def verify_manifest(self, manifest: bytes, signature: bytes, signed_at: datetime) -> dict[str, Any]:
        """The manifest's fields, once its signature is by a trusted key valid at ``signed_at``."""
        try:
            fields = parse(manifest)
        except ValueError:
            raise SignatureInvalid("manifest", "not JSON") from None
        if not isinstance(fields, dict) or not isinstance(fields.get("key_id"), str):
            raise SignatureInvalid("manifest", "names no key id")
        key = self.station_key(fields["key_id"], signed_at)
        verify_signature(key.public_pem, manifest, signature, f"manifest of {fields.get('recording_id')}")
        return fields

    def to_json(self) -> bytes:
        doc = {
            "type": TRUST_TYPE,
            "log_keys": [k.vkey for k in self.log_keys],
            "station_keys": [k.to_json_obj() for k in self.station_keys],
            "tsa_roots": [pem.decode("ascii") for pem in self.tsa_roots],
        }
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes, source: str = "trust file") -> TrustAnchors:
        try:
            doc = json.loads(data.decode("utf-8"))
            if not isinstance(doc, dict) or doc.get("type") != TRUST_TYPE:
                raise ValueError(f"not a {TRUST_TYPE} document")
            log_keys = tuple(NoteKey.parse(_str(v, "log key")) for v in _list(doc, "log_keys"))
            station_keys = tuple(_station_key(v) for v in _list(doc, "station_keys"))
            _one_entry_per_key(station_keys)
            # optional: trust files written before time-stamping have none
            tsa_roots = tuple(
                _pem_certificate(v) for v in (_list(doc, "tsa_roots") if "tsa_roots" in doc else [])
            )
            check_rotations(station_keys)
        except (ValueError, TypeError, RecursionError, SignatureInvalid) as e:
            raise UsageError(f"{source}: not usable trust anchors: {e}") from None
        return cls(log_keys, station_keys, tsa_roots)


def _list(doc: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise ValueError(f"'{key}' must be a list")
    return value


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return value


def _time(value: Any, what: str) -> datetime:
    t = parse_lenient(_str(value, what))
    if t.tzinfo is None:
        raise ValueError(f"{what} has no UTC offset")
    try:  # held in UTC, so that no later comparison or message meets year 0 or 10000
        return t.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{what} {value} is out of range in UTC (years 1 to 9999)") from None


def _pem_certificate(v: Any) -> bytes:
    pem = _str(v, "a time-stamping root").encode("ascii")
    if not pem.lstrip().startswith(b"-----BEGIN CERTIFICATE-----"):
        raise ValueError("a time-stamping root must be a PEM certificate")
    return pem


def _station_key(v: Any) -> StationKey:
    if not isinstance(v, dict):
        raise ValueError("a station key must be an object")
    pem = _str(v.get("public_pem"), "public_pem").encode("ascii")
    key_id = _str(v.get("key_id"), "key_id")
    if key_id_from_pem(pem) != key_id:
        raise ValueError(f"key id {key_id} does not match its public key")
    optional = {k: _time(v[k], k) if v.get(k) is not None else None for k in ("valid_until", "revoked_at")}
    previous = _str(v["previous_key_id"], "previous_key_id") if v.get("previous_key_id") is not None else None
    signature = _signature(v.get("rotation_signature"))
    if signature is not None and previous is None:
        raise ValueError(f"key {key_id} has a rotation signature but names no previous key")
    return StationKey(
        key_id,
        _str(v.get("station"), "station"),
        pem,
        _time(v.get("valid_from"), "valid_from"),
        **optional,
        previous_key_id=previous,
        rotation_signature=signature,
    )


def _one_entry_per_key(keys: Sequence[StationKey]) -> None:
    """``keys export-trust`` writes each key once.  Two entries of one key come from files
    merged by hand, and would count a signature if either window allowed it: an older
    entry would outlive the revocation a newer one states."""
    seen: set[str] = set()
    for k in keys:
        if k.key_id in seen:
            raise ValueError(
                f"station key {k.key_id} is listed twice: keep one entry per key "
                "(the latest keys export-trust), not files merged by hand"
            )
        seen.add(k.key_id)


def _signature(value: Any) -> bytes | None:
    if value is None:
        return None
    try:
        raw = base64.b64decode(_str(value, "rotation_signature"), validate=True)
    except binascii.Error:
        raise ValueError("rotation_signature is not base64") from None
    if len(raw) != 64:
        raise ValueError(f"rotation_signature has {len(raw)} bytes, not 64")
    return raw


def check_rotations(keys: Sequence[StationKey]) -> None:
    """Every rotation whose previous key is among ``keys`` must carry that key's signature
    (or none at all: the old key was lost); a forged one raises ``SignatureInvalid``.  A
    previous key that is not there cannot be checked: the file holds no key it did not know."""
    by_id = {k.key_id: k for k in keys}
    for key in keys:
        previous = by_id.get(key.previous_key_id) if key.previous_key_id else None
        if previous is not None:
            key.check_rotation(previous)
