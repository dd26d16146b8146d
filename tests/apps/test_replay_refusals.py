"""Refused attempts leave a trace (issue 11): a user not in the roster, a role that may not run
the command, an officer asking for another officer's recording are refused (exit 2) and each
refusal is an ``access-refused`` custody event, which ``access-report`` lists as a finding.
Real ``recorder-replay`` processes on a real station (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from test_replay_cli import ACTOR, USER, Station, events, replay, replay_json, set_roster
from test_replay_cli import station as station  # the fixture: a station with two officers' recordings


@pytest.mark.slow
def test_every_refusal_is_logged_with_who_what_and_the_role_needed(station: Station) -> None:
    own, other = station.own, station.other
    # not in the roster at all
    r = station.play(own)
    assert r.returncode == 2 and "is not in the roster" in r.stderr
    # an auditor asking for footage
    set_roster(station.env, station.tmp, f"{USER},,auditor,Unit 1")
    r = station.play(own)
    assert r.returncode == 2 and "has the role auditor" in r.stderr
    # an officer asking for another officer's recording
    set_roster(station.env, station.tmp, f"{USER},031245,officer,Unit 1")
    r = station.play(other)
    assert r.returncode == 2 and "an officer may replay only their own recordings" in r.stderr
    assert station.played() is None and events(station.db_url, "accessed") == []

    no_roster, auditor, officer = events(station.db_url, "access-refused")
    assert all(e["actor"] == ACTOR for e in (no_roster, auditor, officer))
    assert no_roster["details"] == {
        "via": "recorder-replay",
        "command": "play",
        "needed": ["officer", "supervisor"],
        "role": None,
        "asked": {"recording": own["id"]},
        "problem": f"Access refused: {ACTOR} is not in the roster; `play` needs the role officer or "
        "supervisor",
    }
    assert auditor["details"]["role"] == "auditor" and auditor["details"]["asked"] == {"recording": own["id"]}
    assert officer["details"]["role"] == "officer" and officer["details"]["officer"] == "031245"
    assert officer["details"]["asked"] == {"recording": other["id"]}
    assert "only their own recordings" in officer["details"]["problem"]

    # a search refused names the query asked for
    set_roster(station.env, station.tmp, f"{USER},,auditor,")
    r = replay(station.env, "find", "--officer", "099999")
    assert r.returncode == 2
    search = events(station.db_url, "access-refused")[-1]
    assert search["details"]["command"] == "find" and search["details"]["asked"] == {"officer": "099999"}

    # the access report lists every refused attempt as a finding
    report = replay_json(station.env, "access-report")
    refused = [f for f in report["findings"] if f["kind"] == "refused-access"]
    assert [f["access_seq"] for f in refused] == [e["seq"] for e in events(station.db_url, "access-refused")]
    assert refused[0]["recording_id"] == own["id"] and "`play` refused" in refused[0]["detail"]
    assert refused[2]["recording_id"] == other["id"] and refused[2]["officer"] == "031245"
    assert report["accesses"] == []  # a refusal is no access
    assert [
        f["access_seq"] for f in replay_json(station.env, "access-report", "--officer", "031245")["findings"]
    ] == [refused[2]["access_seq"]]
    assert replay_json(station.env, "access-report", "--user", "nobody")["findings"] == []
    shown = replay(station.env, "access-report")
    assert (
        shown.returncode == 0
        and f"refused-access  access {refused[0]['access_seq']} by {ACTOR}" in shown.stdout
    )
