"""Supervised replay, the pure part: what a search asks, what it finds, what an access event
says, and whether a fetched copy is the evidence that was signed.

Every access to evidence content is logged before the first byte is read from the store
(``services.replay``); the event's details are made here so that every command says the
same things: who (the event's actor), what (recording ids and SHA-256), why (the reason),
how (play, export, …) and the time range asked for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recorder_sync.domain.errors import IntegrityFailure, SignatureInvalid, UsageError
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.model import Recording
from recorder_sync.domain.roster import RosterEntry
from recorder_sync.domain.times import utc_iso

if TYPE_CHECKING:
    from recorder_sync.domain.trust import TrustAnchors

VIA = "recorder-replay"


@dataclass(frozen=True)
class FindQuery:
    """Which recordings to find; every field given must match. ``since``/``until`` select
    recordings whose clock-corrected window overlaps them."""

    case_id: str | None = None
    action_id: str | None = None
    officer: str | None = None
    device: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_json(self) -> dict[str, str]:
        """The query as the ``searched`` event records it (only what was asked)."""
        out: dict[str, str] = {}
        for name in ("case_id", "action_id", "officer", "device", "target"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        for name in ("since", "until"):
            t = getattr(self, name)
            if t is not None:
                out[name] = utc_iso(t)
        return out

    def scoped(self, officer: str | None) -> FindQuery | None:
        """Limited to ``officer``'s recordings (an officer's own search), None when that leaves
        nothing: an officer asking for another's footage finds nothing, rather than an error
        that would confirm it exists."""
        if officer is None:
            return self
        if self.officer is not None and self.officer != officer:
            return None
        return replace(self, officer=officer)

    def in_window(self, window: tuple[datetime, datetime] | None) -> bool:
        if self.since is None and self.until is None:
            return True
        if window is None:
            return False  # asked for a time, and this recording has none
        start, end = window
        return (self.since is None or end >= self.since) and (self.until is None or start <= self.until)


@dataclass(frozen=True)
class LinkShown:
    action_id: str
    confidence: str


@dataclass(frozen=True)
class FoundRecording:
    """A recording as ``find`` shows it: camera times, the clock correction and the
    corrected times, its state, links and open flags."""

    recording: Recording
    facts: RecordingFacts
    links: tuple[LinkShown, ...] = ()
    flags: tuple[str, ...] = ()

    @property
    def correction(self) -> timedelta | None:
        """What was subtracted from the camera's times (its clock ran ahead by this much)."""
        return self.facts.clock_offset

    def as_json(self) -> dict[str, Any]:
        r, f = self.recording, self.facts
        offset = self.correction
        return {
            "id": r.id,
            "sha256": r.sha256,
            "kind": r.kind.value,
            "state": r.state.value,
            "device": r.device,
            "officer": r.officer,
            "original_name": r.original_name,
            "camera_start": utc_iso(r.start) if r.start else None,
            "camera_end": utc_iso(r.end) if r.end else None,
            "start": utc_iso(f.corrected_start) if f.corrected_start else None,
            "end": utc_iso(f.corrected_end) if f.corrected_end else None,
            "clock_correction_s": None if offset is None else -offset.total_seconds(),
            "clock_uncertain": f.clock_uncertain,
            "links": [{"action_id": link.action_id, "confidence": link.confidence} for link in self.links],
            "flags": list(self.flags),
        }


def correction_text(offset: timedelta | None) -> str:
    """``-90 s`` when the camera ran 90 s ahead (its times were moved back by 90 s)."""
    if offset is None:
        return ""
    seconds = -offset.total_seconds()
    return f"{seconds:+g} s"


# --- access events -------------------------------------------------------------------


@dataclass(frozen=True)
class ClipRange:
    """The part of a recording asked for, from its beginning (``--from``/``--to`` HH:MM:SS)."""

    start: timedelta | None = None
    end: timedelta | None = None

    def as_json(self) -> dict[str, str] | None:
        if self.start is None and self.end is None:
            return None
        return {
            "from": clip_time_text(self.start) if self.start is not None else "start",
            "to": clip_time_text(self.end) if self.end is not None else "end",
        }


_CLIP_TIME = re.compile(r"^(?:(\d{1,3}):)?(?:([0-5]?\d):)?([0-5]?\d(?:\.\d{1,3})?)$")


def parse_clip_time(text: str) -> timedelta:
    """``HH:MM:SS`` (also ``MM:SS``, ``SS``, with up to 3 decimals), from the recording's start."""
    m = _CLIP_TIME.match(text.strip())
    if m is None:
        raise ValueError(f"expected HH:MM:SS from the recording's start, got {text!r}")
    a, b, c = m.groups()
    hours, minutes = (int(a), int(b)) if b is not None else (0, int(a) if a is not None else 0)
    return timedelta(hours=hours, minutes=minutes, seconds=float(c))


def clip_time_text(t: timedelta) -> str:
    total = t.total_seconds()
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{seconds:06.3f}".rstrip("0").rstrip(".")


