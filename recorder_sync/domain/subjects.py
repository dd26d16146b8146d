"""Flag subjects: stable keys for what a flag (or a custody event) is about.

``recording:R``, ``action:A``, ``action:A:officer:O``, ``case:C``, ``device:D`` and
``device:D:checkout:20261127T003000Z``.  ':' separates parts, so ids escape it (and '%').
"""

from __future__ import annotations

from datetime import datetime

from recorder_sync.domain.times import compact_utc


def _esc(part: str) -> str:
    return part.replace("%", "%25").replace(":", "%3A")


def _unesc(part: str) -> str:
    return part.replace("%3A", ":").replace("%25", "%")


def recording_subject(recording_id: str) -> str:
    return f"recording:{_esc(recording_id)}"


def action_subject(action_id: str) -> str:
    return f"action:{_esc(action_id)}"


def officer_subject(action_id: str, officer: str) -> str:
    return f"action:{_esc(action_id)}:officer:{_esc(officer)}"


def checkout_subject(device: str, start: datetime) -> str:
    return f"device:{_esc(device)}:checkout:{compact_utc(start)}"


def case_subject(case_id: str) -> str:
    return f"case:{_esc(case_id)}"


def parse_subject(subject: str) -> tuple[str, ...]:
    """The unescaped parts: ('recording', id), ('action', id), ('action', id, 'officer', n),
    ('device', serial, 'checkout', '20261127T003000Z'), ('case', id)."""
    return tuple(_unesc(part) for part in subject.split(":"))


def device_subject(device: str) -> str:
    return f"device:{_esc(device)}"


def user_subject(user: str) -> str:
    """A roster user (``user`` or ``user@host``)."""
    return f"user:{_esc(user)}"


def file_subject(dock: str, relpath: str) -> str:
    """A file on a dock (before or without a recording).  Not escaped: flags about files
    have been stored with this form from the start, and nothing parses it."""
    return f"dock:{dock}/{relpath}"


def station_subject(station: str) -> str:
    return f"station:{station}"


def derived_subject(sha256: str) -> str:
    """A derivation (an exported clip, a set of frames, a mosaic), by its provenance's SHA-256."""
    return f"derived:{sha256}"
