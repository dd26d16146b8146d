"""The whole pipeline against a real Ceph RGW: upload, verify, release; outages; kill -9 mid-upload."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sample_dock
from clirunner import EXE, RESTORE_STORY, env_for, run, run_json, s3_env, story_from
from minio import Minio
from s3server import S3Server, new_bucket_name

from recorder_sync.adapters.s3store import parse_s3_datetime
from recorder_sync.domain.layout import manifest_key, media_key, signature_key

MiB = 1024 * 1024


def objects(client: Minio, bucket: str) -> dict[str, int]:
    """key → number of versions."""
    out: dict[str, int] = {}
    for o in client.list_objects(bucket, recursive=True, include_version=True):
        out[o.object_name] = out.get(o.object_name, 0) + 1
    return out


def incomplete_uploads(client: Minio, bucket: str) -> list[str]:
    return [u.object_name for u in client._list_multipart_uploads(bucket).uploads]


@pytest.mark.slow
def test_ingest_to_s3_stores_locked_verified_and_releases(
    tmp_path: Path, db_url: str, s3_server: S3Server
) -> None:
    dock = tmp_path / "dock"
    sample_dock.build_sample_dock(dock)
    hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in dock.rglob("*") if p.is_file()}
    bucket = new_bucket_name()
    env = s3_env(tmp_path / "home", db_url, s3_server, bucket)
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr
    recs = run_json(env, "list")
    assert {rec["sha256"] for rec in recs} == hashes
    client = s3_server.client()
    stored = objects(client, bucket)
    for rec in recs:
        key = media_key(rec["sha256"])
        assert rec["state"] == "released"
        assert rec["storage_uri"].startswith(f"s3://{bucket}/{key}?versionId=")
        assert stored[key] == 1 and stored[manifest_key(rec["sha256"])] == 1
        head = client.stat_object(bucket, key)
        assert head.metadata["x-amz-object-lock-mode"] == "COMPLIANCE"
        assert head.metadata["x-amz-meta-sha256"] == rec["sha256"]
    assert not [p for p in dock.rglob("*") if p.is_file()]
    shown = run_json(env, "show", recs[0]["id"])
    stored_event = next(e for e in shown["custody_events"] if e["action"] == "stored")
    assert stored_event["details"]["version_id"] and stored_event["details"]["lock_mode"] == "COMPLIANCE"


def test_clear_errors_for_bad_credentials_and_bucket_without_lock(
    tmp_path: Path, db_url: str, s3_server: S3Server
) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "DSJ-A1_031245_20261127083015_0001.MP4").write_bytes(os.urandom(1000))
    env = s3_env(
        tmp_path / "home",
        db_url,
        s3_server,
        new_bucket_name(),
        RECORDER_SYNC_S3_SECRET_KEY="Zq8-not-the-secret",
    )
    r = run(env, "ingest", str(dock), "--stable-seconds", "0", timeout=120)
    assert r.returncode == 4 and "denied" in r.stderr and "Zq8-not-the-secret" not in r.stderr
    plain = new_bucket_name()
    s3_server.client().make_bucket(plain)  # no Object Lock
    env = s3_env(tmp_path / "home", db_url, s3_server, plain)
    r = run(env, "ingest", str(dock), "--stable-seconds", "0", timeout=120)
    assert r.returncode == 4 and "does not have S3 Object Lock" in r.stderr
    assert (dock / "DSJ-A1_031245_20261127083015_0001.MP4").exists()


def start(env: dict[str, str], dock: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [EXE, "-v", "run", "--dock", str(dock), "--stable-seconds", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_storage_outage_mid_batch_loses_nothing(tmp_path: Path, db_url: str, s3_server: S3Server) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    files = {}
    for i in range(8):
        p = dock / f"DSJ-OUT{i}_031245_20261127083015_000{i}.MP4"
        p.write_bytes(os.urandom(12 * MiB))
        files[p] = hashlib.sha256(p.read_bytes()).hexdigest()
    bucket = new_bucket_name()
    env = s3_env(tmp_path / "home", db_url, s3_server, bucket, RECORDER_SYNC_S3_PART_SIZE_MIB="5")
    log = tmp_path / "daemon.log"
    proc = start(env, dock, log)
    try:
        wait_for(lambda: b" stored " in log.read_bytes(), 60, "a first upload")
        s3_server.stop_rgw()
        try:
            # the daemon keeps running and reports the backlog; unverified dock copies stay
            def backlog_with_error() -> bool:
                st = run_json(env, "status")
                return bool(st["backlog"] and st["last_error"])

            wait_for(backlog_with_error, 60, "the outage to show in status")
            assert proc.poll() is None
            status = run_json(env, "status")
            assert status["oldest_pending"] is not None
            for rec in run_json(env, "list"):
                if rec["state"] not in ("verified", "released"):
                    assert any(files.get(p) == rec["sha256"] and p.exists() for p in files), (
                        f"dock copy of unverified {rec['id']} is gone"
                    )
            time.sleep(5)
            assert proc.poll() is None
        finally:
            s3_server.start_rgw()
        wait_for(lambda: not any(p.exists() for p in files), 240, "every file to be stored after the outage")
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    recs = run_json(env, "list")
    assert {r["sha256"] for r in recs} == set(files.values())
    assert {r["state"] for r in recs} == {"released"}
    stored = objects(s3_server.client(), bucket)
    assert all(stored[media_key(h)] == 1 for h in files.values())
    assert "Traceback" not in log.read_text()  # the outage was handled, never crashed anything


@pytest.mark.slow
def test_sigkill_during_multipart_upload_then_restart(
    tmp_path: Path, db_url: str, s3_server: S3Server
) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    big = dock / "DSJ-BIG_031245_20261127083015_0001.MP4"
    with big.open("wb") as f:
        for _ in range(160):
            f.write(os.urandom(MiB))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    bucket = new_bucket_name()
    env = s3_env(tmp_path / "home", db_url, s3_server, bucket, RECORDER_SYNC_S3_PART_SIZE_MIB="5")
    log = tmp_path / "daemon.log"
    client = s3_server.client()
    proc = start(env, dock, log)
    wait_for(lambda: b" storing " in log.read_bytes(), 60, "the upload to start")
    wait_for(
        lambda: bool(client.bucket_exists(bucket) and incomplete_uploads(client, bucket)),
        30,
        "parts in flight",
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert incomplete_uploads(client, bucket)  # killed mid-upload: an orphan exists now
    assert big.exists()
    assert media_key(digest) not in objects(client, bucket)
    proc = start(env, dock, log)
    try:
        wait_for(lambda: not big.exists(), 180, "the upload to complete after restart")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert objects(client, bucket)[media_key(digest)] == 1  # exactly one stored version
    assert incomplete_uploads(client, bucket) == []  # no orphaned multipart upload
    [rec] = run_json(env, "list")
    assert rec["sha256"] == digest and rec["state"] == "released"


def test_legal_hold_on_and_off_is_logged(tmp_path: Path, db_url: str, s3_server: S3Server) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "DSJ-A1_031245_20261127083015_0001.MP4").write_bytes(os.urandom(5000))
    bucket = new_bucket_name()
    env = s3_env(tmp_path / "home", db_url, s3_server, bucket)
    assert run(env, "ingest", str(dock), "--stable-seconds", "0").returncode == 0
    [rec] = run_json(env, "list")
    client = s3_server.client()
    key = media_key(rec["sha256"])
    r = run(
        env, "legal-hold", rec["id"], "on", "--reason", "case 2026-017 under appeal", "--by", "supervisor 12"
    )
    assert r.returncode == 0, r.stderr
    assert client.is_object_legal_hold_enabled(bucket, key)
    assert (
        run(
            env, "legal-hold", rec["id"], "off", "--reason", "appeal closed", "--by", "supervisor 12"
        ).returncode
        == 0
    )
    assert not client.is_object_legal_hold_enabled(bucket, key)
    events = run_json(env, "show", rec["id"])["custody_events"]
    holds = [(e["action"], e["actor"], e["reason"]) for e in events if e["action"].startswith("legal-hold")]
    assert holds == [
        ("legal-hold", "supervisor 12 via recorder-sync", "case 2026-017 under appeal"),
        ("legal-hold-released", "supervisor 12 via recorder-sync", "appeal closed"),
    ]
    r = run(env_for(tmp_path / "home2", db_url), "legal-hold", rec["id"], "on", "--reason", "x")
    assert r.returncode == 2 and "Object Lock" in r.stderr


@pytest.mark.parametrize("damage", ["forged-version", "delete-marker"])
def test_redocked_file_restores_a_damaged_s3_object_as_the_latest_version(
    tmp_path: Path, db_url: str, s3_server: S3Server, damage: str
) -> None:
    """Issue 7, item 2 on RGW: a locked damaged version cannot be deleted, so the dock copy is
    stored again as a new version, which the recording then names; only then is it released."""
    dock = tmp_path / "dock"
    dock.mkdir()
    clip = dock / "DSJ-A1_031245_20261127083015_0001.MP4"
    data = os.urandom(7 * MiB)
    clip.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    key = media_key(digest)
    bucket = new_bucket_name()
    env = s3_env(tmp_path / "home", db_url, s3_server, bucket, RECORDER_SYNC_S3_PART_SIZE_MIB="5")
    assert run(env, "ingest", str(dock), "--stable-seconds", "0").returncode == 0
    [rec] = run_json(env, "list")
    client = s3_server.client()
    first = client.stat_object(bucket, key).version_id
    assert rec["storage_uri"].endswith(f"?versionId={first}")
    if damage == "forged-version":  # a new latest version: other bytes, same size and metadata
        forged = os.urandom(len(data))
        client.put_object(bucket, key, io.BytesIO(forged), len(forged), metadata={"sha256": digest})
    else:
        client.remove_object(bucket, key)  # a delete marker on top

    clip.write_bytes(data)  # docked again
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr
    assert not clip.exists()
    latest = client.stat_object(bucket, key)
    assert latest.version_id not in (None, first)
    assert latest.metadata["x-amz-object-lock-mode"] == "COMPLIANCE"
    body = client.get_object(bucket, key)
    try:
        assert hashlib.sha256(body.read()).hexdigest() == digest
    finally:
        body.close()
        body.release_conn()
    [after] = run_json(env, "list")
    # (random bytes named .MP4 are unreadable media as well)
    assert after["state"] == "released" and after["flags"] == ["unreadable-media", "integrity-failure"]
    assert after["storage_uri"] == f"s3://{bucket}/{key}?versionId={latest.version_id}"
    # the original and the damage stay below it: COMPLIANCE forbids removing either
    listed = client.list_objects(bucket, prefix=key, include_version=True)
    kept = [o.version_id for o in listed if o.object_name == key]
    assert first in kept and len(kept) == 3
    events = run_json(env, "show", rec["id"])["custody_events"]
    actions = [e["action"] for e in events]
    assert story_from(events, "duplicate-seen") == RESTORE_STORY
    restored = events[actions.index("restored")]
    assert restored["details"]["version_id"] == latest.version_id
    assert restored["details"]["replaces"]["version_id"] == first


def test_manifest_and_signature_are_retained_as_long_as_the_media(
    tmp_path: Path, db_url: str, s3_server: S3Server
) -> None:
    """The evidence class keeps the media 10 years: its manifest and signature, which prove
    what it is, must not expire after the ordinary 180 days."""
    dock = tmp_path / "dock"
    dock.mkdir()
    data = os.urandom(4096)
    (dock / "DSJ-A1_031245_20261127083015_0001.MP4").write_bytes(data)
    config = tmp_path / "c.toml"
    config.write_text('[s3]\nretention_class = "evidence"\n')
    bucket = new_bucket_name()
    env = s3_env(tmp_path / "home", db_url, s3_server, bucket, RECORDER_SYNC_CONFIG=str(config))
    r = run(env, "ingest", str(dock), "--stable-seconds", "0", "-q")
    assert r.returncode in (0, 1), r.stderr  # random bytes named .MP4: unreadable-media, still stored
    digest = hashlib.sha256(data).hexdigest()
    client = s3_server.client()
    until = {  # minio's get_object_retention cannot parse RGW's nanosecond dates
        key: parse_s3_datetime(
            client.stat_object(bucket, key).metadata["x-amz-object-lock-retain-until-date"]
        )
        for key in (media_key(digest), manifest_key(digest), signature_key(digest))
    }
    media_until = until[media_key(digest)]
    assert media_until is not None and media_until - datetime.now(UTC) > timedelta(days=3600)
    for key, retained in until.items():
        assert retained is not None and abs(retained - media_until) < timedelta(minutes=5), (key, until)
