"""Trusted time on a real Ceph RGW: the token of each checkpoint lands beside it in the bucket,
under the same Object Lock retention, and ``openssl ts -verify`` passes on the stored bytes."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from clirunner import run, run_json, s3_env
from s3server import S3Server, new_bucket_name
from test_trusted_time import openssl_verifies
from tsaserver import TsaServer

from recorder_sync.adapters.s3store import parse_s3_datetime
from recorder_sync.domain.layout import checkpoint_key, timestamp_key

ORIGIN = "recorder-sync/st-test"


def test_ingest_to_s3_stores_a_locked_token_beside_its_checkpoint(
    tmp_path: Path, db_url: str, s3_server: S3Server, tsa_server: TsaServer
) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "a.bin").write_bytes(os.urandom(4096))
    bucket = new_bucket_name()
    env = s3_env(
        tmp_path / "home", db_url, s3_server, bucket,
        RECORDER_SYNC_TSA_URL=tsa_server.url, RECORDER_SYNC_TSA_CERTS=str(tsa_server.root_pem),
    )  # fmt: skip
    r = run(env, "ingest", str(dock), "--stable-seconds", "0", "-q")
    assert r.returncode == 0, r.stderr
    status = run_json(env, "status")["timestamps"]
    assert status["tokens"] == 1 and status["missing"] == 0
    size = status["last"]["size"]
    client = s3_server.client()
    heads = {
        key: client.stat_object(bucket, key)
        for key in (checkpoint_key(ORIGIN, size), timestamp_key(ORIGIN, size))
    }
    for head in heads.values():
        assert head.metadata["x-amz-object-lock-mode"] == "COMPLIANCE"
    until = [parse_s3_datetime(h.metadata["x-amz-object-lock-retain-until-date"]) for h in heads.values()]
    assert until[0] is not None and until[1] is not None and abs(until[0] - until[1]) < timedelta(minutes=5)
    for key in heads:
        (tmp_path / key.rsplit("/", 2)[-2]).write_bytes(client.get_object(bucket, key).read())
    done = openssl_verifies(tmp_path / "checkpoint", tmp_path / "timestamp", tsa_server.root_pem)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr
