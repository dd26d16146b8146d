"""One vocabulary, through the real ``recorder-sync`` process: one extension -> kind map for
ingest and the prober, and times shown the same way by every command."""

from __future__ import annotations

from pathlib import Path

import pytest
from clirunner import env_for, run, run_json


def test_unreadable_3gp_is_flagged_as_unreadable_media(tmp_path: Path, db_url: str) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "DSJ-A1_031245_20261127083015_0001.3gp").write_bytes(b"not a video " * 500)
    env = env_for(tmp_path / "home", db_url)
    r = run(env, "ingest", str(dock), "--stable-seconds", "0.2")
    assert r.returncode == 0, r.stderr
    [rec] = run_json(env, "list")
    # the prober could not read it, so the kind comes from the extension: video, as ingest guessed
    assert rec["kind"] == "video" and rec["flags"] == ["unreadable-media"]
    [flag] = [f for f in run_json(env, "flags") if f["kind"] == "unreadable-media"]
    assert flag["subject"] == f"recording:{rec['id']}" and ".3gp" in flag["detail"]


NAME = "DSJ-A1_031245_20261127083015_0001.MP4"  # filmed at 08:30:15 Asia/Shanghai (the default zone)
ACTIONS = (
    "case_id,action_id,action_type,unit,officers,start,end,target_id,target_name,place\n"
    "C1,A1,seizure,Unit 1,031245,2026-11-27T08:30:00+08:00,2026-11-27T08:40:00+08:00,,,Suzhou\n"
)
LEDGER = "device,officer,start,end\nDSJ-A1,031245,2026-11-27T07:00:00+08:00,\n"


@pytest.mark.slow
def test_people_read_station_time_and_json_is_utc_in_every_command(tmp_path: Path, db_url: str) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / NAME).write_bytes(b"evidence " * 500)
    env = env_for(tmp_path / "home", db_url)
    assert run(env, "ingest", str(dock), "--stable-seconds", "0.2").returncode == 0
    (tmp_path / "actions.csv").write_text(ACTIONS, encoding="utf-8")
    (tmp_path / "ledger.csv").write_text(LEDGER, encoding="utf-8")
    for what in ("cases", "ledger"):
        r = run(env, what, "import", str(tmp_path / f"{'actions' if what == 'cases' else what}.csv"))
        assert r.returncode == 0, r.stderr

    [rec] = run_json(env, "list")
    r = run(env, "link", rec["id"], "A1", "--by", "supervisor 7", "--reason", "seen on the footage")
    assert r.returncode == 0, r.stderr

    # tables and show: the station's zone with its offset, as flag texts give it
    listed = run(env, "list")
    assert listed.returncode == 0, listed.stderr
    assert "2026-11-27 08:30:15+08:00" in listed.stdout and "+00:00" not in listed.stdout
    shown = run(env, "show", rec["id"])
    assert shown.returncode == 0, shown.stderr
    starts = [line.strip() for line in shown.stdout.splitlines() if line.strip().startswith("start:")]
    at = "start: 2026-11-27 08:30:15+08:00"
    assert starts == [at, f"{at}  (from filename:default)"]  # the recording's, then the metadata's
    assert "+00:00" not in shown.stdout
    custody = shown.stdout.split("    custody:")[1].split("flags:")[0].splitlines()
    assert custody[1:] and all("+08:00" in line for line in custody[1:] if line.strip())
    cases = run(env, "case", "list")
    assert cases.returncode == 0, cases.stderr
    assert "2026-11-27 08:30:00+08:00" in cases.stdout and "2026-11-27 08:40:00+08:00" in cases.stdout
    links = run(env, "links")
    assert links.returncode == 0 and "+00:00" not in links.stdout, links.stderr

    # --json: UTC with +00:00 in every command
    assert rec["start"] == "2026-11-27T00:30:15+00:00"
    assert run_json(env, "show", rec["id"])["start"] == rec["start"]
    [action] = run_json(env, "case", "list")
    assert (action["start"], action["end"]) == ("2026-11-27T00:30:00+00:00", "2026-11-27T00:40:00+00:00")
    [checkout] = run_json(env, "ledger", "list")
    assert checkout["start"] == "2026-11-26T23:00:00+00:00" and checkout["end"] == ""
    [link] = run_json(env, "links")
    assert link["created_at"].endswith("+00:00") and link["removed_at"] is None
    for stamp in (rec["ingested_at"], rec["verified_at"], rec["released_at"]):
        assert stamp.endswith("+00:00")


def test_report_names_the_configured_deadline_not_24_hours(tmp_path: Path, db_url: str) -> None:
    env = env_for(tmp_path / "home", db_url)
    r = run(env, "report", "--csv")
    assert r.returncode == 0, r.stderr
    header = r.stdout.splitlines()[0].split(",")
    assert "pct_within_deadline" in header and not [h for h in header if "24h" in h]
    table = run(env, "report")
    assert table.returncode == 0 and "PCT_WITHIN_DEADLINE" in table.stdout, table.stderr
    assert "pct_within_deadline" in run_json(env, "report")["total"]["timeliness"]
