"""Supervision of access: every access to evidence content, read back from the custody log,
and the findings an auditor of a body-worn-camera programme asks for.

- **self-access**: an officer (through the roster) viewed footage of an action they took
  part in. The action's report time is not known to the station, so the finding says whether
  the viewing came before or after the action ended, the nearest fact it has;
- **no-link access**: footage viewed that belongs to no action (so to no case).

- **bulk access**: one user touching more than ``bulk_per_day`` recordings in a day;
- **out-of-hours access**: outside the office hours, in the station's time zone.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, tzinfo
from typing import Any

from recorder_sync.domain.cases import Action
from recorder_sync.domain.replay import VIA
from recorder_sync.domain.roster import RIGHTS, RosterEntry, entry_for
from recorder_sync.domain.times import parse_lenient, utc_iso

ACCESS_KINDS = ("accessed", "exported")


@dataclass(frozen=True)
class AccessLimits:
    """What counts as bulk and as out of hours (``[replay]`` in the configuration)."""

    bulk_per_day: int = 50
    office_start: time = time(8, 0)
    office_end: time = time(18, 0)

    def out_of_hours(self, local: time) -> bool:
        if self.office_start <= self.office_end:
            return not (self.office_start <= local < self.office_end)
        return self.office_end <= local < self.office_start  # night shift: hours across midnight


def parse_office_hours(text: str) -> tuple[time, time]:
    """``08:00-18:00``; ``ValueError`` otherwise."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"expected HH:MM-HH:MM, got {text!r}")
    try:
        return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError:
        raise ValueError(f"expected HH:MM-HH:MM, got {text!r}") from None


@dataclass(frozen=True)
class AccessRecord:
    """One logged access (not the second event that records how it ended)."""

    seq: int
    at: datetime
    actor: str
    kind: str
    how: str
    reason: str
    recordings: tuple[tuple[str, str], ...]  # (recording id, sha256)
    range: Mapping[str, str] | None = None
    outcome: str = "served"
    officer: str | None = None  # the actor's officer number, as the roster said at the time

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": utc_iso(self.at),
            "user": self.actor,
            "event": self.kind,
            "how": self.how,
            "reason": self.reason,
            "recordings": [{"id": rid, "sha256": sha} for rid, sha in self.recordings],
            "range": dict(self.range) if self.range else None,
            "outcome": self.outcome,
            "officer": self.officer,
        }


@dataclass(frozen=True)
class Finding:
    kind: str  # self-access | no-link-access
    access_seq: int
    user: str
    recording_id: str
    detail: str
    action_id: str | None = None
    officer: str | None = None
    after_action_end: bool | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "access_seq": self.access_seq,
            "user": self.user,
            "recording_id": self.recording_id,
            "action_id": self.action_id,
            "officer": self.officer,
            "after_action_end": self.after_action_end,
            "detail": self.detail,
        }


def accesses_from_events(events: Iterable[Mapping[str, Any]]) -> list[AccessRecord]:
    """The accesses among custody events' fields, each with the outcome its second event gave."""
    outcomes: dict[int, str] = {}
    records: list[AccessRecord] = []
    for ev in events:
        if ev.get("action") not in ACCESS_KINDS:
            continue
        details = ev.get("details") or {}
        if "access_seq" in details:
            outcomes[int(details["access_seq"])] = str(details.get("outcome", "failed"))
            continue
        records.append(
            AccessRecord(
                seq=int(ev["seq"]),
                at=parse_lenient(str(ev["at"])),
                actor=str(ev.get("actor", "")),
                kind=str(ev["action"]),
                how=str(details.get("how", "")),
                reason=str(ev.get("reason", "")),
                recordings=tuple(
                    (str(r["id"]), str(r.get("sha256", ""))) for r in details.get("recordings", ())
                ),
                range=details.get("range"),
                officer=str(details["officer"]) if details.get("officer") else None,
            )
        )
    return [replace(r, outcome=outcomes[r.seq]) if r.seq in outcomes else r for r in records]


def officer_of(access: AccessRecord, roster: Collection[RosterEntry]) -> str | None:
    """The officer who made ``access``: as logged with it, else as the roster says now (an
    access logged before the event recorded it)."""
    if access.officer:
        return access.officer
    entry = entry_for(access.actor, roster)
    return entry.officer if entry is not None and entry.officer else None


