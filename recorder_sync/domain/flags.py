"""Flags the deadline engine owns: their kinds and severities, the flag a rule wants open
(``FlagSpec``), and how the wanted flags are reconciled with the stored ones (what to
raise, resolve, and update, and what a resolution says)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from recorder_sync.domain.model import Flag, FlagState, Severity

# defined next to Flag (model: it is the type of Flag.kind), re-exported for the engine's callers
from recorder_sync.domain.model import FlagKind as FlagKind

ENGINE_KINDS = frozenset(
    k.value
    for k in (
        FlagKind.UPLOAD_AT_RISK,
        FlagKind.UPLOAD_LATE,
        FlagKind.FOOTAGE_MISSING,
        FlagKind.FOOTAGE_RECOMMENDED_MISSING,
        FlagKind.COVERAGE_GAP,
        FlagKind.CAMERA_NOT_DOCKED,
        FlagKind.CASE_FILE_OVERDUE,
    )
)
"""Flag kinds this engine owns; other kinds (unreadable-media, integrity-failure…)
are raised elsewhere and ``reconcile`` never resolves them."""
UPLOAD_KINDS = frozenset({FlagKind.UPLOAD_AT_RISK.value, FlagKind.UPLOAD_LATE.value})
"""Kinds about a recording's upload; the sweep judges them on their own set of recordings."""

SEVERITY_AT_RISK = Severity.MEDIUM
SEVERITY_LATE = Severity.HIGH
SEVERITY_NOT_DOCKED = Severity.HIGH
SEVERITY_CASE_FILE = Severity.HIGH
_SEVERITY_ORDER = list(Severity)


def severity_rank(severity: Severity) -> int:
    return _SEVERITY_ORDER.index(severity)


def escalates(new: Severity, old: Severity | str) -> bool:
    """An update to a stored flag that raises its severity is an escalation: it is alerted."""
    return severity_rank(new) > severity_rank(Severity(old))


def raise_severity(severity: Severity) -> Severity:
    """One step up, capped at CRITICAL."""
    return _SEVERITY_ORDER[min(severity_rank(severity) + 1, len(_SEVERITY_ORDER) - 1)]


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class FlagSpec:
    """A flag that should be open.  (kind, subject) is its identity across sweeps."""

    kind: FlagKind
    severity: Severity
    subject: str
    detail: str
    due: datetime | None = None
    recording_id: str | None = None
    action_id: str | None = None
    case_id: str | None = None
    officer: str | None = None
    device: str | None = None
    clock_uncertain: bool = False
    gaps: tuple[Gap, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind.value, self.subject)

    def to_flag(self, raised_at: datetime) -> Flag:
        return Flag(
            kind=self.kind,
            severity=self.severity,
            subject=self.subject,
            detail=self.detail,
            state=FlagState.OPEN,
            recording_id=self.recording_id,
            due=self.due,
            raised_at=raised_at,
        )


def reconcile(
    existing_open: Iterable[tuple[str, str]], desired: Iterable[FlagSpec]
) -> tuple[list[FlagSpec], list[tuple[str, str]]]:
    """(to_raise, to_resolve) given the (kind, subject) of the flags now open or
    acknowledged.  Only the engine's own kinds are ever resolved; resolve each with
    ``resolution_state(kind)``."""
    existing = {(str(kind), subject) for kind, subject in existing_open}
    wanted = {spec.key: spec for spec in desired}
    to_raise = [wanted[key] for key in sorted(wanted) if key not in existing]
    to_resolve = sorted(key for key in existing if key not in wanted and key[0] in ENGINE_KINDS)
    return to_raise, to_resolve


def resolution_state(kind: str) -> FlagState:
    """A late upload that finally arrived still counts as late."""
    return FlagState.RESOLVED_LATE if kind == FlagKind.UPLOAD_LATE else FlagState.RESOLVED


class _StoredFlag(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def detail(self) -> str: ...


def updated(existing_open: Iterable[_StoredFlag], desired: Iterable[FlagSpec]) -> list[FlagSpec]:
    """Desired flags already open whose severity or detail changed (e.g. a late recording
    got linked to a full action, or a coverage gap shrank).  Use ``escalates`` to
    tell an escalation (to alert on) from a plain update."""
    stored = {(str(f.kind), f.subject): f for f in existing_open}
    out = []
    for spec in sorted(desired, key=lambda s: s.key):
        old = stored.get(spec.key)
        if old is not None and (Severity(old.severity) != spec.severity or old.detail != spec.detail):
            out.append(spec)
    return out


def resolution_reason(kind: str) -> str:
    """Why the engine resolved a flag of this kind, as the flag and its custody event say."""
    if resolution_state(kind) is FlagState.RESOLVED_LATE:
        return "the recording was stored and verified after its deadline"
    return "the condition no longer holds"