def clip_range(start: str | None, end: str | None) -> ClipRange:
    """The range of ``--from``/``--to``; ``UsageError`` when either is not a time or it is empty."""
    try:
        lo = parse_clip_time(start) if start is not None else None
        hi = parse_clip_time(end) if end is not None else None
    except ValueError as e:
        raise UsageError(f"--from/--to: {e}") from None
    if lo is not None and hi is not None and hi <= lo:
        raise UsageError(f"--to {end} is not after --from {start}")
    return ClipRange(lo, hi)


def check_period(command: str, since: datetime | None, until: datetime | None) -> None:
    """``UsageError`` when ``--to`` is before ``--from``: such a period holds nothing, and an
    empty answer (``access-report``: no access, no finding) would read as "nothing happened"."""
    if since is not None and until is not None and until < since:
        raise UsageError(
            f"{command}: --to {utc_iso(until)} is before --from {utc_iso(since)}: no time lies between them"
        )


def check_within(span: ClipRange, rec: Recording) -> None:
    """``UsageError`` when ``--from``/``--to`` reach past the recording's end (when its length
    is known): ffmpeg would hand out the last key frames (or nothing) as that range, and a
    player would show nothing, each logged as an access to footage that does not exist."""
    if rec.duration_ms is None or rec.duration_ms <= 0:
        return
    length = timedelta(milliseconds=rec.duration_ms)
    for option, t in (("--from", span.start), ("--to", span.end)):
        if t is not None and (t > length or (option == "--from" and t == length)):
            raise UsageError(
                f"{option} {clip_time_text(t)} is past the recording's end ({clip_time_text(length)}); "
                "times are from the recording's start"
            )


URL_MINUTES_MAX = 15  # a handed-out link outlives its purpose quickly: at most a quarter of an hour


def url_lifetime(minutes: int) -> timedelta:
    if not 1 <= minutes <= URL_MINUTES_MAX:
        raise UsageError(f"--minutes {minutes}: a URL is valid from 1 to {URL_MINUTES_MAX} minutes")
    return timedelta(minutes=minutes)


def require_reason(reason: str | None, command: str) -> str:
    """Every viewing is justified: an empty reason is no reason."""
    if reason is None or not reason.strip():
        raise UsageError(f'`{command}` shows evidence: say why with --reason "…" (it is logged)')
    return reason.strip()


def access_details(
    entry: RosterEntry, how: str, recordings: Sequence[Recording], span: ClipRange, **extra: str
) -> dict[str, Any]:
    """What an ``accessed``/``exported`` event records besides who (its actor) and why (its reason)."""
    details: dict[str, Any] = {
        "via": VIA,
        "how": how,
        "role": entry.role.value,
        "recordings": [{"id": r.id, "sha256": r.sha256} for r in recordings],
    }
    if entry.officer:
        details["officer"] = entry.officer  # as the roster said then: self-access is judged on it
    if entry.unit:
        details["unit"] = entry.unit  # as the roster said then: the yearly report counts per unit
    shown = span.as_json()
    if shown is not None:
        details["range"] = shown
    details.update(extra)
    return details


def outcome_details(access_seq: int, outcome: str, problem: str | None = None) -> dict[str, Any]:
    """The second event of an access that failed after it was logged: which access, what happened."""
    details: dict[str, Any] = {"via": VIA, "access_seq": access_seq, "outcome": outcome}
    if problem is not None:
        details["problem"] = problem
    return details


@dataclass(frozen=True)
class FetchedCopy:
    """A private local copy of a stored object, and what it hashed to while it was written."""

    path: Path
    sha256: str
    size: int


# --- verify before play --------------------------------------------------------------


def manifest_of(rec: Recording) -> tuple[bytes, bytes]:
    """The signed manifest and its signature; a recording not signed yet cannot be checked."""
    if rec.manifest is None or rec.signature is None:
        raise SignatureInvalid(rec.id, "no signed manifest yet (the recording is still being ingested)")
    return rec.manifest, rec.signature


def check_copy(
    rec: Recording, found_sha256: str, found_size: int, trust: TrustAnchors, signed_at: datetime
) -> None:
    """The fetched copy is the evidence: its signed manifest verifies with a trusted key valid
    at ``signed_at``, and names this recording, this SHA-256 and this size, which the copy has.

    ``SignatureInvalid`` or ``IntegrityFailure`` (both: verification failed, exit 3)."""
    manifest, signature = manifest_of(rec)
    fields = trust.verify_manifest(manifest, signature, signed_at)
    if fields.get("sha256") != rec.sha256 or fields.get("recording_id") != rec.id:
        raise SignatureInvalid(rec.id, "the signed manifest is about other bytes than the catalog names")
    if found_sha256 != rec.sha256 or found_size != fields.get("size"):
        raise IntegrityFailure(rec.id, rec.sha256, f"{found_sha256} over {found_size} bytes")
