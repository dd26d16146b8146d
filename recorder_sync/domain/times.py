"""Times in and out: one strict parser, one lenient camera parser, the UTC forms written
for machines, and the one form shown to people.

- ``parse_strict``: a time a person or a system gives us (imports, ``--now``): ISO 8601
  with a UTC offset, or refused; guessing the zone is how an action lands eight hours off.
- ``parse_lenient``: a time a camera wrote (sidecar, ``clock.json``, container tags): an
  offset, ``Z`` or none at all; a naive result is read in the dock's zone by the caller
  (``untrusted.to_utc``), which knows it.
- ``utc_iso``: UTC with ``+00:00``, for ``--json`` and for the signed manifest and custody
  events, whose bytes are hashed: its form must never change for data already stored.
- ``utc_z``: UTC with ``Z``, the form of import records (``cases import``/``ledger import``
  rows written back out), which custody events of imports have held since the first one.
- ``display``: the station's zone with its offset, to the second, for tables, ``show`` and
  flag texts: a seizure filmed at 08:30 in Suzhou reads ``2026-11-27 08:30:00+08:00``.

Bounds and saturating arithmetic stay in ``timebounds``.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from recorder_sync.domain.timebounds import check_plausible, local

_COMPACT = "%Y%m%dT%H%M%SZ"
_NOT_ISO = "not an ISO 8601 date and time (expected e.g. 2026-11-27T08:30:00+08:00)"


def utc_iso(t: datetime) -> str:
    """ISO 8601 in UTC with an explicit ``+00:00``; a naive time is a bug, not a guess."""
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return t.astimezone(UTC).isoformat()


def utc_z(t: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix (import records)."""
    return utc_iso(t).replace("+00:00", "Z")


def compact_utc(t: datetime) -> str:
    """UTC in ISO 8601 basic format, to the second (``20261127T003000Z``): the time part
    of stored checkout subjects, so its form must not change either."""
    return local(t, UTC).strftime(_COMPACT)


def parse_compact_utc(text: str) -> datetime | None:
    """The time of ``compact_utc``'s form, or None when ``text`` is not one."""
    try:
        return datetime.strptime(text, _COMPACT).replace(tzinfo=UTC)
    except ValueError:
        return None


def display(t: datetime, zone: tzinfo) -> str:
    """``t`` as people read it: in ``zone`` with its offset, to the second
    (``2026-11-27 08:30:00+08:00``); saturated rather than raising at the calendar's ends."""
    return local(t, zone).isoformat(sep=" ", timespec="seconds")


def parse_strict(text: str, *, plausible: bool = False) -> datetime:
    """An ISO 8601 time with a UTC offset (``2026-11-27T08:30:00+08:00`` or ``…Z``), as UTC.

    Raises ValueError saying why when it is not one; a time without an offset is refused.
    ``plausible``: also refuse a time outside ``timebounds``' range (every time that comes
    from outside; stored times are read back without it).
    """
    value = text.strip()
    if "T" not in value and " " not in value:
        raise ValueError(_NOT_ISO)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(_NOT_ISO) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(
            "time has no UTC offset (write e.g. 2026-11-27T08:30:00+08:00 or 2026-11-27T00:30:00Z)"
        )
    why = check_plausible(parsed)
    if plausible and why is not None:
        raise ValueError(why)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC reading
        raise ValueError(why or "outside the range of dates") from None


def parse_lenient(text: str) -> datetime:
    """A camera's ISO 8601 time as written: aware when it has an offset or ``Z``, naive
    when it has none.  Raises ValueError when it is no ISO 8601 time at all."""
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
