"""File names a hostile card may carry, through the real ``ingest``: a name that reads as an
option (``-rf.mp4``, ``--help.mp4``), one of 255 bytes (the most a name may have), and one
that is not UTF-8 and holds a terminal escape.  Each is hashed, stored, verified and
released like any other file (the probe reads the open file, never an argument made of
the name), and the escape is never printed raw."""

from __future__ import annotations

import os
from pathlib import Path

from clirunner import env_for, run, run_json

NAMES = [b"-rf.mp4", b"--help.mp4", b"a" * 251 + b".mp4", b"b\xff\x1b[2Jred.mp4"]


def test_names_that_read_as_options_are_longest_or_not_utf8_are_ingested_and_released(tmp_path: Path) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    for i, name in enumerate(NAMES):
        with open(os.path.join(os.fsencode(dock), name), "wb") as f:
            f.write(b"clip %d" % i)
    home = tmp_path / "home"
    env = env_for(home, f"sqlite:///{home / 'db.sqlite'}")
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout + r.stderr and "b\\xff\\x1b[2Jred.mp4" in r.stdout + r.stderr
    assert os.listdir(os.fsencode(dock)) == []  # every one released under 'delete'
    recordings = run_json(env, "list")
    assert sorted(rec["size"] for rec in recordings) == [6] * len(NAMES)
    assert all(rec["state"] == "released" for rec in recordings)
    listed = run(env, "list")
    assert listed.returncode == 0 and "\x1b" not in listed.stdout
