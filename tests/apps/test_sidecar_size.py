"""A sidecar larger than the reader takes (64 KiB) is not read as metadata; that must not
pass in silence: the recording gets a ``bad-sidecar`` flag naming the size, and the sidecar
itself is still taken as a file of its own (nothing lost)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirunner import env_for, run, run_json

LIMIT = 64 * 1024
MEDIA = "DSJ-A1_031245_20261127083015_0001.MP4"


def _sidecar(size: int) -> bytes:
    head = json.dumps({"officer": "999999", "pad": ""}).encode()
    data = head[:-2] + b"x" * (size - len(head)) + head[-2:]
    assert len(data) == size and json.loads(data)["officer"] == "999999"
    return data


@pytest.mark.parametrize("size,used", [(LIMIT, True), (LIMIT + 1, False), (3 * 1024 * 1024, False)])
def test_a_sidecar_too_large_to_read_is_flagged_not_dropped_in_silence(
    tmp_path: Path, size: int, used: bool
) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / MEDIA).write_bytes(b"clip bytes")
    sidecar = _sidecar(size)
    (dock / MEDIA.replace(".MP4", ".json")).write_bytes(sidecar)
    home = tmp_path / "home"
    env = env_for(home, f"sqlite:///{home / 'db.sqlite'}")
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr
    recordings = {rec["source_path"].rpartition("/")[2]: rec for rec in run_json(env, "list")}
    media = recordings[MEDIA]
    # the sidecar is taken as a file of its own in any case
    assert recordings[MEDIA.replace(".MP4", ".json")]["size"] == size
    flags = [f for f in run_json(env, "flags", "--all") if f["kind"] == "bad-sidecar"]
    if used:
        assert media["officer"] == "999999" and flags == []
    else:
        assert media["officer"] == "031245"  # from the file name
        assert len(flags) == 1 and flags[0]["subject"] == f"recording:{media['id']}", flags
        assert flags[0]["detail"] == (
            f"sidecar {MEDIA.replace('.MP4', '.json')} is {size} bytes, more than 64 KiB: not read as "
            "this recording's metadata (it is stored as a file of its own)"
        )
