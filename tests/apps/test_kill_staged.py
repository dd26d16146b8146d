"""Issue 12, throughput: ``kill -9`` of the real process between staging a dock file's copy in
the vault (the hash step) and storing it.

Each round docks two new files and a copy of an earlier one, runs ``recorder-sync ingest``
with one worker and kills it (SIGKILL) as soon as it has hashed one file of the round: a
pass hashes every file before it stores any, so the kill lands while the other one is being
copied into ``tmp/`` and hashed, before anything of the round is stored. After every kill:
each staged copy belongs to a recording still to be stored (no orphan). At the end, after
one clean run: every file stored once from its staged copy, nothing left in ``tmp/``.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from clirunner import EXE, env_for, run, run_json

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain.layout import media_key

MiB = 1024 * 1024
ROUNDS = 3


def staged(vault: Path) -> dict[str, int]:
    """The staged copies in the vault's tmp/, by SHA-256, with their inode numbers."""
    return {
        p.name.removeprefix("staged-"): p.stat().st_ino
        for p in (vault / "tmp").iterdir()
        if p.name.startswith("staged-")
    }


def test_kill_9_between_staging_and_storing_resumes_from_the_staged_copy_and_leaves_none(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261130)
    dock = tmp_path / "dock"
    dock.mkdir()
    db_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    env = env_for(tmp_path / "home", db_url, RECORDER_SYNC_WORKERS="1")
    vault = tmp_path / "home" / "vault"
    log = tmp_path / "ingest.log"
    digests: dict[Path, str] = {}
    kept_at_kill: dict[str, int] = {}  # staged copies seen after a kill, and their inodes
    catalog = SqlCatalog(make_engine(db_url), station="x", actor="x")
    try:
        for round_no in range(ROUNDS):
            for i in (1, 2):  # large enough that hashing one takes long after the other is done
                new = dock / f"DSJ-K{round_no}_031245_2026112708{round_no}0{i}5_000{i}.MP4"
                new.write_bytes(rng.randbytes(48 * MiB))
                digests[new] = hashlib.sha256(new.read_bytes()).hexdigest()
            if round_no:  # the same content again, under another name: staged twice
                twin = dock / f"DSJ-K{round_no}_031245_2026112708{round_no}035_0003.MP4"
                earlier = dock / "DSJ-K0_031245_20261127080015_0001.MP4"
                twin.write_bytes(earlier.read_bytes())
                digests[twin] = digests[earlier]
            offset = log.stat().st_size if log.exists() else 0
            with log.open("ab") as err:
                proc = subprocess.Popen(
                    [EXE, "ingest", str(dock), "--stable-seconds", "0"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            try:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and proc.poll() is None:
                    said = log.read_bytes()[offset:]
                    if b"hashed  " in said or b"duplicate  " in said:
                        break
                    time.sleep(0.005)
            finally:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
            said = log.read_bytes()[offset:]
            assert b"storing  " not in said, said.decode()[-2000:]  # killed before any store
            # no orphan: every staged copy is of a recording that is still to be stored
            recs = {r.sha256: r for r in catalog.list_recordings()}
            copies = staged(vault)
            assert copies, f"round {round_no}: nothing staged before the kill"
            for digest in copies:
                assert digest in recs and recs[digest].stored_at is None, (round_no, digest)
            kept_at_kill |= copies
    finally:
        catalog.engine.dispose()

    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not any(p.exists() for p in digests)
    recs = run_json(env, "list")
    assert {rec["sha256"] for rec in recs} == set(digests.values())
    assert {rec["state"] for rec in recs} == {"released"}
    for digest in set(digests.values()):
        stored = vault / media_key(digest)
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == digest
    # what a killed process staged survived the next start and became the stored object itself
    for digest, inode in kept_at_kill.items():
        assert (vault / media_key(digest)).stat().st_ino == inode, digest
    assert sorted(p.name for p in (vault / "tmp").iterdir()) == []
    stores = Counter(
        rec["id"]
        for rec in recs
        for e in run_json(env, "show", rec["id"])["custody_events"]
        if e["action"] == "stored"
    )
    assert set(stores.values()) == {1}, stores
