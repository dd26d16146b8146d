"""``recorder-sync users import|list`` through the real process: the roster of recorder-replay."""

from __future__ import annotations

from pathlib import Path

from clirunner import env_for, run, run_json

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.repository import SqlCatalog

ROSTER = "user,officer,role,unit\nchen,,supervisor,Unit 1\nli,031245,officer,Unit 1\n"


def test_the_roster_is_imported_listed_and_each_change_is_a_custody_event(
    tmp_path: Path, db_url: str
) -> None:
    env = env_for(tmp_path / "home", db_url)
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    r = run(env, "users", "import", str(roster))
    assert r.returncode == 0, r.stderr
    assert "2 added, 0 updated, 0 unchanged" in r.stdout
    assert run_json(env, "users", "list") == [
        {"user": "chen", "officer": "", "role": "supervisor", "unit": "Unit 1"},
        {"user": "li", "officer": "031245", "role": "officer", "unit": "Unit 1"},
    ]
    # li moves to another unit; chen unchanged
    roster.write_text(ROSTER.replace("031245,officer,Unit 1", "031245,officer,Unit 2"), encoding="utf-8")
    assert run_json(env, "users", "import", str(roster)) == {"added": [], "updated": ["li"], "unchanged": 1}
    listed = run(env, "users", "list")
    assert listed.returncode == 0 and "Unit 2" in listed.stdout and "USER" in listed.stdout

    catalog = SqlCatalog(make_engine(db_url), station="st-test", actor="test")
    events = [e.fields for e in catalog.events() if e.fields["action"] == "roster-imported"]
    assert [(e["subject"], e["details"].get("changed")) for e in events] == [
        ("user:chen", None),
        ("user:li", None),
        ("user:li", ["unit"]),
    ]
    assert all(e["actor"].startswith("users import (") for e in events)


def test_a_bad_roster_file_is_refused_whole_with_row_and_column(tmp_path: Path, db_url: str) -> None:
    env = env_for(tmp_path / "home", db_url)
    roster = tmp_path / "roster.csv"
    roster.write_text("user,officer,role,unit\nchen,,supervisor,\nli,,officer,Unit 1\nwu,,chief,\n", "utf-8")
    r = run(env, "users", "import", str(roster))
    assert r.returncode == 2
    assert "2 problem(s)" in r.stderr
    assert "row 2 (line 3), column 'officer'" in r.stderr and "row 3 (line 4), column 'role'" in r.stderr
    assert run_json(env, "users", "list") == []  # chen's good row was not imported either
    r = run(env, "users", "import", str(tmp_path / "missing.csv"))
    assert r.returncode == 2 and "no such file" in r.stderr