def find_problems(
    accesses: Sequence[AccessRecord],
    roster: Collection[RosterEntry],
    links: Mapping[str, Sequence[str]],
    actions: Mapping[str, Action],
) -> list[Finding]:
    """``links`` maps a recording id to the actions it is linked to (links not removed)."""
    findings: list[Finding] = []
    for access in accesses:
        officer = officer_of(access, roster)
        for rid, _ in access.recordings:
            linked = links.get(rid, ())
            if not linked:
                findings.append(
                    Finding("no-link-access", access.seq, access.actor, rid, "footage of no action (no case)")
                )
            for aid in linked:
                action = actions.get(aid)
                if officer is None or action is None or officer not in action.officers:
                    continue
                after = access.at > action.end
                when = "after" if after else "before"
                findings.append(
                    Finding(
                        "self-access",
                        access.seq,
                        access.actor,
                        rid,
                        f"officer {officer} viewed footage of action {aid}, in which they took part, "
                        f"{when} it ended ({utc_iso(action.end)}); the report time is not known here",
                        aid,
                        officer,
                        after,
                    )
                )
    return findings


def usage_problems(accesses: Sequence[AccessRecord], limits: AccessLimits, zone: tzinfo) -> list[Finding]:
    """Bulk access (per user and local day) and accesses out of the office hours."""
    findings: list[Finding] = []
    seen: dict[tuple[str, str], set[str]] = {}
    for access in accesses:
        local = access.at.astimezone(zone)
        day = local.date().isoformat()
        touched = seen.setdefault((access.actor, day), set())
        before = len(touched)
        touched.update(rid for rid, _ in access.recordings)
        if before <= limits.bulk_per_day < len(touched):
            findings.append(
                Finding(
                    "bulk-access",
                    access.seq,
                    access.actor,
                    access.recordings[-1][0],
                    f"{access.actor} touched more than {limits.bulk_per_day} recordings on {day}",
                )
            )
        if limits.out_of_hours(local.time()):
            hours = f"{limits.office_start:%H:%M}-{limits.office_end:%H:%M}"
            for rid, _ in access.recordings:
                findings.append(
                    Finding(
                        "out-of-hours-access",
                        access.seq,
                        access.actor,
                        rid,
                        f"at {local:%Y-%m-%d %H:%M:%S%z}, outside the office hours {hours}",
                    )
                )
    return findings


# --- refused attempts --------------------------------------------------------------------

REFUSED = "access-refused"


def refusal_details(
    command: str, entry: RosterEntry | None, asked: Mapping[str, Any] | None, problem: str
) -> dict[str, Any]:
    """What an ``access-refused`` event records besides who (its actor): the command, what
    was asked, the roles that may run the command, the role (and officer number) the roster
    gave the actor, and why it was refused."""
    details: dict[str, Any] = {
        "via": VIA,
        "command": command,
        "needed": sorted(r.value for r in RIGHTS.get(command, ())),
        "role": entry.role.value if entry is not None else None,
        "problem": problem,
    }
    if entry is not None and entry.officer:
        details["officer"] = entry.officer
    if asked:
        details["asked"] = dict(asked)
    return details


def refusals_from_events(
    events: Iterable[Mapping[str, Any]], user: str | None = None, officer: str | None = None
) -> list[Finding]:
    """A ``refused-access`` finding for every refused attempt (by ``user``, of ``officer``)."""
    findings: list[Finding] = []
    for ev in events:
        if ev.get("action") != REFUSED:
            continue
        actor = str(ev.get("actor", ""))
        details = ev.get("details") or {}
        if user is not None and user not in (actor, actor.partition("@")[0]):
            continue
        if officer is not None and details.get("officer") != officer:
            continue
        asked = details.get("asked") or {}
        findings.append(
            Finding(
                "refused-access",
                int(ev["seq"]),
                actor,
                str(asked.get("recording", "")),
                f"`{details.get('command')}` refused: {details.get('problem')}",
                officer=str(details["officer"]) if details.get("officer") else None,
            )
        )
    return findings
