"""Enforcement actions and the device checkout ledger, and their import formats.

Import files come from the case-management system as CSV or JSON.  They are
parsed here from their text (the caller reads the file) and validated as a
whole: a file with any problem is rejected with *every* problem listed, so the
sender can fix it in one round and nothing is half-imported.

Actions CSV header (JSON: a list of objects with the same keys)::

    case_id,action_id,action_type,unit,officers,start,end,target_id,target_name,place

``officers`` are officer numbers separated by ``;`` (JSON: the same string or a
list of strings); times are ISO 8601 with a UTC offset (``+08:00`` or ``Z``).
``target_id``, ``target_name`` and ``place`` may be empty; every other field is
required.

Ledger CSV header (JSON likewise)::

    device,officer,start,end

``end`` may be empty while the device is still checked out.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recorder_sync.domain.errors import ImportRejected
from recorder_sync.domain.times import parse_strict, utc_z

ImportProblem = ImportRejected.Problem

ACTION_COLUMNS: tuple[str, ...] = (
    "case_id",
    "action_id",
    "action_type",
    "unit",
    "officers",
    "start",
    "end",
    "target_id",
    "target_name",
    "place",
)
ACTION_OPTIONAL = frozenset({"target_id", "target_name", "place"})
CHECKOUT_COLUMNS: tuple[str, ...] = ("device", "officer", "start", "end")
CHECKOUT_OPTIONAL = frozenset({"end"})


def require_aware(name: str, value: datetime | None) -> None:
    """Domain times are aware; a naive one is a programming error, not bad input."""
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


def _normalise_times(value: object) -> None:
    for name in ("start", "end"):
        time: datetime | None = getattr(value, name)
        require_aware(name, time)
        if time is not None and time.tzinfo is not UTC:
            object.__setattr__(value, name, time.astimezone(UTC))  # frozen: set once, at construction


@dataclass(frozen=True)
class Action:
    """One enforcement action of a case.  Times are aware and normalised to UTC."""

    case_id: str
    action_id: str
    action_type: str
    unit: str
    officers: tuple[str, ...]
    start: datetime
    end: datetime
    target_id: str = ""
    target_name: str = ""
    place: str = ""

    def __post_init__(self) -> None:
        _normalise_times(self)

    def as_record(self) -> dict[str, str]:
        """The action as an import record (CSV row / JSON object); parses back to an equal Action."""
        return {
            "case_id": self.case_id,
            "action_id": self.action_id,
            "action_type": self.action_type,
            "unit": self.unit,
            "officers": ";".join(self.officers),
            "start": utc_z(self.start),
            "end": utc_z(self.end),
            "target_id": self.target_id,
            "target_name": self.target_name,
            "place": self.place,
        }


@dataclass(frozen=True)
class Checkout:
    """A line of the device-use ledger: ``officer`` had ``device`` from ``start`` to
    ``end`` (None while it is still out).  Times are aware and normalised to UTC."""

    device: str
    officer: str
    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        _normalise_times(self)

    def as_record(self) -> dict[str, str]:
        return {
            "device": self.device,
            "officer": self.officer,
            "start": utc_z(self.start),
            "end": "" if self.end is None else utc_z(self.end),
        }


def unprintable(value: str) -> str | None:
    """Why text cannot be stored or shown as it is (a control character such as NUL, which
    PostgreSQL refuses, or ESC, or half of a UTF-16 pair, which no database can encode), or
    None.  Line breaks and tabs are text (a multi-line place); output escapes them."""
    for char in value:
        code = ord(char)
        if (code < 0x20 and char not in "\t\n\r") or 0x7F <= code < 0xA0:
            return f"contains the control character U+{code:04X}"
        if 0xD800 <= code < 0xE000:
            return f"contains an unpaired surrogate U+{code:04X} (not valid Unicode)"
    return None


# Import records and option values use the one time vocabulary (``times``); the old names
# stay for callers not yet moved.


# --- generic record validation --------------------------------------------------

_Record = Mapping[str, Any]


@dataclass(frozen=True)
class _Framed:
    """A data record as framed from the file, before its fields are checked."""

    row: int
    line: int | None
    fields: _Record | None  # None when the record's shape was already reported as wrong
    absent: frozenset[str] = frozenset()  # columns whose absence was already reported


class _RowCheck:
    """Collects the problems of one record while its fields are read."""

    def __init__(self, framed: _Framed, problems: list[ImportProblem]) -> None:
        self.row = framed.row
        self.line = framed.line
        self.record: _Record = framed.fields or {}
        self.absent = framed.absent
        self.problems = problems
        self.ok = True

    def problem(self, column: str | None, value: object, why: str) -> None:
        self.ok = False
        shown = None if value is None else _shown(value)
        self.problems.append(ImportProblem(self.row, column, shown, why, self.line))

    def raw(self, column: str) -> object:
        return self.record.get(column)

    def text(self, column: str, required: bool) -> str:
        if column in self.absent:
            self.ok = self.ok and not required
            return ""
        value = self.record.get(column)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.problem(column, value, f"expected text, got {_json_kind(value)}")
            return ""
        value = value.strip()
        if required and not value:
            self.problem(column, None, "required field is empty")
        why = unprintable(value)
        if why is not None:
            self.problem(column, value, why)
            return ""
        return value

    def time(self, column: str, required: bool) -> datetime | None:
        raw = self.text(column, required)
        if not raw:
            return None
        try:
            return parse_strict(raw, plausible=True)
        except ValueError as exc:
            self.problem(column, raw, str(exc))
            return None


def _build_action(check: _RowCheck, action_types: Collection[str], seen: dict[str, int]) -> Action | None:
    case_id = check.text("case_id", True)
    action_id = check.text("action_id", True)
    if action_id:
        if action_id in seen:
            check.problem("action_id", action_id, f"duplicate action_id (first on row {seen[action_id]})")
        else:
            seen[action_id] = check.row
    action_type = check.text("action_type", True)
    if action_type and action_type not in action_types:
        known = ", ".join(sorted(action_types))
        check.problem("action_type", action_type, f"unknown action type; known: {known}")
    unit = check.text("unit", True)
    officers = _officers(check)
    start = check.time("start", True)
    end = check.time("end", True)
    if start is not None and end is not None and end < start:
        check.problem("end", check.raw("end"), f"end is before start ({utc_z(start)})")
    target_id = check.text("target_id", False)
    target_name = check.text("target_name", False)
    place = check.text("place", False)
    if not check.ok or start is None or end is None:
        return None
    return Action(case_id, action_id, action_type, unit, officers, start, end, target_id, target_name, place)


def _officers(check: _RowCheck) -> tuple[str, ...]:
    if "officers" in check.absent:
        check.ok = False
        return ()
    raw = check.raw("officers")
    items: list[object]
    if raw is None:
        items = []
    elif isinstance(raw, str):
        items = list(raw.split(";"))
    elif isinstance(raw, list):
        items = list(raw)
    else:
        check.problem("officers", raw, "expected officer numbers separated by ';' (or a JSON list of them)")
        return ()
    officers: list[str] = []
    for item in items:
        if not isinstance(item, str):
            check.problem("officers", item, "an officer number must be text")
            continue
        number = item.strip()
        why = unprintable(number)
        if why is not None:
            check.problem("officers", number, why)
            continue
        if number and number not in officers:
            officers.append(number)
    if not officers:
        check.problem("officers", raw or None, "no officers listed")
    return tuple(officers)


def _build_checkout(check: _RowCheck, seen: dict[tuple[str, datetime], int]) -> Checkout | None:
    device = check.text("device", True)
    officer = check.text("officer", True)
    start = check.time("start", True)
    end = check.time("end", False)
    if start is not None and end is not None and end < start:
        check.problem("end", check.raw("end"), f"end is before start ({utc_z(start)})")
    if device and start is not None:
        key = (device, start)
        if key in seen:
            check.problem(
                "start", check.raw("start"), f"duplicate checkout of {device} (first on row {seen[key]})"
            )
        else:
            seen[key] = check.row
    if not check.ok or start is None:
        return None
    return Checkout(device, officer, start, end)


# --- CSV and JSON framing -------------------------------------------------------


def _csv_records(text: str, columns: Sequence[str], problems: list[ImportProblem]) -> list[_Framed]:
    """Frame each data row; header and row-shape problems go to ``problems``."""
    text = text.removeprefix("\ufeff")  # spreadsheets save UTF-8 with a byte-order mark
    reader = csv.reader(io.StringIO(text, newline=""))
    out: list[_Framed] = []
    header: list[str] | None = None
    absent: frozenset[str] = frozenset()
    try:
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue  # blank line
            if header is None:
                header = [f.strip() for f in fields]
                absent = _check_header(header, columns, problems)
                continue
            # line_num is where the record ended; quoted fields may span lines.
            line = reader.line_num - sum(f.count("\n") for f in fields)
            row = len(out) + 1
            if len(fields) != len(header):
                why = f"row has {len(fields)} fields, the header has {len(header)}"
                problems.append(ImportProblem(row, None, None, why, line))
                out.append(_Framed(row, line, None))
                continue
            record = {name: value for name, value in zip(header, fields, strict=True) if name in columns}
            out.append(_Framed(row, line, record, absent))
    except csv.Error as exc:
        problems.append(ImportProblem(len(out) + 1, None, None, f"unreadable CSV: {exc}", reader.line_num))
        return out
    if header is None:
        problems.append(
            ImportProblem(None, None, None, f"empty file; expected the header {','.join(columns)}")
        )
    return out


def _check_header(
    header: Sequence[str], columns: Sequence[str], problems: list[ImportProblem]
) -> frozenset[str]:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(ImportProblem(None, name, None, "duplicate column", 1))
        elif name not in columns:
            problems.append(
                ImportProblem(None, name, None, f"unknown column; expected {','.join(columns)}", 1)
            )
        seen.add(name)
    missing = [name for name in columns if name not in seen]
    for name in missing:
        problems.append(ImportProblem(None, name, None, "missing column", 1))
    return frozenset(missing)


def _json_records(
    text: str, columns: Sequence[str], optional: Collection[str], problems: list[ImportProblem]
) -> list[_Framed]:
    try:
        data = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        why = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        problems.append(ImportProblem(None, None, None, why))
        return []
    except RecursionError:
        why = "JSON nested too deeply (expected a list of flat objects)"
        problems.append(ImportProblem(None, None, None, why))
        return []
    if not isinstance(data, list):
        why = f"expected a JSON list of objects, got {_json_kind(data)}"
        problems.append(ImportProblem(None, None, None, why))
        return []
    return [_mapping_record(index + 1, item, columns, optional, problems) for index, item in enumerate(data)]


def _mapping_record(
    row: int, item: object, columns: Sequence[str], optional: Collection[str], problems: list[ImportProblem]
) -> _Framed:
    if not isinstance(item, Mapping):
        problems.append(ImportProblem(row, None, None, f"expected an object, got {_json_kind(item)}"))
        return _Framed(row, None, None)
    for key in item:
        if key not in columns:
            problems.append(ImportProblem(row, str(key), None, f"unknown key; expected {','.join(columns)}"))
    absent = frozenset(key for key in columns if key not in item)
    for key in columns:
        if key in absent and key not in optional:
            problems.append(ImportProblem(row, key, None, "missing key"))
    return _Framed(row, None, item, absent)


def _shown(value: object, limit: int = 200) -> str:
    """A bad value as text for the error message: a hostile file's value can be huge, or
    nested nearly as deep as the JSON parser allows (too deep to print)."""
    try:
        text = str(value)
    except RecursionError:
        return f"({_json_kind(value)} nested too deeply to show)"
    return text if len(text) <= limit else text[:limit] + "…"


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _finish(source: str, problems: list[ImportProblem]) -> None:
    if problems:
        # Stable: whole-file problems first, then by row, each row's in the order found.
        problems.sort(key=lambda p: 0 if p.row is None else p.row)
        raise ImportRejected(source, problems)


def _parse_actions(
    records: Iterable[_Framed], policy: Collection[str], problems: list[ImportProblem]
) -> list[Action]:
    seen: dict[str, int] = {}
    actions: list[Action] = []
    for framed in records:
        if framed.fields is None:
            continue  # its shape was already reported
        action = _build_action(_RowCheck(framed, problems), policy, seen)
        if action is not None:
            actions.append(action)
    return actions


def _parse_checkouts(records: Iterable[_Framed], problems: list[ImportProblem]) -> list[Checkout]:
    seen: dict[tuple[str, datetime], int] = {}
    checkouts: list[Checkout] = []
    for framed in records:
        if framed.fields is None:
            continue
        checkout = _build_checkout(_RowCheck(framed, problems), seen)
        if checkout is not None:
            checkouts.append(checkout)
    return checkouts


# --- public parsers ---------------------------------------------------------------


def parse_actions_csv(text: str, policy: Collection[str], *, source: str = "actions CSV") -> list[Action]:
    """Parse an actions CSV; ``policy`` is the action-type policy (or just its keys).

    Raises ``ImportRejected`` listing every problem when anything is wrong.
    """
    problems: list[ImportProblem] = []
    actions = _parse_actions(_csv_records(text, ACTION_COLUMNS, problems), policy, problems)
    _finish(source, problems)
    return actions


def parse_actions_json(text: str, policy: Collection[str], *, source: str = "actions JSON") -> list[Action]:
    """Parse an actions JSON list of objects; see ``parse_actions_csv``."""
    problems: list[ImportProblem] = []
    actions = _parse_actions(_json_records(text, ACTION_COLUMNS, ACTION_OPTIONAL, problems), policy, problems)
    _finish(source, problems)
    return actions


def parse_action_record(
    record: Mapping[str, Any], policy: Collection[str], *, source: str = "action"
) -> Action:
    """One action from a mapping of the import keys (e.g. ``case add`` on the CLI);
    the same checks as a file import, raising ``ImportRejected``."""
    problems: list[ImportProblem] = []
    framed = _mapping_record(1, record, ACTION_COLUMNS, ACTION_OPTIONAL, problems)
    actions = _parse_actions([framed], policy, problems)
    _finish(source, problems)
    return actions[0]


def parse_checkouts_csv(text: str, *, source: str = "ledger CSV") -> list[Checkout]:
    """Parse a device checkout ledger CSV; raises ``ImportRejected`` listing every problem."""
    problems: list[ImportProblem] = []
    checkouts = _parse_checkouts(_csv_records(text, CHECKOUT_COLUMNS, problems), problems)
    _finish(source, problems)
    return checkouts


def parse_checkouts_json(text: str, *, source: str = "ledger JSON") -> list[Checkout]:
    """Parse a device checkout ledger JSON list of objects; see ``parse_checkouts_csv``."""
    problems: list[ImportProblem] = []
    checkouts = _parse_checkouts(_json_records(text, CHECKOUT_COLUMNS, CHECKOUT_OPTIONAL, problems), problems)
    _finish(source, problems)
    return checkouts


# --- what the case stores take and give ------------------------------------------


@dataclass(frozen=True)
class ImportOutcome:
    """What an import did: ids (or ledger subjects) added and changed, and how many lines
    were already stored as they are."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: int = 0


@dataclass(frozen=True)
class ActionQuery:
    """Which actions to list; every field given must match."""

    case_id: str | None = None
    action_id: str | None = None
    officer: str | None = None
    target: str | None = None  # party id or name
    device: str | None = None  # actions with footage from this device
