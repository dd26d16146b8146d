"""The replay roster: its import rules and the rights of each role (pure, no I/O)."""

from __future__ import annotations

import pytest

from recorder_sync.domain.errors import AccessRefused, ImportRejected
from recorder_sync.domain.roster import Role, RosterEntry, authorize, entry_for, may_see, parse_roster_csv

GOOD = (
    "user,officer,role,unit\nchen,,supervisor,Unit 1\nli@station-2,031245,officer,Unit 1\naudit,,auditor,\n"
)


def test_a_good_roster_parses_with_each_role() -> None:
    entries = parse_roster_csv(GOOD)
    assert entries == [
        RosterEntry("chen", Role.SUPERVISOR, "", "Unit 1"),
        RosterEntry("li@station-2", Role.OFFICER, "031245", "Unit 1"),
        RosterEntry("audit", Role.AUDITOR, "", ""),
    ]


def test_a_bad_roster_is_rejected_whole_with_every_problem_by_row_and_column() -> None:
    text = (
        "user,officer,role,unit\n"
        "chen,,chief,Unit 1\n"  # unknown role
        "li,,officer,Unit 1\n"  # an officer without their number
        "chen,,supervisor,\n"  # duplicate user
        "two words,,auditor,\n"  # not a login name
    )
    with pytest.raises(ImportRejected) as e:
        parse_roster_csv(text, source="roster.csv")
    got = [(p.row, p.column) for p in e.value.problems]
    assert got == [(1, "role"), (2, "officer"), (3, "user"), (4, "user")]
    assert e.value.exit_code == 2 and "unknown role; expected supervisor, auditor, officer" in str(e.value)


def test_a_roster_missing_a_column_is_rejected() -> None:
    with pytest.raises(ImportRejected) as e:
        parse_roster_csv("user,role\nchen,supervisor\n")
    assert {(p.row, p.column, p.why) for p in e.value.problems} >= {(None, "officer", "missing column")}


def test_the_actor_is_found_by_user_at_host_first_then_by_login_name() -> None:
    roster = parse_roster_csv(GOOD)
    assert entry_for("li@station-2", roster) == roster[1]
    assert entry_for("li@station-9", roster) is None  # li is in the roster for station-2 only
    assert entry_for("chen@anywhere", roster) == roster[0]
    assert entry_for("root@anywhere", roster) is None


def test_refusals_name_the_role_needed() -> None:
    roster = parse_roster_csv(GOOD)
    with pytest.raises(AccessRefused) as e:
        authorize("root@h", None, "play")
    assert e.value.exit_code == 2
    assert (
        str(e.value)
        == "Access refused: root@h is not in the roster; `play` needs the role officer or supervisor"
    )
    with pytest.raises(AccessRefused) as e:
        authorize("audit@h", roster[2], "play")
    assert "has the role auditor; `play` needs the role officer or supervisor" in str(e.value)
    assert authorize("chen@h", roster[0], "find") == roster[0]


def test_officers_see_only_their_own_recordings() -> None:
    supervisor, officer, _ = parse_roster_csv(GOOD)
    assert may_see(supervisor, "999") and may_see(supervisor, None)
    assert may_see(officer, "031245")
    assert not may_see(officer, "999") and not may_see(officer, None)
