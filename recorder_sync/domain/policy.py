"""Action-type policy and deadline settings: which enforcement actions must be
recorded, how strictly, and the time limits the deadline engine applies.

The municipal regulation on whole-process recording sorts actions into those that
must be recorded in full without interruption (seizure/impoundment, forced
demolition, detention, enforcement premises), those that should be recorded as
circumstances require (on-site inspection, evidence collection, hearings, service
by leaving or public notice) and the rest.  The policy is data, so an agency can extend or tighten it
in its configuration; ``DEFAULT_POLICY`` is what ships.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, timedelta, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from recorder_sync.domain.errors import ConfigError
from recorder_sync.domain.model import Severity


class Requirement(enum.StrEnum):
    FULL = "full"  # the whole action window must be covered by footage
    RECOMMENDED = "recommended"  # footage expected; its absence is flagged at lower severity
    NONE = "none"


@dataclass(frozen=True)
class ActionPolicy:
    """How one action type is treated.

    ``severity`` is the severity of the footage flags (missing footage, coverage
    gap) for actions of this type; ``grace`` is how long after the action ends the
    engine waits for footage to be docked and linked before calling it missing.
    """

    key: str
    requirement: Requirement
    label_zh: str
    label_en: str
    severity: Severity
    grace: timedelta

    @property
    def label(self) -> str:
        return f"{self.label_en} ({self.label_zh})"


@dataclass(frozen=True)
class DeadlineSettings:
    upload_deadline: timedelta = timedelta(hours=24)
    at_risk_lead: timedelta = timedelta(hours=6)
    coverage_tolerance: timedelta = timedelta(seconds=5)
    link_slack: timedelta = timedelta(minutes=2)
    undocked_after: timedelta = timedelta(hours=12)
    case_file_days: int = 30
    # Only used to write times in flag details and to cut report months/years; every
    # comparison is done on aware datetimes, so it never changes a decision.
    display_tz: tzinfo = field(default=UTC)

    @property
    def case_file_period(self) -> timedelta:
        return timedelta(days=self.case_file_days)


_DEFAULT_GRACE = timedelta(hours=24)


def _p(key: str, req: Requirement, zh: str, en: str, severity: Severity) -> ActionPolicy:
    return ActionPolicy(key, req, zh, en, severity, _DEFAULT_GRACE)


_F, _R, _N = Requirement.FULL, Requirement.RECOMMENDED, Requirement.NONE

# Grace defaults to the upload deadline: footage docked on time can take up to 24 h to
# reach the store, so calling it missing earlier would raise flags that resolve themselves.
DEFAULT_POLICY: Mapping[str, ActionPolicy] = {
    p.key: p
    for p in (
        _p("seizure", _F, "查封", "Seizure of property", Severity.HIGH),
        _p("impoundment", _F, "扣押", "Impoundment of property", Severity.HIGH),
        _p("forced_demolition", _F, "强制拆除", "Forced demolition", Severity.HIGH),
        _p("detention", _F, "扣留/行政拘留", "Detention", Severity.HIGH),
        _p("enforcement_premises", _F, "执法场所", "Enforcement premises", Severity.HIGH),
        _p("inspection", _R, "现场检查", "On-site inspection", Severity.LOW),
        _p("evidence_collection", _R, "调查取证", "Evidence collection", Severity.LOW),
        _p("hearing", _R, "听证", "Hearing", Severity.LOW),
        _p("service", _R, "送达", "Service (by leaving or by public notice)", Severity.LOW),
        _p("other", _N, "其他", "Other", Severity.INFO),
    )
}

_DEFAULT_SEVERITY = {_F: Severity.HIGH, _R: Severity.LOW, _N: Severity.INFO}
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_POLICY_FIELDS = ("requirement", "label_zh", "label_en", "severity", "grace_hours")


def full_action_types(policy: Mapping[str, ActionPolicy]) -> frozenset[str]:
    """The action types the policy wants filmed in full."""
    return frozenset(k for k, p in policy.items() if p.requirement is Requirement.FULL)


def policy_from_config(
    table: Mapping[str, Any],
    *,
    source: str = "configuration",
    section: str = "policy",
    base: Mapping[str, ActionPolicy] = DEFAULT_POLICY,
) -> dict[str, ActionPolicy]:
    """Build the policy from the ``[policy]`` table of a parsed TOML file.

    Each entry is a table named by the action-type key (``[policy.seizure]``)
    with ``requirement`` ('full' | 'recommended' | 'none'), ``label_zh``,
    ``label_en``, ``severity`` (info … critical) and ``grace_hours``.  Entries are
    laid over ``base``: a key already in ``base`` inherits every field it does not
    set; a new key must at least set ``requirement``.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(source, section, f"a table of action types, got {_kind(table)}")
    policy = dict(base)
    for key, entry in table.items():
        where = f"{section}.{key}"
        if not isinstance(key, str) or not _KEY.match(key):
            raise ConfigError(source, where, "an action-type key of lowercase letters, digits and '_'")
        if not isinstance(entry, Mapping):
            raise ConfigError(source, where, f"a table, got {_kind(entry)}")
        unknown = sorted(set(entry) - set(_POLICY_FIELDS))
        if unknown:
            raise ConfigError(source, f"{where}.{unknown[0]}", f"one of the keys {', '.join(_POLICY_FIELDS)}")
        inherited = base.get(key)
        if "requirement" in entry:
            requirement = _enum(Requirement, entry["requirement"], source, f"{where}.requirement")
        elif inherited is not None:
            requirement = inherited.requirement
        else:
            raise ConfigError(source, f"{where}.requirement", "'full', 'recommended' or 'none' (required)")
        if inherited is None:
            inherited = ActionPolicy(
                key, requirement, key, key, _DEFAULT_SEVERITY[requirement], _DEFAULT_GRACE
            )
        label_en = _text(entry, "label_en", inherited.label_en, source, where)
        label_zh = _text(entry, "label_zh", inherited.label_zh, source, where)
        severity = (
            _enum(Severity, entry["severity"], source, f"{where}.severity")
            if "severity" in entry
            else inherited.severity
        )
        grace = (
            timedelta(hours=_number(entry["grace_hours"], source, f"{where}.grace_hours", MAX_HOURS, "h"))
            if "grace_hours" in entry
            else inherited.grace
        )
        policy[key] = replace(
            inherited,
            requirement=requirement,
            label_en=label_en,
            label_zh=label_zh,
            severity=severity,
            grace=grace,
        )
    return policy


