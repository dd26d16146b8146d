"""The tamper suite, evidence half (issue 9, cases 1-5 and 13): a real station ingests, someone
tampers with its store or database, and the real ``recorder-audit verify`` exits 3 naming the
problem and the recording; the untouched station verifies with exit 0 and no problem.

Runs on SQLite and PostgreSQL, with the local vault and (cases 1-3, which are about the
store) with a real Ceph RGW, where the auditor reads with the read-only policy
``config/s3-policy-auditor.json``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pty
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clirunner import EXE, env_for, run, run_json, run_script, s3_env
from minio import Minio
from minio.error import S3Error
from s3server import S3Server, bucket_policy, new_bucket_name
from sqlalchemy import text

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.keys import create_key
from recorder_sync.domain.canonical import canonical_bytes, parse
from recorder_sync.domain.checkpoint import NoteKey
from recorder_sync.domain.layout import manifest_key, media_key, signature_key
from recorder_sync.domain.signatures import key_id_from_pem
from recorder_sync.domain.trust import StationKey, TrustAnchors

AUDIT = str(Path(EXE).with_name("recorder-audit"))
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
# default naming profile: DEVICE_OFFICER_YYYYMMDDhhmmss_SEQ.EXT, so each row has a device,
# an officer, a start and an end from the name
FILES = {
    "CAM-01_031241_20261127083001_0001.mp4": 3000,
    "CAM-02_031242_20261127093002_0002.mp4": 5000,
    "CAM-03_031243_20261127103003_0003.mp4": 7000,
}


@dataclass
class Station:
    env: dict[str, str]
    home: Path
    db_url: str
    trust: Path
    recs: list[dict[str, Any]]
    tmp: Path
    log_keys: tuple[NoteKey, ...]

    def vault_file(self, key: str) -> Path:
        return self.home / "vault" / key

    def sql(self, statement: str, **params: Any) -> None:
        engine = make_engine(self.db_url)
        with engine.begin() as conn:
            conn.execute(text(statement), params)
        engine.dispose()

    def rec(self, index: int = 0) -> dict[str, Any]:
        return self.recs[index]


def write_trust(path: Path, pem: bytes, log_keys: tuple[NoteKey, ...], **window: datetime | None) -> Path:
    """Trust anchors with the station key in a window of the test's choosing, and the log key."""
    window.setdefault("valid_from", LONG_AGO)
    key = StationKey(key_id_from_pem(pem), "st-test", pem, **window)  # type: ignore[arg-type]
    path.write_bytes(TrustAnchors(log_keys=log_keys, station_keys=(key,)).to_json())
    return path


def make_station(tmp_path: Path, db_url: str, env: dict[str, str] | None = None) -> Station:
    env = env or env_for(tmp_path / "home", db_url)
    dock = tmp_path / "dock"
    dock.mkdir()
    for i, (name, size) in enumerate(FILES.items()):
        (dock / name).write_bytes((hashlib.sha256(f"{tmp_path}{i}".encode()).digest() * size)[:size])
    r = run(env, "ingest", str(dock), "--stable-seconds", "0", "--quiet")
    assert r.returncode == 0, r.stderr
    pem = run(env, "keys", "export-public").stdout.encode()
    log_keys = TrustAnchors.from_json(run(env, "keys", "export-trust").stdout.encode()).log_keys
    trust = write_trust(tmp_path / "trust.json", pem, log_keys)
    recs = sorted(run_json(env, "list"), key=lambda r: r["id"])
    assert len(recs) == len(FILES) and all(r["state"] == "released" for r in recs)
    assert all(r["device"] and r["officer"] and r["start"] for r in recs)
    return Station(env, tmp_path / "home", db_url, trust, recs, tmp_path, log_keys)


@pytest.fixture
def station(tmp_path: Path, db_url: str) -> Station:
    return make_station(tmp_path, db_url)


def audit(st: Station, *args: str, trust: Path | None = None) -> tuple[int, dict[str, Any]]:
    r = run_script(
        "recorder-audit", st.env, "verify", "--trust", str(trust or st.trust),
        "--state", str(st.tmp / "audit-state"), "--json", *args,
    )  # fmt: skip
    assert r.returncode in (0, 3, 4), r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] == (r.returncode == 0)
    return r.returncode, report


def problems(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(p["check"], p["subject"], p["reason"]) for p in report["problems"]]


