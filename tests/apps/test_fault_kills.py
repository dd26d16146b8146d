"""Issue 12, faults survived: ``kill -9`` of the real daemon at random moments, on PostgreSQL and RGW.

Each round docks one more file, starts the daemon, waits a random short time and kills it
(SIGKILL): the kills land in hashing, probing, signing, storing (multipart uploads), verifying,
releasing, linking, sweeping and checkpoints. After every kill: a file gone from the dock has
a verified recording whose object is in the bucket. At the end, after one clean run: every
file stored exactly once (one version, no orphaned multipart upload), each step logged once
per recording, the custody chain intact.

CI runs ``KILLS`` = 10 rounds; ``RECORDER_SYNC_TEST_KILLS=100`` runs the full loop. The seed is
printed (and named in every failure): ``RECORDER_SYNC_TEST_KILL_SEED=N`` replays a run.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import sample_dock
from clirunner import run, run_json, s3_env
from s3server import S3Server, new_bucket_name
from test_daemon import Systemd, start, wait_until_done
from test_s3_pipeline import incomplete_uploads, objects

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain.custody import verify_chain
from recorder_sync.domain.layout import media_key

MiB = 1024 * 1024
KILLS = int(os.environ.get("RECORDER_SYNC_TEST_KILLS", "10"))
SEED = int(os.environ.get("RECORDER_SYNC_TEST_KILL_SEED", str(random.SystemRandom().randrange(10**9))))
STAGES = {  # what the daemon logs as it goes (-v), and the stage it names
    b" hashing ": "hashing",
    b" hashed ": "hashing",
    b" probed ": "probing",
    b" signed ": "signing",
    b" storing ": "storing",
    b" stored ": "storing",
    b" verified ": "verifying",
    b" released ": "releasing",
    b"linked": "linking",
    b"sweep as of": "sweeping",
    b"published checkpoint": "checkpoint",
}


def actions_for_the_sample(path: Path) -> Path:
    """One seizure per sample recording, over its window: linking has work to do."""
    lines = ["case_id,action_id,action_type,unit,officers,start,end,target_id,target_name,place"]
    for i, item in enumerate(sample_dock.sample_plan()):
        end = item.end if item.seconds else item.start + timedelta(seconds=1)
        lines.append(
            f"C-{i},A-{i},seizure,Unit 3,{item.officer},{item.start.isoformat()},{end.isoformat()},"
            f"P-{i},P,Road"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


TARGETS = [b" hashing ", b" signed ", b" storing ", b" verified ", b" released ", b"sweep as of"]
WAIT_S = 8.0


def since(log: Path, offset: int) -> bytes:
    with log.open("rb") as f:
        f.seek(offset)
        return f.read()


@pytest.mark.slow
def test_kill_9_at_random_moments_on_postgresql_and_rgw(
    tmp_path: Path, pg_url: str, s3_server: S3Server
) -> None:
    print(f"kill -9 loop: {KILLS} rounds, seed {SEED} (RECORDER_SYNC_TEST_KILL_SEED={SEED} replays it)")
    rng = random.Random(SEED)
    dock = tmp_path / "dock"
    sample_dock.build_sample_dock(dock)
    for i in range(3):  # large enough for multipart uploads (5 MiB parts) to be caught mid-way
        (dock / f"big{i}.bin").write_bytes(rng.randbytes(24 * MiB))
    bucket = new_bucket_name()
    env = s3_env(
        tmp_path / "home",
        pg_url,
        s3_server,
        bucket,
        RECORDER_SYNC_S3_PART_SIZE_MIB="5",
        RECORDER_SYNC_CONFIG=str(tmp_path / "c.toml"),
    )
    (tmp_path / "c.toml").write_text("[log]\ncheckpoint_seconds = 1\n")
    r = run(env, "cases", "import", str(actions_for_the_sample(tmp_path / "actions.csv")))
    assert r.returncode == 0, r.stderr
    digests = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in dock.rglob("*") if p.is_file()}
    client = s3_server.client()
    catalog = SqlCatalog(make_engine(pg_url), station="x", actor="x")
    log = tmp_path / "daemon.log"
    systemd = Systemd()
    caught: Counter[str] = Counter()
    try:
        for round_no in range(KILLS):
            new = dock / f"round{round_no:03d}.bin"  # work for this round: hashing, storing…
            new.write_bytes(rng.randbytes(rng.choice([1, 4, 8]) * MiB))
            digests[new] = hashlib.sha256(new.read_bytes()).hexdigest()
            offset = log.stat().st_size if log.exists() else 0
            proc = start(env, dock, log, systemd, "--sweep-seconds", "0.5")
            # a random moment: just after a randomly chosen step was logged (or after WAIT_S
            # if it does not come), so that kills land in every stage, not mostly at start-up
            target = rng.choice(TARGETS)
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline and target not in since(log, offset):
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            said = since(log, offset)
            last = max(STAGES, key=said.rfind)
            caught[STAGES[last] if said.rfind(last) >= 0 else "starting"] += 1
            # the invariant, at every kill: a file gone from the dock has a verified stored copy
            state = {r.sha256: r.state.value for r in catalog.list_recordings()}
            for p, digest in digests.items():
                if not p.exists():
                    where = f"round {round_no}, seed {SEED}: {p.name}"
                    assert state.get(digest) in ("verified", "released"), f"{where}: {state.get(digest)}"
                    head = client.stat_object(bucket, media_key(digest))
                    assert head.metadata["x-amz-meta-sha256"] == digest, where
        print(f"last step logged before each kill: {dict(sorted(caught.items()))}")
        proc = start(env, dock, log, systemd)
        try:
            wait_until_done(env, dock, timeout=300)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
        events = catalog.events()
    finally:
        catalog.engine.dispose()

    assert not any(p.exists() for p in digests), f"seed {SEED}"
    recs = run_json(env, "list")
    assert {r["sha256"] for r in recs} == set(digests.values()), f"seed {SEED}"
    assert {r["state"] for r in recs} == {"released"}, f"seed {SEED}"
    stored = objects(client, bucket)
    for digest in digests.values():
        versions = stored[media_key(digest)]
        assert versions == 1, f"seed {SEED}: {digest} has {versions} versions"
        body = client.get_object(bucket, media_key(digest))
        try:
            assert hashlib.sha256(body.read()).hexdigest() == digest, f"seed {SEED}"
        finally:
            body.close()
            body.release_conn()
    assert incomplete_uploads(client, bucket) == [], f"seed {SEED}"
    assert verify_chain(events) == len(events), f"seed {SEED}"
    per_rec = Counter((e.fields.get("recording_id"), e.fields["action"]) for e in events)
    for r in recs:
        for action in ("hashed", "probed", "signed", "stored", "verified"):
            times = per_rec[(r["id"], action)]
            assert times == 1, f"seed {SEED}: {r['id']} {action} {times}x"
    # the kills did land in the middle of the work, not only at start-up
    assert sum(n for stage, n in caught.items() if stage != "starting") >= KILLS // 2, caught
    assert run_json(env, "links", "--action", "A-0"), "linking never ran to the end"
