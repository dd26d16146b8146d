"""What an audit found: one ``Problem`` per thing that did not verify, counts of what did.

Every family of checks (the log and its checkpoints, the manifests, the stored objects) adds
to one ``AuditResult``; the auditor's command prints it and ends with 0 (all verified),
3 (a problem) or 4 (something could not be checked).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """``check`` names the family (``checkpoint``, ``log``, ``manifest``, ``object``…),
    ``subject`` what it is about (``recording:…``, ``event:12``, ``checkpoint:40``), and
    ``reason`` says specifically what is wrong."""

    check: str
    subject: str
    reason: str

    def line(self) -> str:
        return f"{self.check}: {self.subject}: {self.reason}"


@dataclass
class AuditResult:
    checked: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    unchecked: list[Problem] = field(default_factory=list)  # could not be checked (store or DB down)

    def problem(self, check: str, subject: str, reason: str) -> None:
        self.problems.append(Problem(check, subject, reason))

    def could_not_check(self, check: str, subject: str, reason: str) -> None:
        self.unchecked.append(Problem(check, subject, reason))

    @property
    def exit_code(self) -> int:
        return 3 if self.problems else 4 if self.unchecked else 0

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.exit_code == 0,
            "checked": dict(sorted(self.checked.items())),
            "problems": [vars(p) for p in self.problems],
            "unchecked": [vars(p) for p in self.unchecked],
        }