def only_problem(report: dict[str, Any], check: str, rec: dict[str, Any], *words: str) -> None:
    """Exactly one problem, of ``check`` about ``rec``, whose reason holds every one of ``words``."""
    found = problems(report)
    assert len(found) == 1, found
    got_check, subject, reason = found[0]
    assert (got_check, subject) == (check, f"recording:{rec['id']}"), found
    assert all(w in reason for w in words), reason


def rewrite(path: Path, change: Callable[[bytes], bytes]) -> None:
    """What someone with the station's file rights does: make it writable, change it, put the
    read-only mode back so that only its bytes tell."""
    os.chmod(path, 0o644)
    path.write_bytes(change(path.read_bytes()))
    os.chmod(path, 0o444)


def flip(data: bytes) -> bytes:
    return data[:100] + bytes([data[100] ^ 1]) + data[101:]


# --- the untouched station -----------------------------------------------------------------------


def test_untouched_station_verifies_at_every_level_and_nothing_is_written(station: Station) -> None:
    # the auditor has no private key: the station's is not even there
    (station.home / "keys").rename(station.tmp / "keys-elsewhere")
    before = run_json(station.env, "status")
    vault_before = sorted(str(p) for p in (station.home / "vault").rglob("*"))
    for level in ("metadata", "sample", "full"):
        code, report = audit(station, "--level", level)
        assert code == 0 and report["problems"] == [] and report["unchecked"] == [], report
        assert report["checked"]["recordings"] == 3 and report["checked"]["objects"] == 9
        assert report["checked"].get("rehashed", 0) == (0 if level == "metadata" else 3)
    code, report = audit(station, "--level", "full")
    assert report["checked"]["rehashed_bytes"] == sum(FILES.values())
    # recorder-audit wrote nothing: no custody event, no file in the vault
    assert run_json(station.env, "status") == before
    assert sorted(str(p) for p in (station.home / "vault").rglob("*")) == vault_before


