"""A key's life: when a revocation may take effect, and what ``keys list`` says of each key (no I/O).

A station key is *current* while the station signs with it, *retired* once another replaced
it (what it signed before stays valid) and *revoked* once an operator declared its signatures
invalid from a time on.  A key that replaced another names it, and the old key's signature
over the new key's raw public bytes shows the rotation was made by whoever held the old key;
when the old private key was lost (or revoked) there is no such signature, and the list says so.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from recorder_sync.domain.timebounds import check_plausible
from recorder_sync.domain.times import utc_iso

if TYPE_CHECKING:
    from recorder_sync.domain.trust import StationKey

# the operator's clock and the station's may differ a little; a revocation further ahead is a
# typo, or a wish to keep signing with a key already known to be bad
REVOKE_AHEAD = timedelta(minutes=1)
OLD_KEY_UNAVAILABLE = "old key unavailable"


class KeyKind(enum.StrEnum):
    STATION = "station"
    LOG = "log"


class KeyStatus(enum.StrEnum):
    CURRENT = "current"
    RETIRED = "retired"
    REVOKED = "revoked"


def revocation_problem(at: datetime, now: datetime) -> str | None:
    """Why ``keys revoke --at`` may not take ``at`` (or None): it must be plausible and not
    later than a minute from now."""
    why = check_plausible(at)
    if why is not None:
        return why
    if at > now + REVOKE_AHEAD:
        return f"in the future (now is {utc_iso(now)}); a revocation takes effect now or in the past"
    return None


def status(key: StationKey) -> KeyStatus:
    if key.revoked_at is not None:
        return KeyStatus.REVOKED
    if key.valid_until is not None:
        return KeyStatus.RETIRED
    return KeyStatus.CURRENT


def rotation_shown(key: StationKey, by_id: dict[str, StationKey]) -> str | None:
    """Who signed this key in (the previous key's id), or why nobody did; None for a first key."""
    if key.previous_key_id is None:
        return None
    if key.rotation_signature is not None:
        return key.previous_key_id
    previous = by_id.get(key.previous_key_id)
    if previous is not None and previous.revoked_at is not None and previous.revoked_at <= key.valid_from:
        return f"{OLD_KEY_UNAVAILABLE} (revoked)"
    return OLD_KEY_UNAVAILABLE


@dataclass(frozen=True)
class LogKeyInfo:
    """A log key of an origin: its key id and, once registered in the database, its validity
    window and the key it replaced (with that key's signature over its raw public bytes)."""

    origin: str
    key_id: str
    public_raw: bytes = b""
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    previous_key_id: str | None = None
    rotation_signature: bytes | None = None


def listing(
    station_keys: Sequence[StationKey], revoke_reasons: Mapping[str, str], log_keys: Sequence[LogKeyInfo]
) -> list[dict[str, Any]]:
    """``keys list --json``: one row per key, the log keys first (oldest first), then the
    station keys oldest first; ``revoke_reasons`` by key id."""
    rows: list[dict[str, Any]] = []
    for log_key in log_keys:
        rows.append(
            {
                "key_id": log_key.key_id,
                "kind": KeyKind.LOG.value,
                "station": None,
                "origin": log_key.origin,
                "valid_from": utc_iso(log_key.valid_from) if log_key.valid_from else None,
                "valid_until": utc_iso(log_key.valid_until) if log_key.valid_until else None,
                "revoked_at": None,
                "revoke_reason": None,
                "previous_key_id": log_key.previous_key_id,
                "rotation_signed_by": log_key.previous_key_id if log_key.rotation_signature else None,
                "rotation_signature": (
                    base64.b64encode(log_key.rotation_signature).decode("ascii")
                    if log_key.rotation_signature
                    else None
                ),
                "status": (KeyStatus.RETIRED if log_key.valid_until else KeyStatus.CURRENT).value,
            }
        )
    by_id = {k.key_id: k for k in station_keys}
    for k in station_keys:
        rows.append(
            {
                "key_id": k.key_id,
                "kind": KeyKind.STATION.value,
                "station": k.station,
                "origin": None,
                "valid_from": utc_iso(k.valid_from),
                "valid_until": utc_iso(k.valid_until) if k.valid_until else None,
                "revoked_at": utc_iso(k.revoked_at) if k.revoked_at else None,
                "revoke_reason": revoke_reasons.get(k.key_id),
                "previous_key_id": k.previous_key_id,
                "rotation_signed_by": rotation_shown(k, by_id),
                "rotation_signature": (
                    base64.b64encode(k.rotation_signature).decode("ascii") if k.rotation_signature else None
                ),
                "status": status(k).value,
            }
        )
    return rows
