"""One vocabulary, through the real ``recorder-sync`` process: one extension -> kind map for
ingest and the prober, and times shown the same way by every command."""

from __future__ import annotations

from pathlib import Path

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