def test_plain_output_is_one_line_per_problem_and_a_summary(station: Station) -> None:
    rec = station.rec(1)
    station.sql("UPDATE recordings SET officer = '999999' WHERE id = :id", id=rec["id"])
    r = subprocess.run(
        [AUDIT, "verify", "--trust", str(station.trust), "--level", "metadata"],
        env=station.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 3, r.stderr
    assert r.stdout.splitlines() == [
        f"manifest: recording:{rec['id']}: the database's officer '999999' differs from the signed "
        f"manifest's '{rec['officer']}'"
    ]
    assert "1 problem(s)" in r.stderr


# --- 1-3: the stored objects ---------------------------------------------------------------------


def test_1_flipped_byte_is_found_by_full_and_by_a_sample_that_holds_it(station: Station) -> None:
    rec = station.rec(0)
    rewrite(station.vault_file(media_key(rec["sha256"])), flip)
    code, report = audit(station, "--level", "metadata")
    assert code == 0, report  # same size, same mode: only a re-hash can tell
    for args in (("--level", "full"), ("--level", "sample", "--sample", "3")):
        code, report = audit(station, *args)
        assert code == 3
        only_problem(
            report, "object", rec, media_key(rec["sha256"]), "re-hash failed: expected sha256", rec["sha256"]
        )


def test_2_object_replaced_by_other_bytes(station: Station) -> None:
    rec = station.rec(1)
    rewrite(station.vault_file(media_key(rec["sha256"])), lambda d: b"other bytes")
    for level in ("metadata", "full"):
        code, report = audit(station, "--level", level)
        assert code == 3
        only_problem(
            report, "object", rec, media_key(rec["sha256"]), f"11 bytes stored, {rec['size']} expected"
        )


def test_2_object_replaced_writable_is_reported(station: Station) -> None:
    rec = station.rec(1)
    path = station.vault_file(manifest_key(rec["sha256"]))
    os.chmod(path, 0o644)
    code, report = audit(station, "--level", "metadata")
    assert code == 3
    only_problem(report, "object", rec, manifest_key(rec["sha256"]), "writable (mode 0644")


def test_3_object_deleted(station: Station) -> None:
    rec = station.rec(2)
    station.vault_file(media_key(rec["sha256"])).unlink()
    code, report = audit(station, "--level", "sample")
    assert code == 3
    only_problem(report, "object", rec, media_key(rec["sha256"]), "missing from the store")

    station.vault_file(signature_key(rec["sha256"])).unlink()
    code, report = audit(station, "--level", "metadata")
    assert code == 3 and len(report["problems"]) == 2
    assert any(signature_key(rec["sha256"]) in p[2] and "missing" in p[2] for p in problems(report))


# --- 4, 5, 13: the manifests and the rows ----------------------------------------------------------


def test_4_manifest_re_signed_with_a_key_added_to_the_database_but_not_trusted(station: Station) -> None:
    rec = station.rec(0)
    forger = create_key(station.tmp / "forger" / "key")
    pem = forger.public_key_pem()
    fields = parse(station.vault_file(manifest_key(rec["sha256"])).read_bytes())
    fields["key_id"] = forger.key_id
    fields["metadata"]["officer"]["value"] = "777777"
    manifest = canonical_bytes(fields)
    signature = forger.sign(manifest)
    station.sql(
        "INSERT INTO station_keys (key_id, station, public_pem, first_used) VALUES (:k, 'st-test', :p, :t)",
        k=forger.key_id,
        p=pem,
        t=datetime.now(UTC),
    )
    station.sql(
        "UPDATE recordings SET manifest = :m, signature = :s, key_id = :k, officer = '777777' WHERE id = :id",
        m=manifest,
        s=signature,
        k=forger.key_id,
        id=rec["id"],
    )
    rewrite(station.vault_file(manifest_key(rec["sha256"])), lambda _: manifest)
    rewrite(station.vault_file(signature_key(rec["sha256"])), lambda _: signature)

    code, report = audit(station, "--level", "metadata")
    assert code == 3
    found = problems(report)
    assert {(c, s) for c, s, _ in found} == {("manifest", f"recording:{rec['id']}")}, found
    reasons = " | ".join(r for _, _, r in found)
    assert f"{forger.key_id}: not a key of the trust anchors" in reasons
    assert "is not the one the log's 'signed' event" in reasons and "bound" in reasons


@pytest.mark.slow
def test_5_officer_or_start_edited_in_the_database(station: Station) -> None:
    rec = station.rec(2)
    station.sql("UPDATE recordings SET officer = '000001' WHERE id = :id", id=rec["id"])
    code, report = audit(station, "--level", "metadata")
    assert code == 3
    only_problem(report, "manifest", rec, "officer '000001'", f"signed manifest's '{rec['officer']}'")

    station.sql("UPDATE recordings SET officer = :o WHERE id = :id", o=rec["officer"], id=rec["id"])
    station.sql("UPDATE recordings SET start = ingested_at WHERE id = :id", id=rec["id"])
    code, report = audit(station, "--level", "metadata")
    assert code == 3
    only_problem(report, "manifest", rec, "start", "differs from the signed manifest's")


@pytest.mark.parametrize(
    "window, words",
    [
        ({"valid_until": LONG_AGO + timedelta(days=1)}, "after its validity ended"),
        ({"valid_from": datetime(2099, 1, 1, tzinfo=UTC)}, "before its validity began"),
        ({"revoked_at": LONG_AGO + timedelta(days=1)}, "after it was revoked"),
    ],
)
def test_13_manifest_signed_by_a_trusted_key_outside_its_window(
    station: Station, window: dict[str, datetime], words: str
) -> None:
    pem = run(station.env, "keys", "export-public").stdout.encode()
    trust = write_trust(station.tmp / "narrow.json", pem, station.log_keys, **window)
    code, report = audit(station, "--level", "metadata", trust=trust)
    assert code == 3
    found = problems(report)
    assert sorted(s for _, s, _ in found) == sorted(f"recording:{r['id']}" for r in station.recs)
    assert all(c == "manifest" and words in r for c, _, r in found), found


def test_since_limits_to_recordings_signed_since_then(station: Station) -> None:
    station.sql("UPDATE recordings SET officer = '000001'")
    code, report = audit(station, "--level", "metadata", "--since", "2099-01-01T00:00:00Z")
    assert code == 0 and report["checked"]["recordings"] == 0, report
    code, report = audit(station, "--level", "metadata", "--since", "2020-01-01T00:00:00+08:00")
    assert code == 3 and len(report["problems"]) == 3


# --- could not check -------------------------------------------------------------------------------


def test_store_down_is_exit_4_and_the_manifests_are_still_checked(station: Station) -> None:
    (station.home / "vault").rename(station.home / "vault-unmounted")
    station.sql("UPDATE recordings SET officer = '000001' WHERE id = :id", id=station.rec(0)["id"])
    code, report = audit(station, "--level", "full")
    assert code == 3  # a problem outranks what could not be checked
    assert [p["check"] for p in report["unchecked"]] == ["log", "store"]  # the log's checkpoints too
    assert "3 recording(s) were not checked" in report["unchecked"][1]["reason"]
    station.sql(
        "UPDATE recordings SET officer = :o WHERE id = :id",
        o=station.rec(0)["officer"],
        id=station.rec(0)["id"],
    )
    code, report = audit(station, "--level", "full")
    assert code == 4 and report["problems"] == [], report


def test_database_down_is_exit_4(station: Station) -> None:
    env = dict(station.env)
    if station.db_url.startswith("sqlite"):
        env["RECORDER_SYNC_DATABASE_URL"] = f"sqlite:///{station.tmp / 'gone.db'}"
    else:
        env["RECORDER_SYNC_DATABASE_URL"] = station.db_url.rsplit("/", 1)[0] + "/no_such_database"
    station.env = env
    code, report = audit(station, "--level", "metadata")
    assert code == 4 and report["problems"] == []
    assert [p["check"] for p in report["unchecked"]] == ["database"]
    assert not (station.tmp / "gone.db").exists()  # never created


@pytest.mark.slow
def test_bad_trust_file_or_since_is_a_usage_error(station: Station) -> None:
    bad = station.tmp / "bad.json"
    bad.write_text("{}")
    for args in (
        ["--trust", str(bad)],
        ["--trust", str(station.trust), "--since", "yesterday"],
        ["--trust", str(station.trust), "--level", "full", "--sample", "5"],
        ["--trust", str(station.tmp / "absent.json")],
    ):
        r = subprocess.run(
            [AUDIT, "verify", *args], env=station.env, capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 2 and r.stderr.startswith("recorder-audit: "), r.stderr


@pytest.mark.slow
def test_progress_with_bytes_and_eta_only_on_a_terminal(station: Station) -> None:
    args = [AUDIT, "verify", "--trust", str(station.trust), "--level", "full"]
    piped = subprocess.run(args, env=station.env, capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0 and "re-hash" not in piped.stderr, piped.stderr
    main, terminal = pty.openpty()
    try:
        shown = subprocess.run(args, env=station.env, stdout=subprocess.PIPE, stderr=terminal, timeout=300)
        os.close(terminal)
        seen = b""
        while chunk := _read_pty(main):
            seen += chunk
    finally:
        os.close(main)
    assert shown.returncode == 0
    line = seen.decode().replace("\r", "\n")
    assert "re-hash" in line and "of 0 MB (100 %" in line and "ETA" in line, line


def _read_pty(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: the writer closed its end
        return b""


# --- on RGW, with the auditor's read-only credentials ----------------------------------------------

AUDITOR_POLICY = Path(__file__).resolve().parents[2] / "config" / "s3-policy-auditor.json"


@dataclass
class S3Station:
    station: Station
    owner: Minio
    auditor: Minio
    bucket: str


@pytest.fixture
def s3_station(tmp_path: Path, db_url: str, s3_server: S3Server) -> S3Station:
    """A station storing to RGW as the bucket's owner; the audit reads as a user that has only
    the auditor policy."""
    bucket = new_bucket_name()
    st = make_station(tmp_path, db_url, s3_env(tmp_path / "home", db_url, s3_server, bucket))
    user = s3_server.create_user("auditor")
    owner = s3_server.client()
    owner.set_bucket_policy(bucket, bucket_policy(AUDITOR_POLICY, bucket, user))
    st.env |= {"RECORDER_SYNC_S3_ACCESS_KEY": user.access_key, "RECORDER_SYNC_S3_SECRET_KEY": user.secret_key}
    return S3Station(st, owner, s3_server.client(user), bucket)


@pytest.mark.slow
def test_rgw_auditor_policy_verifies_everything_and_can_neither_put_nor_delete(s3_station: S3Station) -> None:
    st, bucket = s3_station.station, s3_station.bucket
    for level in ("metadata", "full"):
        code, report = audit(st, "--level", level)
        assert code == 0 and report["problems"] == [] and report["unchecked"] == [], report
        assert report["checked"]["objects"] == 9
    assert report["checked"]["rehashed"] == 3

    auditor, key = s3_station.auditor, media_key(st.rec(0)["sha256"])
    assert auditor.stat_object(bucket, key).size == st.rec(0)["size"]
    assert len(auditor.get_object(bucket, key).read()) == st.rec(0)["size"]
    listed = [o.object_name for o in auditor.list_objects(bucket, recursive=True)]
    checkpoints = [name for name in listed if name and name.startswith("log/")]
    assert len(listed) - len(checkpoints) == 9 and checkpoints  # evidence, and the log's checkpoint
    assert report["checked"]["checkpoints"] == len(checkpoints)  # read with the auditor's rights
    version = auditor.stat_object(bucket, key).version_id
    for attempt in (
        lambda: auditor.put_object(bucket, key, io.BytesIO(b"forged"), 6),
        lambda: auditor.put_object(bucket, "new-object", io.BytesIO(b"x"), 1),
        lambda: auditor.remove_object(bucket, key),
        lambda: auditor.remove_object(bucket, key, version_id=version),
    ):
        with pytest.raises(S3Error) as denied:
            attempt()
        assert denied.value.code == "AccessDenied"
    versions = s3_station.owner.list_objects(bucket, prefix=key, include_version=True)
    assert [o.version_id for o in versions if o.object_name == key] == [version]
    assert len(list(s3_station.owner.list_objects(bucket, recursive=True))) == len(listed)  # nothing new


@pytest.mark.slow
@pytest.mark.parametrize("replacement", ["flipped", "other"])
def test_rgw_1_2_object_replaced_by_a_new_version(s3_station: S3Station, replacement: str) -> None:
    """Object Lock keeps the stored version, but anyone who may put can put a newer one, which
    is what readers get: the version check names it."""
    st, bucket = s3_station.station, s3_station.bucket
    rec = st.rec(1)
    key = media_key(rec["sha256"])
    data = s3_station.owner.get_object(bucket, key).read()
    new = flip(data) if replacement == "flipped" else b"other bytes"
    s3_station.owner.put_object(bucket, key, io.BytesIO(new), len(new))
    for level in ("metadata", "full"):
        code, report = audit(st, "--level", level)
        assert code == 3
        words = (
            ("latest version", "not the stored version") if replacement == "flipped" else ("11 bytes stored",)
        )
        only_problem(report, "object", rec, key, *words)


def test_rgw_3_object_deleted(s3_station: S3Station) -> None:
    st, bucket = s3_station.station, s3_station.bucket
    rec = st.rec(2)
    s3_station.owner.remove_object(bucket, media_key(rec["sha256"]))  # a delete marker over it
    code, report = audit(st, "--level", "sample")
    assert code == 3
    only_problem(report, "object", rec, media_key(rec["sha256"]), "missing from the store")


def test_rgw_down_is_exit_4(s3_station: S3Station, s3_server: S3Server) -> None:
    st = s3_station.station
    st.env["RECORDER_SYNC_S3_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens there
    code, report = audit(st, "--level", "metadata")
    assert (
        code == 4
        and report["problems"] == []
        and [p["check"] for p in report["unchecked"]] == ["log", "store"]
    )


def test_reads_the_configuration_recorder_sync_reads(tmp_path: Path) -> None:
    """``--config`` and the ``RECORDER_SYNC_*`` variables mean what they mean for recorder-sync."""
    env = env_for(tmp_path / "home", "sqlite:///unused.db")
    r = subprocess.run(
        [AUDIT, "--config", str(tmp_path / "absent.toml"), "verify", "--trust", "t.json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "the configuration file does not exist" in r.stderr, r.stderr
    config = tmp_path / "audit.toml"
    config.write_text('database_url = "sqlite:///relative/nowhere.db"\n')
    env.pop("RECORDER_SYNC_DATABASE_URL")
    trust = write_trust(tmp_path / "trust.json", create_key(tmp_path / "k" / "key").public_key_pem(), ())
    r = subprocess.run(
        [AUDIT, "--config", str(config), "verify", "--trust", str(trust), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert r.returncode == 4, r.stderr
    assert "nowhere.db" in json.loads(r.stdout)["unchecked"][0]["reason"]
    assert not (tmp_path / "relative").exists()
