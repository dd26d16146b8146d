"""Import of enforcement actions and the device checkout ledger (pure: text in, values out)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from recorder_sync.domain.cases import (
    ACTION_COLUMNS,
    Action,
    Checkout,
    parse_action_record,
    parse_actions_csv,
    parse_actions_json,
    parse_checkouts_csv,
    parse_checkouts_json,
)
from recorder_sync.domain.errors import Error, ImportRejected
from recorder_sync.domain.policy import DEFAULT_POLICY
from recorder_sync.domain.times import parse_strict

HEADER = ",".join(ACTION_COLUMNS)
CST = timezone(timedelta(hours=8))


def problems_of(exc: ImportRejected) -> set[tuple[int | None, str | None]]:
    return {(p.row, p.column) for p in exc.problems}


def why(exc: ImportRejected, row: int | None, column: str | None) -> str:
    [found] = [p for p in exc.problems if p.row == row and p.column == column]
    return found.why


# --- times ------------------------------------------------------------------------------


def test_parse_time_accepts_offset_and_z_and_normalises_to_utc() -> None:
    assert parse_strict("2026-11-27T08:30:00+08:00") == datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
    assert parse_strict("2026-11-27T00:30:00Z") == datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
    assert parse_strict(" 2026-11-27T00:30:00.250Z ").microsecond == 250000
    assert parse_strict("2026-11-27T08:30:00+08:00").tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2026-11-27T08:30:00", "no UTC offset"),
        ("2026-11-27 08:30", "no UTC offset"),
        ("2026-11-27", "not an ISO 8601 date and time"),
        ("27/11/2026 08:30", "not an ISO 8601"),
        ("yesterday", "not an ISO 8601"),
    ],
)
def test_parse_time_refuses_times_without_offset_or_garbage(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_strict(text)


def test_domain_values_refuse_naive_times_and_store_utc() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Action("C", "A", "seizure", "U", ("O1",), datetime(2026, 1, 1), datetime(2026, 1, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        Checkout("D", "O", datetime(2026, 1, 1))
    action = Action(
        "C",
        "A",
        "seizure",
        "U",
        ("O1",),
        datetime(2026, 1, 1, 8, tzinfo=CST),
        datetime(2026, 1, 1, 9, tzinfo=CST),
    )
    assert action.start.tzinfo is UTC and action.start.hour == 0


# --- actions CSV ---------------------------------------------------------------------------


GOOD_CSV = f"""{HEADER}
C-2026-001,A1,seizure,Fengtai squad 1,0101;0102,2026-11-27T08:30:00+08:00,2026-11-27T10:00:00+08:00,\
T91,Acme Trading Ltd,12 Market Road
C-2026-002,A2,inspection,Fengtai squad 2, 0103 ; ,2026-11-27T02:00:00Z,2026-11-27T03:00:00Z,,,
"""


def test_actions_csv_parses_times_officers_and_optional_fields() -> None:
    a1, a2 = parse_actions_csv(GOOD_CSV, DEFAULT_POLICY)
    assert a1 == Action(
        "C-2026-001",
        "A1",
        "seizure",
        "Fengtai squad 1",
        ("0101", "0102"),
        datetime(2026, 11, 27, 0, 30, tzinfo=UTC),
        datetime(2026, 11, 27, 2, 0, tzinfo=UTC),
        "T91",
        "Acme Trading Ltd",
        "12 Market Road",
    )
    assert a2.officers == ("0103",)
    assert (a2.target_id, a2.target_name, a2.place) == ("", "", "")
    assert a2.start == datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def test_action_record_round_trips_through_csv_and_json() -> None:
    actions = parse_actions_csv(GOOD_CSV, DEFAULT_POLICY)
    rows = [a.as_record() for a in actions]
    csv_text = HEADER + "\n" + "\n".join(",".join(r[c] for c in ACTION_COLUMNS) for r in rows) + "\n"
    assert parse_actions_csv(csv_text, DEFAULT_POLICY) == actions
    assert parse_actions_json(json.dumps(rows), DEFAULT_POLICY) == actions


def test_actions_csv_accepts_bom_crlf_blank_lines_and_quoted_fields() -> None:
    text = (
        "\ufeff"
        + HEADER
        + "\r\n\r\n"
        + 'C1,A1,hearing,U,"0101;0102",2026-01-01T09:00:00Z,2026-01-01T10:00:00Z,'
        + 'T,"Li, Wei","Room 3\nBuilding 2"\r\n'
    )
    [action] = parse_actions_csv(text, DEFAULT_POLICY)
    assert action.target_name == "Li, Wei"
    assert action.place == "Room 3\nBuilding 2"


def test_bad_actions_csv_is_rejected_with_every_problem_listed() -> None:
    text = f"""{HEADER}