_SETTINGS_FIELDS = {
    "upload_deadline_hours": ("upload_deadline", "hours"),
    "at_risk_lead_hours": ("at_risk_lead", "hours"),
    "coverage_tolerance_seconds": ("coverage_tolerance", "seconds"),
    "link_slack_seconds": ("link_slack", "seconds"),
    "undocked_after_hours": ("undocked_after", "hours"),
}
# Upper bounds far beyond any real rule, low enough that no period overflows timedelta
# (1e12 hours would end in OverflowError, a traceback, instead of a configuration error).
MAX_HOURS = 8760.0  # a year
MAX_SECONDS = 86400.0  # a day: a tolerance or a slack, not a deadline
MAX_CASE_FILE_DAYS = 3650


def settings_from_config(
    table: Mapping[str, Any], *, source: str = "configuration", section: str = "deadlines"
) -> DeadlineSettings:
    """Build the settings from the ``[deadlines]`` table of a parsed TOML file.

    Keys: ``upload_deadline_hours``, ``at_risk_lead_hours``,
    ``coverage_tolerance_seconds``, ``link_slack_seconds``, ``undocked_after_hours``,
    ``case_file_days`` (integer) and ``timezone`` (IANA name, e.g. 'Asia/Shanghai',
    for display and report months).  Missing keys keep their defaults.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(source, section, f"a table, got {_kind(table)}")
    known = [*_SETTINGS_FIELDS, "case_file_days", "timezone"]
    values: dict[str, Any] = {}
    for key, raw in table.items():
        where = f"{section}.{key}"
        if key in _SETTINGS_FIELDS:
            attr, unit = _SETTINGS_FIELDS[key]
            high, short = (MAX_HOURS, "h") if unit == "hours" else (MAX_SECONDS, "s")
            values[attr] = timedelta(**{unit: _number(raw, source, where, high, short)})
        elif key == "case_file_days":
            if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_CASE_FILE_DAYS:
                raise ConfigError(
                    source, where, f"a whole number of days >= 1 and <= {MAX_CASE_FILE_DAYS}, got {raw!r}"
                )
            values["case_file_days"] = raw
        elif key == "timezone":
            if not isinstance(raw, str):
                raise ConfigError(
                    source, where, f"an IANA time-zone name such as 'Asia/Shanghai', got {raw!r}"
                )
            try:
                values["display_tz"] = ZoneInfo(raw)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(source, where, f"a known IANA time-zone name, got {raw!r}") from None
        else:
            raise ConfigError(source, where, f"one of the keys {', '.join(known)}")
    settings = DeadlineSettings(**values)
    if settings.upload_deadline <= timedelta(0):
        raise ConfigError(source, f"{section}.upload_deadline_hours", "a number of hours > 0")
    if settings.at_risk_lead > settings.upload_deadline:
        raise ConfigError(
            source,
            f"{section}.at_risk_lead_hours",
            "at most upload_deadline_hours (a warning before the deadline)",
        )
    return settings


def _kind(value: object) -> str:
    return type(value).__name__


def _text(entry: Mapping[str, Any], name: str, default: str, source: str, where: str) -> str:
    if name not in entry:
        return default
    value = entry[name]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(source, f"{where}.{name}", f"a non-empty string, got {value!r}")
    return value.strip()


def _number(value: object, source: str, where: str, high: float, unit: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= high
    ):
        raise ConfigError(source, where, f"a number >= 0 and <= {high:g} {unit}, got {value!r}")
    return float(value)


_S = TypeVar("_S", bound=enum.StrEnum)


def _enum(cls: type[_S], value: object, source: str, where: str) -> _S:
    choices = ", ".join(f"'{m.value}'" for m in cls)
    if not isinstance(value, str):
        raise ConfigError(source, where, f"one of {choices}, got {value!r}")
    try:
        return cls(value.strip().lower())
    except ValueError:
        raise ConfigError(source, where, f"one of {choices}, got {value!r}") from None
