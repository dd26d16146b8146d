"""Derived material on a real Ceph RGW: ``recorder-replay export`` with the replay policy
(``config/s3-policy-replay.json``) stores the clip, provenance and signature under
``derived/`` with COMPLIANCE retention, and can put nowhere else; without the right to put
there, nothing is handed out. ``recorder-audit`` checks it; an auditor whose credentials may
not read retention gets "could not check" (exit 4), not a failure."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clirunner import s3_env
from minio.error import S3Error
from s3server import S3Server, S3User, bucket_policy, new_bucket_name
from test_replay_cli import events
from test_replay_derived import export, make_station
from test_tamper_evidence import AUDITOR_POLICY, Station, audit

from recorder_sync.domain.layout import checkpoint_prefix, media_key

REPLAY_POLICY = Path(__file__).resolve().parents[2] / "config" / "s3-policy-replay.json"


def replay_policy(bucket: str, user: S3User, *, without: str | None = None) -> str:
    """The replay policy for ``user`` on ``bucket`` (less the statement ``without``)."""
    text = REPLAY_POLICY.read_text(encoding="utf-8").replace("arn:aws:iam:::user/recorder-replay", user.arn)
    doc = json.loads(text.replace("arn:aws:s3:::recorder-sync-evidence", f"arn:aws:s3:::{bucket}"))
    doc["Statement"] = [s for s in doc["Statement"] if s["Sid"] != without]
    return json.dumps(doc)


def as_user(st: Station, user: S3User) -> dict[str, str]:
    return st.env | {
        "RECORDER_SYNC_S3_ACCESS_KEY": user.access_key,
        "RECORDER_SYNC_S3_SECRET_KEY": user.secret_key,
    }


@pytest.fixture
def rgw_station(tmp_path: Path, db_url: str, s3_server: S3Server) -> tuple[Station, str]:
    bucket = new_bucket_name()
    return make_station(tmp_path, s3_env(tmp_path / "home", db_url, s3_server, bucket)), bucket


@pytest.mark.slow
def test_replay_stores_derived_material_under_derived_only_and_locked(
    rgw_station: tuple[Station, str], s3_server: S3Server
) -> None:
    station, bucket = rgw_station
    owner = s3_server.client()
    user, auditor = s3_server.create_user("replay"), s3_server.create_user("auditor")
    # one bucket policy for both: replay adds derived material, the auditor reads everything
    # (objects belong to who wrote them: the auditor and replay read by the policy's grant)
    doc = json.loads(replay_policy(bucket, user))
    doc["Statement"] += json.loads(bucket_policy(AUDITOR_POLICY, bucket, auditor))["Statement"]
    owner.set_bucket_policy(bucket, json.dumps(doc))
    replaying = Station(**{**station.__dict__, "env": as_user(station, user)})
    reader = s3_server.client(auditor)

    r = export(replaying, "--from", "00:00:02", "--to", "00:00:04")
    assert r.returncode == 0, r.stderr
    [event] = events(station.db_url, "derived")
    d = event["details"]
    for part in (d["files"][0], d["provenance"], d["signature"]):
        key, version = part["key"], part["version_id"]
        assert key.startswith("derived/")
        obj = reader.stat_object(bucket, key, version_id=version)
        assert obj.metadata["x-amz-object-lock-mode"] == "COMPLIANCE"
        until = datetime.fromisoformat(
            obj.metadata["x-amz-object-lock-retain-until-date"].replace("Z", "+00:00")
        )
        assert until > datetime.now(UTC)
    clip = (station.tmp / "out").glob("*.mp4")
    assert reader.get_object(bucket, d["files"][0]["key"]).read() == next(clip).read_bytes()

    # the replay credentials put under derived/ and nowhere else, and delete nothing
    client = s3_server.client(user)
    evidence = media_key(station.rec()["sha256"])
    checkpoints = [o.object_name for o in owner.list_objects(bucket, prefix="log/", recursive=True)]
    assert checkpoints and checkpoints[0].startswith(checkpoint_prefix("st-test").split("/")[0])
    for attempt in (
        lambda: client.put_object(bucket, evidence, io.BytesIO(b"forged"), 6),
        lambda: client.put_object(bucket, "sha256/00/00/new", io.BytesIO(b"x"), 1),
        lambda: client.put_object(bucket, str(checkpoints[0]), io.BytesIO(b"x"), 1),
        lambda: client.remove_object(bucket, evidence),
        lambda: client.remove_object(bucket, d["files"][0]["key"], version_id=d["files"][0]["version_id"]),
    ):
        with pytest.raises(S3Error) as denied:
            attempt()
        assert denied.value.code == "AccessDenied"

    # the auditor verifies it all, with the auditor's read-only credentials
    code, report = audit(Station(**{**station.__dict__, "env": as_user(station, auditor)}), "--level", "full")
    assert code == 0 and report["problems"] == [] and report["checked"]["derived"] == 1, report


@pytest.mark.slow
def test_without_the_right_to_put_derived_material_nothing_is_handed_out(
    rgw_station: tuple[Station, str], s3_server: S3Server
) -> None:
    station, bucket = rgw_station
    user = s3_server.create_user("replay")
    policy = replay_policy(bucket, user, without="ReplayStoresDerivedMaterialUnderDerivedOnly")
    s3_server.client().set_bucket_policy(bucket, policy)
    replaying = Station(**{**station.__dict__, "env": as_user(station, user)})
    r = export(replaying, "--from", "00:00:02", "--to", "00:00:04")
    assert r.returncode == 4, r.stderr
    assert "The derived file was not stored as evidence" in r.stderr and "AccessDenied" in r.stderr
    assert list((station.tmp / "out").iterdir()) == []
    access, outcome = events(station.db_url, "exported")
    assert outcome["details"]["access_seq"] == access["seq"] and outcome["details"]["outcome"] == "failed"
    assert events(station.db_url, "derived") == []


@pytest.mark.slow
def test_an_auditor_who_may_not_read_retention_could_not_check_it(
    rgw_station: tuple[Station, str], s3_server: S3Server
) -> None:
    station, bucket = rgw_station
    user = s3_server.create_user("auditor")
    doc: dict[str, Any] = json.loads(bucket_policy(AUDITOR_POLICY, bucket, user))
    for statement in doc["Statement"]:
        if statement["Effect"] == "Allow":
            statement["Action"] = [a for a in statement["Action"] if a != "s3:GetObjectRetention"]
    s3_server.client().set_bucket_policy(bucket, json.dumps(doc))
    auditing = Station(**{**station.__dict__, "env": as_user(station, user)})
    code, report = audit(auditing, "--level", "full")
    assert code == 4 and report["problems"] == [], report
    assert any("Could not check the retention of" in p["reason"] for p in report["unchecked"]), report
