"""``recorder-replay play`` on a real Ceph RGW: it fetches the version that was stored and
verified, not whatever was written under the key later."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clirunner import run, run_json
from minio.error import S3Error
from s3server import S3Server, new_bucket_name
from test_replay_cli import PLAYER, USER, events, replay, set_roster, station_trust
from test_s3_pipeline import s3_env

from recorder_sync.adapters.s3store import S3Store
from recorder_sync.apps.config import load as load_settings
from recorder_sync.domain.layout import media_key


@pytest.mark.slow
def test_play_fetches_the_pinned_version_not_a_later_one(tmp_path: Path, s3_server: S3Server) -> None:
    home = tmp_path / "home"
    env = s3_env(home, f"sqlite:///{tmp_path / 'db.sqlite'}", s3_server, new_bucket_name())
    env["PLAYER_LOG"] = str(tmp_path / "player.json")
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "DSJ-A1_031245_20261127083015_0001.MP4").write_bytes(b"evidence on rgw " * 300)
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr
    [rec] = run_json(env, "list")
    assert "?versionId=" in rec["storage_uri"]
    # a later write under the same key (a new version; the locked one stays)
    client = s3_server.client()
    key = media_key(rec["sha256"])
    other = b"not the evidence " * 300
    client.put_object(env["RECORDER_SYNC_S3_BUCKET"], key, io.BytesIO(other), len(other))
    latest = client.get_object(env["RECORDER_SYNC_S3_BUCKET"], key)
    assert latest.read() == other
    latest.close()

    set_roster(env, tmp_path, f"{USER},,supervisor,")
    trust = station_trust(home, tmp_path)
    player = tmp_path / "player.py"
    player.write_text(PLAYER.format(python=sys.executable), encoding="utf-8")
    player.chmod(0o755)
    r = replay(env, "play", rec["id"], "--player", str(player), "--trust", str(trust), "--reason", "review")
    assert r.returncode == 0, r.stderr
    played = json.loads(Path(env["PLAYER_LOG"]).read_text(encoding="utf-8"))
    assert played["sha256"] == rec["sha256"]


REPLAY_POLICY = Path(__file__).resolve().parents[2] / "config" / "s3-policy-replay.json"


def test_replay_reads_with_its_own_get_and_stat_only_credentials(tmp_path: Path, s3_server: S3Server) -> None:
    home = tmp_path / "home"
    bucket = new_bucket_name()
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    station = s3_env(home, db, s3_server, bucket)
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "DSJ-A1_031245_20261127083015_0001.MP4").write_bytes(b"evidence on rgw " * 300)
    assert run(station, "ingest", str(dock), "--stable-seconds", "0").returncode == 0
    [rec] = run_json(station, "list")
    set_roster(station, tmp_path, f"{USER},,supervisor,")
    trust = station_trust(home, tmp_path)

    reader = s3_server.create_user("replay")
    policy = REPLAY_POLICY.read_text(encoding="utf-8")
    policy = policy.replace("arn:aws:iam:::user/recorder-replay", reader.arn)
    policy = policy.replace("arn:aws:s3:::recorder-sync-evidence", f"arn:aws:s3:::{bucket}")
    owner = s3_server.client()
    owner.set_bucket_policy(bucket, json.dumps(json.loads(policy)))
    env = station | {
        "RECORDER_SYNC_S3_ACCESS_KEY": reader.access_key,
        "RECORDER_SYNC_S3_SECRET_KEY": reader.secret_key,
    }
    key = media_key(rec["sha256"])
    later = b"written later " * 300
    owner.put_object(bucket, key, io.BytesIO(later), len(later))  # a newer version under the key

    r = replay(env, "url", rec["id"], "--reason", "sent to the prosecutor", "--trust", str(trust))
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert "X-Amz-Expires=300" in url and "versionId=" in url  # 5 minutes, that version
    with urllib.request.urlopen(url, timeout=30) as got:
        assert hashlib.sha256(got.read()).hexdigest() == rec["sha256"]
    [access] = [e for e in events(db, "accessed") if e["details"]["how"] == "url"]
    assert access["reason"] == "sent to the prosecutor" and access["details"]["version_id"] in url

    # at most 15 minutes, refused before anything is logged
    r = replay(env, "url", rec["id"], "--reason", "x", "--minutes", "16", "--trust", str(trust))
    assert r.returncode == 2 and "1 to 15 minutes" in r.stderr
    assert len(events(db, "accessed")) == 1

    # a URL signed as of 10 minutes ago for 5 minutes has expired: the server refuses it
    settings = load_settings(env=env)
    assert settings.s3 is not None
    store = S3Store(settings.s3, clock=lambda: datetime.now(UTC))
    old = store.presigned_get(
        key,
        rec["storage_uri"].split("versionId=")[1],
        timedelta(minutes=5),
        datetime.now(UTC) - timedelta(minutes=10),
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(old, timeout=30)
    assert refused.value.code == 403

    # the replay credentials read, and nothing else
    client = s3_server.client(reader)
    for attempt in (
        lambda: client.put_object(bucket, key, io.BytesIO(b"x"), 1),
        lambda: client.remove_object(bucket, key),
    ):
        with pytest.raises(S3Error) as denied:
            attempt()
        assert denied.value.code == "AccessDenied"
