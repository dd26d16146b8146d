"""Who may replay evidence: the roster, its import format, and the rights of each role.

The actor of ``recorder-replay`` is the operating-system account running it (``user@host``),
never a name typed on the command line: a flag would let anyone write anyone's name into the
access log.  The roster says what that account may do.

Roster CSV header::

    user,officer,role,unit

``user`` is a login name (any host) or ``user@host`` (that host only); ``role`` is
``supervisor``, ``auditor`` or ``officer``; ``officer`` is the officer number, required for
the ``officer`` role (an officer replays only their own footage) and optional for the others;
``unit`` may be empty.  A file with any problem is rejected whole, every problem listed, as
the case imports are.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from recorder_sync.domain.cases import ImportProblem
from recorder_sync.domain.cases import _csv_records as csv_records  # one CSV framing for every import
from recorder_sync.domain.cases import _finish as finish
from recorder_sync.domain.cases import _Framed as Framed
from recorder_sync.domain.cases import _RowCheck as RowCheck
from recorder_sync.domain.errors import AccessRefused

ROSTER_COLUMNS: tuple[str, ...] = ("user", "officer", "role", "unit")


class Role(enum.StrEnum):
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    OFFICER = "officer"


# What each command of ``recorder-replay`` shows, and who may run it.  Officers see only
# their own recordings (``may_see``); auditors review the access log, not the footage.
RIGHTS: dict[str, frozenset[Role]] = {
    "find": frozenset({Role.SUPERVISOR, Role.OFFICER}),
    "timeline": frozenset({Role.SUPERVISOR, Role.OFFICER}),
    "play": frozenset({Role.SUPERVISOR, Role.OFFICER}),
    "export": frozenset({Role.SUPERVISOR, Role.OFFICER}),
    "frames": frozenset({Role.SUPERVISOR, Role.OFFICER}),  # stills are an export, frame by frame
    "url": frozenset({Role.SUPERVISOR}),  # a link can be passed on: supervisors only
    "access-report": frozenset({Role.SUPERVISOR, Role.AUDITOR}),
}


@dataclass(frozen=True)
class RosterEntry:
    user: str
    role: Role
    officer: str = ""
    unit: str = ""

    def as_record(self) -> dict[str, str]:
        return {"user": self.user, "officer": self.officer, "role": self.role.value, "unit": self.unit}


def _build_entry(check: RowCheck, seen: dict[str, int]) -> RosterEntry | None:
    user = check.text("user", True)
    if user:
        if any(c.isspace() for c in user) or user.count("@") > 1 or user.startswith("@"):
            check.problem("user", user, "expected a login name or user@host")
        elif user in seen:
            check.problem("user", user, f"duplicate user (first on row {seen[user]})")
        else:
            seen[user] = check.row
    role_text = check.text("role", True)
    role: Role | None = None
    if role_text:
        try:
            role = Role(role_text)
        except ValueError:
            check.problem("role", role_text, f"unknown role; expected {', '.join(r.value for r in Role)}")
    officer = check.text("officer", False)
    if role is Role.OFFICER and not officer and "officer" not in check.absent:
        check.problem("officer", None, "the officer role needs the officer number (officers see their own)")
    unit = check.text("unit", False)
    if not check.ok or role is None:
        return None
    return RosterEntry(user, role, officer, unit)


def parse_roster_csv(text: str, *, source: str = "roster CSV") -> list[RosterEntry]:
    """Raises ``ImportRejected`` listing every problem when anything is wrong."""
    problems: list[ImportProblem] = []
    framed: Iterable[Framed] = csv_records(text, ROSTER_COLUMNS, problems)
    seen: dict[str, int] = {}
    entries = [
        entry
        for f in framed
        if f.fields is not None and (entry := _build_entry(RowCheck(f, problems), seen)) is not None
    ]
    finish(source, problems)
    return entries


def entry_for(actor: str, roster: Collection[RosterEntry]) -> RosterEntry | None:
    """The roster entry of ``user@host``: the one naming that host, else the one naming the
    login name alone."""
    user = actor.partition("@")[0]
    by_name = {e.user: e for e in roster}
    return by_name.get(actor) or by_name.get(user)


def authorize(actor: str, entry: RosterEntry | None, command: str) -> RosterEntry:
    """The entry, when it lets ``actor`` run ``command``; else ``AccessRefused`` naming the role needed."""
    allowed = RIGHTS[command]
    needed = " or ".join(sorted(r.value for r in allowed))
    if entry is None:
        raise AccessRefused(actor, f"is not in the roster; `{command}` needs the role {needed}")
    if entry.role not in allowed:
        raise AccessRefused(actor, f"has the role {entry.role.value}; `{command}` needs the role {needed}")
    return entry


def may_see(entry: RosterEntry, officer: str | None) -> bool:
    """Whether ``entry`` may see a recording of ``officer``: officers only their own."""
    return entry.role is not Role.OFFICER or (officer is not None and officer == entry.officer)


def officer_scope(entry: RosterEntry) -> str | None:
    """The officer a search is limited to: an officer's own number, None for the others."""
    return entry.officer if entry.role is Role.OFFICER else None
