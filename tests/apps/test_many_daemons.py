"""Three ``recorder-sync run`` stations on three docks, one PostgreSQL database and one RGW
bucket (issue 12): ``kill -9`` of the station in the middle of a large upload; another station
on standby for that dock finishes it once the lease has run out. Every file is stored exactly
once, nothing is released unverified, the custody chain verifies, and one leader swept at a time.

The stations are three machines in all but the lock folder: each has its own station id, home
and keys (so a killed one's claims wait out their lease: only a station's own dead processes
are freed at once); the dock locks are one machine's, which is how stations 2 and 3 stand by
for dock A and take it over when station 1 dies.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from clirunner import EXE, run, run_json, s3_env
from minio import Minio
from s3server import S3Server, new_bucket_name
from sqlalchemy import text
from test_audit_proof_cli import audit
from test_daemon import _stop
from test_s3_pipeline import incomplete_uploads, objects

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain.custody import verify_chain
from recorder_sync.domain.layout import media_key

MiB = 1024 * 1024
LEASE = "10"  # seconds: short, so that the take-over comes soon after the kill
DEADLINE = 240.0


@pytest.fixture
def pg_url(pg_server_url: str) -> Any:
    from conftest import pg_database

    with pg_database(pg_server_url) as url:
        yield url


def until(
    condition: Callable[[], bool], what: str, procs: list[subprocess.Popen[bytes]], logs: list[Path]
) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"not seen: {what}\n" + "\n".join(
            log.read_text()[-3000:] for log in logs
        )
        for p in procs:
            assert p.poll() is None, f"a daemon exited {p.returncode} before: {what}"
        time.sleep(0.02)


def logged(log: Path, words: bytes) -> bool:
    return words in log.read_bytes()


def put(dock: Path, name: str, data: bytes) -> str:
    """Made aside and moved in whole; its SHA-256."""
    staging = dock.parent / "staging"
    staging.mkdir(exist_ok=True)
    (staging / name).write_bytes(data)
    (staging / name).rename(dock / name)
    return hashlib.sha256(data).hexdigest()


def sweeps(engine: Any) -> list[tuple[str, datetime, datetime | None]]:
    with engine.connect() as c:
        rows = c.execute(text("SELECT owner, started_at, ended_at FROM sweep_runs ORDER BY started_at, id"))
        return [(r[0], r[1], r[2]) for r in rows]


@pytest.mark.slow
def test_three_daemons_one_killed_mid_upload_store_everything_once_with_one_leader(
    tmp_path: Path, pg_url: str, s3_server: S3Server
) -> None:
    bucket = new_bucket_name()
    docks = {n: tmp_path / f"dock-{n}" for n in "abc"}
    for d in docks.values():
        d.mkdir()
    envs = [
        s3_env(
            tmp_path / f"home{i}",
            pg_url,
            s3_server,
            bucket,
            RECORDER_SYNC_STATION_ID=f"st-{i}",
            RECORDER_SYNC_CLAIM_SECONDS=LEASE,
            RECORDER_SYNC_S3_PART_SIZE_MIB="5",
            RECORDER_SYNC_RELEASE_POLICY="delete",
        )
        for i in (1, 2, 3)
    ]
    # station 1 holds dock a; 2 holds b and stands by for a; 3 holds c and stands by for a
    argv = [["--dock", str(docks["a"])], ["--dock", str(docks["b"]), "--dock", str(docks["a"])]]
    argv.append(["--dock", str(docks["c"]), "--dock", str(docks["a"])])
    # station 1 sweeps only when asked (at start, after a batch): while its pass is held in the
    # upload, nothing starts a sweep there, so it is killed between sweeps, and the sweep
    # intervals below are all closed; 2 and 3 sweep every second once they lead
    sweep_every = ["3600", "1", "1"]
    logs = [tmp_path / f"st-{i}.log" for i in (1, 2, 3)]
    engine = make_engine(pg_url)
    client: Minio = s3_server.client()
    digests: dict[str, str] = {}
    for n, d in docks.items():
        for i in range(3):
            digests[f"{n}/small{i}.bin"] = put(d, f"small{i}.bin", os.urandom(64 * 1024) + bytes([i]))

    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(3):
            procs.append(
                subprocess.Popen(
                    [
                        EXE,
                        "-v",
                        "run",
                        *argv[i],
                        "--stable-seconds",
                        "0.3",
                        "--sweep-seconds",
                        sweep_every[i],
                    ],
                    env=envs[i],
                    stdout=subprocess.DEVNULL,
                    stderr=logs[i].open("ab"),
                )
            )
            # one at a time: station 1 takes dock a (and the lead) before the others look
            until(functools.partial(logged, logs[i], b"ready:"), f"st-{i + 1} ready", procs, logs)
            if i == 0:
                leading = functools.partial(logged, logs[0], b"leading: this daemon")
                until(leading, "st-1 leading", procs, logs)
        st1, st2, st3 = procs
        assert b"standby for dock-a" in logs[1].read_bytes() and b"standby for dock-a" in logs[2].read_bytes()
        until(
            lambda: not any(p.is_file() for d in docks.values() for p in d.iterdir()),
            "small files done",
            procs,
            logs,
        )

        big = os.urandom(96 * MiB)
        digests["a/big.bin"] = put(docks["a"], "big.bin", big)
        big_key = media_key(digests["a/big.bin"])

        def uploading() -> bool:
            return big_key in incomplete_uploads(client, bucket)

        until(uploading, "station 1 uploading the large file (a multipart upload in the bucket)", procs, logs)
        with engine.connect() as c:
            holder, state = c.execute(
                text("SELECT claimed_by, state FROM recordings WHERE sha256 = :h"),
                {"h": digests["a/big.bin"]},
            ).one()
        assert holder.startswith(f"st-1/{st1.pid}/") and state == "signed", (holder, state)
        # station 1's sweeps are all over (none can start now: see sweep_every)
        until(
            lambda: all(e is not None for o, _, e in sweeps(engine) if o.startswith("st-1/")),
            "st-1 between sweeps",
            procs,
            logs,
        )

        # taken before the kill: the moment st-1 is dead another may take the lead and sweep
        killed_at = sweeps(engine)
        os.kill(st1.pid, signal.SIGKILL)
        st1.wait()
        live = [st2, st3]
        until(
            lambda: not (docks["a"] / "big.bin").exists(),
            "the large file finished and released by another",
            live,
            logs,
        )
        # and the lead handed over: a sweep by another station
        until(
            lambda: any(o.startswith(("st-2/", "st-3/")) and e is not None for o, _, e in sweeps(engine)),
            "a sweep by the new leader",
            live,
            logs,
        )
        leader = run_json(envs[1], "status")["leader"]
        assert leader is not None and leader["station"] in ("st-2", "st-3"), leader
        # stopped with the leader last, so that its last checkpoint covers everything
        first, last = (st3, st2) if leader["station"] == "st-2" else (st2, st3)
        assert _stop(first) == 0
        assert _stop(last) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    # --- every file stored exactly once, by whom it should be --------------------------------
    events = SqlCatalog(engine, station="x", actor="x").events()
    assert verify_chain(events) == len(events)
    fields = [e.fields for e in events]
    assert [f for f in fields if f["action"] == "duplicate-seen"] == []
    stored = Counter(f["recording_id"] for f in fields if f["action"] == "stored")
    assert sorted(stored.values()) == [1] * len(digests), stored
    versions = objects(client, bucket)
    for digest in digests.values():
        assert versions[media_key(digest)] == 1  # one object (one version) per SHA-256
    assert incomplete_uploads(client, bucket) == []  # the killed upload's orphan was aborted
    recs = run_json(envs[1], "list")
    assert {r["sha256"] for r in recs} == set(digests.values())
    assert {r["state"] for r in recs} == {"released"}
    big_rec = next(r for r in recs if r["sha256"] == digests["a/big.bin"])
    by = {f["action"]: f["station"] for f in fields if f.get("recording_id") == big_rec["id"]}
    assert by["signed"] == "st-1" and by["stored"] in ("st-2", "st-3"), by

    # --- nothing released before its stored copy was verified ---------------------------------
    verified_at = {
        f["recording_id"]: e.seq for e, f in zip(events, fields, strict=True) if f["action"] == "verified"
    }
    released = [(e.seq, f) for e, f in zip(events, fields, strict=True) if f["action"] == "released"]
    assert len(released) == len(digests)
    for seq, f in released:
        assert f["recording_id"] in verified_at and verified_at[f["recording_id"]] < seq, f

    # --- one leader at a time: no two sweeps overlap, and the lead moved once -----------------
    runs = sweeps(engine)
    assert all(end is not None for _, _, end in runs), runs
    for (o1, _, end1), (o2, start2, _) in itertools.pairwise(runs):
        assert end1 is not None and end1 <= start2, ("overlapping sweeps", o1, o2, runs)
    owners = [o.split("/")[0] for o, _, _ in runs]
    assert {o.split("/")[0] for o, _, _ in killed_at} == {"st-1"}  # no sweep but the leader's before
    assert runs[: len(killed_at)] == killed_at  # and st-1 began none after
    later = owners[len(killed_at) :]
    assert later and set(later) == {leader["station"]}, owners

    # --- the custody chain, as an auditor checks it ----------------------------------------
    station = envs[[1, 2][leader["station"] == "st-3"]]
    trust = tmp_path / "trust.json"
    r = run(station, "keys", "export-trust", "--out", str(trust))
    assert r.returncode == 0, r.stderr
    r = audit(station, "verify", "--trust", str(trust), "--state", str(tmp_path / "audit-state"))
    assert r.returncode == 0, r.stdout + r.stderr