C1,A1,seizure,U1,0101,2026-11-27T08:30:00+08:00,2026-11-27T10:00:00+08:00,T,N,P
C1,A1,seizure,U1,0101,2026-11-27T11:00:00+08:00,2026-11-27T12:00:00+08:00,T,N,P
C2,A3,seizur,U1,0101,2026-11-27T08:30:00,2026-11-27T10:00:00+08:00,T,N,P
,A4,inspection,,;,2026-11-27T10:00:00+08:00,2026-11-27T09:00:00+08:00,T,N,P
C5,A5,hearing,U1,0101,2026-11-27T10:00:00+08:00,2026-11-27T11:00:00+08:00
C6,A6,service,U1,0101,not-a-time,,T,N,P
"""
    with pytest.raises(ImportRejected) as caught:
        parse_actions_csv(text, DEFAULT_POLICY, source="actions.csv")
    exc = caught.value
    assert problems_of(exc) == {
        (2, "action_id"),  # duplicate
        (3, "action_type"),  # unknown
        (3, "start"),  # no offset
        (4, "case_id"),  # empty
        (4, "unit"),  # empty
        (4, "officers"),  # only separators
        (4, "end"),  # before start
        (5, None),  # wrong number of fields
        (6, "start"),  # garbage
        (6, "end"),  # empty
    }
    assert len(exc.problems) == 10
    assert "first on row 1" in why(exc, 2, "action_id")
    assert "unknown action type" in why(exc, 3, "action_type") and "seizure" in why(exc, 3, "action_type")
    assert "no UTC offset" in why(exc, 3, "start")
    assert "required" in why(exc, 4, "case_id")
    assert "no officers" in why(exc, 4, "officers")
    assert "before start" in why(exc, 4, "end")
    assert "7 fields" in why(exc, 5, None)
    # value and CSV line are carried as structured data, and shown in the message
    bad_start = next(p for p in exc.problems if (p.row, p.column) == (3, "start"))
    assert bad_start.value == "2026-11-27T08:30:00" and bad_start.line == 4
    message = str(exc)
    assert message.startswith("Import of actions.csv rejected, nothing imported; 10 problem(s)")
    assert "row 3 (line 4), column 'action_type'" in message and "'seizur'" in message
    assert isinstance(exc, Error) and exc.exit_code == 2


def test_header_problems_are_reported_once_not_again_on_every_row() -> None:
    text = "case_id,action_id,action_type,unit,officers,start,end,target_id,target,place,place\n"
    text += "C1,A1,seizure,U,0101,2026-01-01T09:00:00Z,2026-01-01T10:00:00Z,T,N,P,P\n"
    text += "C1,A2,seizure,U,0101,2026-01-01T09:00:00Z,2026-01-01T10:00:00Z,T,N,P,P\n"
    with pytest.raises(ImportRejected) as caught:
        parse_actions_csv(text, DEFAULT_POLICY)
    assert [(p.row, p.column, p.why.split(";")[0]) for p in caught.value.problems] == [
        (None, "target", "unknown column"),
        (None, "place", "duplicate column"),
        (None, "target_name", "missing column"),
    ]


def test_empty_file_is_rejected() -> None:
    with pytest.raises(ImportRejected, match="empty file"):
        parse_actions_csv("\n\n", DEFAULT_POLICY)


def test_action_types_come_from_the_policy() -> None:
    text = f"{HEADER}\nC1,A1,night_patrol,U,0101,2026-01-01T09:00:00Z,2026-01-01T10:00:00Z,,,\n"
    with pytest.raises(ImportRejected, match="unknown action type"):
        parse_actions_csv(text, DEFAULT_POLICY)
    [action] = parse_actions_csv(text, {"night_patrol"})
    assert action.action_type == "night_patrol"


def test_action_crossing_midnight_and_zero_length_are_accepted() -> None:
    text = (
        f"{HEADER}\n"
        "C1,A1,detention,U,0101,2026-11-27T23:30:00+08:00,2026-11-28T01:15:00+08:00,,,\n"
        "C1,A2,service,U,0101,2026-11-28T09:00:00+08:00,2026-11-28T09:00:00+08:00,,,\n"
    )
    a1, a2 = parse_actions_csv(text, DEFAULT_POLICY)
    assert a1.end - a1.start == timedelta(hours=1, minutes=45)
    assert a1.start.date().isoformat() == "2026-11-27" and a1.end.date().isoformat() == "2026-11-27"  # UTC
    assert a2.start == a2.end


# --- actions JSON ---------------------------------------------------------------------------


def test_actions_json_accepts_officers_as_list_or_string_and_omitted_optional_keys() -> None:
    data = [
        {
            "case_id": "C1",
            "action_id": "A1",
            "action_type": "impoundment",
            "unit": "U",
            "officers": ["0101", "0102"],
            "start": "2026-11-27T08:30:00+08:00",
            "end": "2026-11-27T09:30:00+08:00",
            "target_id": "T1",
            "target_name": None,
        },
        {
            "case_id": "C1",
            "action_id": "A2",
            "action_type": "hearing",
            "unit": "U",
            "officers": "0101;0103",
            "start": "2026-11-28T01:00:00Z",
            "end": "2026-11-28T02:00:00Z",
        },
    ]
    a1, a2 = parse_actions_json(json.dumps(data, ensure_ascii=False), DEFAULT_POLICY)
    assert a1.officers == ("0101", "0102") and a1.target_name == "" and a1.place == ""
    assert a2.officers == ("0101", "0103")


def test_bad_actions_json_lists_every_problem() -> None:
    data: list[object] = [
        {
            "case_id": 7,
            "action_id": "A1",
            "action_type": "seizure",
            "officers": [],
            "start": "2026-11-27T08:30:00+08:00",
            "end": "2026-11-27T09:30:00+08:00",
            "colour": "red",
        },
        "not an object",
        {
            "case_id": "C1",
            "action_id": "A1",
            "action_type": "seizure",
            "unit": "U",
            "officers": ["0101", 5],
            "start": "2026-11-27T08:30:00+08:00",
            "end": "2026-11-27T07:30:00+08:00",
        },
    ]
    with pytest.raises(ImportRejected) as caught:
        parse_actions_json(json.dumps(data), DEFAULT_POLICY)
    exc = caught.value
    assert problems_of(exc) == {
        (1, "case_id"),  # not text
        (1, "unit"),  # missing key (reported once, not also as empty)
        (1, "officers"),  # empty list
        (1, "colour"),  # unknown key
        (2, None),  # not an object
        (3, "action_id"),  # duplicate
        (3, "officers"),  # a number in the list
        (3, "end"),  # before start
    }
    assert why(exc, 1, "unit") == "missing key"
    assert "expected text, got a number" in why(exc, 1, "case_id")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("{not json", "not valid JSON"), ('{"actions": []}', "expected a JSON list"), ("", "not valid JSON")],
)
def test_actions_json_that_is_not_a_list_is_rejected(text: str, fragment: str) -> None:
    with pytest.raises(ImportRejected, match=fragment):
        parse_actions_json(text, DEFAULT_POLICY)


def test_single_action_record_for_the_cli() -> None:
    record = {
        "case_id": "C9",
        "action_id": "A9",
        "action_type": "forced_demolition",
        "unit": "U",
        "officers": "0101;0102",
        "start": "2026-11-27T08:30:00+08:00",
        "end": "2026-11-27T12:00:00+08:00",
        "place": "Lot 4",
    }
    action = parse_action_record(record, DEFAULT_POLICY)
    assert action.action_type == "forced_demolition" and action.place == "Lot 4"
    with pytest.raises(ImportRejected) as caught:
        parse_action_record({**record, "start": "2026-11-27T08:30:00"}, DEFAULT_POLICY)
    assert problems_of(caught.value) == {(1, "start")}


# --- ledger -------------------------------------------------------------------------------


def test_ledger_csv_parses_open_and_closed_checkouts() -> None:
    text = (
        "device,officer,start,end\n"
        "CAM-01,0101,2026-11-27T07:45:00+08:00,2026-11-27T18:10:00+08:00\n"
        "CAM-02,0102,2026-11-27T07:50:00+08:00,\n"
    )
    c1, c2 = parse_checkouts_csv(text)
    assert c1 == Checkout(
        "CAM-01",
        "0101",
        datetime(2026, 11, 26, 23, 45, tzinfo=UTC),
        datetime(2026, 11, 27, 10, 10, tzinfo=UTC),
    )
    assert c2.end is None
    assert parse_checkouts_json(json.dumps([c.as_record() for c in (c1, c2)])) == [c1, c2]


def test_bad_ledger_lists_every_problem() -> None:
    text = (
        "device,officer,start,end,note\n"
        "CAM-01,,2026-11-27T07:45:00+08:00,2026-11-27T06:00:00+08:00,x\n"
        "CAM-01,0102,2026-11-27T07:45:00+08:00,,x\n"
        "CAM-03,0103,2026-11-27 07:45,,x\n"
    )
    with pytest.raises(ImportRejected) as caught:
        parse_checkouts_csv(text, source="ledger.csv")
    exc = caught.value
    assert problems_of(exc) == {(None, "note"), (1, "officer"), (1, "end"), (2, "start"), (3, "start")}
    assert "duplicate checkout of CAM-01 (first on row 1)" in why(exc, 2, "start")
    assert "no UTC offset" in why(exc, 3, "start")


def test_ledger_json_requires_device_officer_start() -> None:
    with pytest.raises(ImportRejected) as caught:
        parse_checkouts_json(json.dumps([{"device": "CAM-01", "start": "2026-11-27T07:45:00Z"}]))
    assert [(p.row, p.column, p.why) for p in caught.value.problems] == [(1, "officer", "missing key")]


# --- implausible times and hostile JSON (issue 7, items 10 and 19) ---------------------

GOOD_RECORD = {
    "case_id": "C1",
    "action_id": "A1",
    "action_type": "seizure",
    "unit": "U",
    "officers": "001",
    "start": "2026-11-27T08:00:00+08:00",
    "end": "2026-11-27T09:00:00+08:00",
}


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("end", "9999-12-31T23:00:00Z"),  # end + 24 h overflows in the deadline engine
        ("start", "0001-01-01T00:00:00+01:00"),  # has no UTC reading at all
        ("start", "1999-12-31T23:59:59Z"),
        ("end", "2100-01-01T00:00:01Z"),
    ],
)
def test_times_outside_the_plausible_range_are_refused_with_row_and_column(column: str, value: str) -> None:
    record = GOOD_RECORD | {column: value}
    text = HEADER + "\n" + ",".join(record.get(c, "") for c in ACTION_COLUMNS) + "\n"
    for parse in (
        lambda: parse_actions_csv(text, DEFAULT_POLICY),
        lambda: parse_actions_json(json.dumps([record]), DEFAULT_POLICY),
    ):
        with pytest.raises(ImportRejected) as caught:
            parse()
        assert caught.value.exit_code == 2
        [problem] = caught.value.problems
        assert (problem.row, problem.column, problem.value) == (1, column, value)
        assert "outside the plausible range 2000-01-01 to 2100-01-01" in problem.why


def test_ledger_times_outside_the_plausible_range_are_refused() -> None:
    text = "device,officer,start,end\nCAM1,001,2026-11-27T08:00:00Z,9999-12-31T23:59:59-10:00\n"
    with pytest.raises(ImportRejected) as caught:
        parse_checkouts_csv(text)
    assert problems_of(caught.value) == {(1, "end")}
    assert "plausible range" in why(caught.value, 1, "end")


def test_plausible_bounds_themselves_are_accepted() -> None:
    assert parse_strict("2000-01-01T00:00:00Z", plausible=True) == datetime(2000, 1, 1, tzinfo=UTC)
    assert parse_strict("2100-01-01T00:00:00Z", plausible=True) == datetime(2100, 1, 1, tzinfo=UTC)
    # stored times are read back without the bound, and never raise OverflowError
    assert parse_strict("1970-01-01T00:00:00Z").year == 1970
    with pytest.raises(ValueError, match="plausible range"):
        parse_strict("0001-01-01T00:00:00+01:00")


@pytest.mark.parametrize("depth", [100_000, 990])
def test_deeply_nested_actions_json_is_an_import_error_not_a_crash(depth: int) -> None:
    nested = "[" * depth + "]" * depth
    for text in (nested, '[{"case_id": ' + nested + "}]"):
        with pytest.raises(ImportRejected) as caught:
            parse_actions_json(text, DEFAULT_POLICY)
        assert caught.value.exit_code == 2
        assert caught.value.problems
        assert len(str(caught.value)) < 5000


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        ("action_id", "A1\u0000", "control character U+0000"),
        ("unit", "U\ud800", "unpaired surrogate U+D800"),
        ("place", "Market Rd\x1b[2J", "control character U+001B"),
        ("target_name", "Acme\x7f", "control character U+007F"),
        ("officers", "001;0\u001b[31m2", "control character U+001B"),
    ],
)
def test_control_characters_and_broken_unicode_in_import_rows_are_refused(
    column: str, value: str, fragment: str
) -> None:
    """PostgreSQL refuses NUL, no database encodes a lone surrogate: both ended imports
    with a traceback; an escape sequence would rewrite the operator's terminal."""
    record = GOOD_RECORD | {column: value}
    with pytest.raises(ImportRejected) as caught:
        parse_actions_json(json.dumps([record]), DEFAULT_POLICY)
    assert problems_of(caught.value) == {(1, column)}
    assert "\x1b" not in str(caught.value) and "\x00" not in str(caught.value)
    assert fragment in why(caught.value, 1, column)
    str(caught.value).encode("utf-8")  # the message itself can be printed
