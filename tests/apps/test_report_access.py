"""The yearly ``recorder-sync report`` counts access to footage per unit, through the real
processes: replays made with ``recorder-replay``, the report read as JSON, CSV and text."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from clirunner import run, run_json
from test_replay_cli import USER, Station, replay, set_roster


@pytest.mark.slow
def test_the_report_counts_accesses_exports_searches_and_findings_per_unit(
    tmp_path: Path, db_url: str
) -> None:
    station = Station(tmp_path, db_url)
    # officer 031245 (Unit 1) views footage of A1, in which they took part: a self-access
    set_roster(station.env, tmp_path, f"{USER},031245,officer,Unit 1")
    assert station.play(station.own, reason="writing my report").returncode == 0
    # then the same account is a supervisor of Unit 2: it views footage of no action,
    # exports A1's, and searches
    set_roster(station.env, tmp_path, f"{USER},,supervisor,Unit 2")
    assert station.play(station.other, reason="spot check").returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    export = ["export", station.own["id"], "--out", str(out), "--trust", str(station.trust)]
    assert replay(station.env, *export, "--reason", "court request").returncode == 0
    assert replay(station.env, "find", "--case", "C1").returncode == 0

    report = run_json(station.env, "report")
    units = {u["unit"]: u for u in report["access_by_unit"]}
    assert set(units) == {"Unit 1", "Unit 2"}
    one, two = units["Unit 1"], units["Unit 2"]
    assert (one["accessed"], one["exported"], one["searches"], one["self_access"]) == (1, 0, 0, 1)
    assert (two["accessed"], two["exported"], two["searches"], two["no_link_access"]) == (1, 1, 1, 1)
    assert two["self_access"] == 0 and one["no_link_access"] == 0
    assert one["bulk_access"] == two["bulk_access"] == 0

    r = run(station.env, "report", "--csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0])[-7:] == [
        "accessed",
        "exported",
        "searches",
        "self_access",
        "no_link_access",
        "bulk_access",
        "out_of_hours_access",
    ]
    by_key = {(row["dimension"], row["key"]): row for row in rows}
    assert by_key[("total", "all")]["accessed"] == "2" and by_key[("total", "all")]["exported"] == "1"
    # Unit 1 has actions and accesses: one row; Unit 2 only accessed: a row of its own
    assert by_key[("unit", "Unit 1")]["actions"] == "1" and by_key[("unit", "Unit 1")]["self_access"] == "1"
    assert by_key[("unit", "Unit 2")]["searches"] == "1" and by_key[("unit", "Unit 2")]["actions"] == ""

    r = run(station.env, "report")
    assert r.returncode == 0, r.stderr
    assert "access to footage per unit" in r.stdout and "SELF_ACCESS" in r.stdout
    [line] = [x for x in r.stdout.splitlines() if x.startswith("Unit 2 ")]
    assert line.split()[2:6] == ["1", "1", "1", "0"]  # accessed, exported, searches, self-access
