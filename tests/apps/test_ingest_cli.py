"""End to end: the real CLI on a real sample dock (ffmpeg-made media and every bad case)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
import sample_dock
from clirunner import RESTORE_STORY, env_for, run, run_json, story_from

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain.custody import verify_chain
from recorder_sync.domain.layout import media_key


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def dock(tmp_path: Path) -> tuple[Path, dict[str, Path], dict[str, str]]:
    d = tmp_path / "dock"
    sample_dock.build_sample_dock(d)
    bad = sample_dock.build_bad_cases(d)
    # what every regular file hashed to before ingest: nothing may be lost
    hashes = {str(p.relative_to(d)): sha(p) for p in d.rglob("*") if p.is_file() and not p.is_symlink()}
    return d, bad, hashes


def test_ingest_sample_dock_with_bad_cases(
    dock: tuple[Path, dict[str, Path], dict[str, str]], tmp_path: Path, db_url: str
) -> None:
    d, bad, before = dock
    env = env_for(tmp_path / "home", db_url)
    r = run(env, "ingest", str(d), "--stable-seconds", "0.2")
    # the symbolic link out of the dock is refused, so the run reports an incomplete ingest
    assert r.returncode == 1, r.stderr
    assert "1 of" in r.stderr and "symbolic link" in r.stderr
    target = bad["symlink_out"].resolve()
    assert target.exists() and bad["symlink_out"].is_symlink()  # neither followed nor deleted

    recs = run_json(env, "list")
    by_sha = {r["sha256"]: r for r in recs}
    # every regular file's bytes are stored exactly once, verified, and the dock copy released
    assert set(by_sha) == set(before.values())
    assert len(recs) == len(set(before.values())) == len(before) - 1  # one duplicate pair
    vault = tmp_path / "home" / "vault"
    for digest in before.values():
        stored = vault / media_key(digest)
        assert stored.exists() and sha(stored) == digest
        assert stored.stat().st_mode & 0o222 == 0
        assert by_sha[digest]["state"] == "released"
        assert by_sha[digest]["storage_uri"] == stored.as_uri()
    assert not [p for p in d.rglob("*") if p.is_file() and not p.is_symlink()]

    for key in (
        "id",
        "sha256",
        "size",
        "kind",
        "state",
        "device",
        "officer",
        "start",
        "end",
        "source_path",
        "storage_uri",
        "flags",
    ):
        assert all(key in rec for rec in recs), key
    first = by_sha[before["DSJ-A1B2C3_031245_20261127083015_0001.MP4"]]
    assert (first["device"], first["officer"], first["kind"]) == ("DSJ-A1B2C3", "031245", "video")
    assert first["start"] == "2026-11-27T00:30:15+00:00" and first["end"] == "2026-11-27T00:30:19+00:00"
    folders = by_sha[before["DSJ-77Q1/20261127/031246_075840_0001.MP4"]]
    assert folders["device"] == "DSJ-77Q1" and folders["start"] == "2026-11-26T23:58:40+00:00"

    # bad media is preserved and flagged, not dropped
    flags = run_json(env, "flags")
    kinds = {(f["kind"], f["subject"]) for f in flags}
    for name in ("truncated_mp4", "zero_byte", "random_mp4"):
        rec = by_sha[before[str(bad[name].relative_to(d))]]
        assert rec["flags"] == ["unreadable-media"] and rec["state"] == "released"
        assert ("unreadable-media", f"recording:{rec['id']}") in kinds
    assert any(f["kind"] == "rejected-file" and "symbolic link" in f["detail"] for f in flags)
    for f in flags:
        assert set(f) >= {"kind", "severity", "state", "subject", "detail"}
    # odd names went through untouched
    assert any("\n" in rec["source_path"] for rec in recs)
    assert any("查封扣押" in rec["source_path"] for rec in recs)

    # custody: one unbroken chain; the duplicate was seen, not stored twice
    catalog = SqlCatalog(make_engine(db_url), station="x", actor="x")
    events = catalog.events()
    assert verify_chain(events) == len(events)
    dup = by_sha[before[str(bad["duplicate_a"].relative_to(d))]]
    assert [e.fields["action"] for e in catalog.events(dup["id"])].count("duplicate-seen") == 1

    status = run_json(env, "status")
    assert status["backlog"] == 0 and status["recordings"] == {"released": len(recs)}


def openssl_verify(folder: Path) -> subprocess.CompletedProcess[str]:
    """What an auditor runs, with nothing of ours."""
    cmd = (
        "openssl pkeyutl -verify -pubin -inkey station.pub.pem -rawin -in manifest.json -sigfile manifest.sig"
    )
    return subprocess.run(cmd.split(), cwd=folder, capture_output=True, text=True)


def test_manifest_verifies_with_openssl_alone(tmp_path: Path, db_url: str) -> None:
    d = tmp_path / "dock"
    d.mkdir()
    sample_dock.make_video(
        d / "DSJ-A1_031245_20261127083015_0001.MP4", start=sample_dock.sample_plan()[0].start, seconds=2
    )
    env = env_for(tmp_path / "home", db_url)
    assert run(env, "ingest", str(d), "--stable-seconds", "0").returncode == 0
    rec = run_json(env, "list")[0]
    out = tmp_path / "m"
    assert run(env, "manifest", rec["id"], "--out", str(out)).returncode == 0
    r = openssl_verify(out)
    assert r.returncode == 0 and "Signature Verified Successfully" in r.stdout
    assert len((out / "manifest.sig").read_bytes()) == 64
    assert rec["sha256"].encode() in (out / "manifest.json").read_bytes()
    (out / "manifest.json").write_bytes((out / "manifest.json").read_bytes().replace(b"031245", b"031246"))
    r = openssl_verify(out)
    assert r.returncode != 0
    key = tmp_path / "home" / "keys" / "station.key"
    assert key.stat().st_mode & 0o777 == 0o600 and key.parent.stat().st_mode & 0o777 == 0o700
    shown = run_json(env, "show", rec["id"])
    assert [e["action"] for e in shown["custody_events"]][:1] == ["hashed"]
    assert shown["manifest"]["sha256"] == rec["sha256"]


def test_keep_policy_leaves_the_dock_alone(tmp_path: Path, db_url: str) -> None:
    d = tmp_path / "dock"
    d.mkdir()
    sample_dock.make_audio(
        d / "DSJ-A1_031245_20261127083015_0001.WAV", start=sample_dock.sample_plan()[0].start, seconds=1
    )
    env = env_for(tmp_path / "home", db_url, RECORDER_SYNC_RELEASE_POLICY="keep")
    assert run(env, "ingest", str(d), "--stable-seconds", "0").returncode == 0
    assert (d / "DSJ-A1_031245_20261127083015_0001.WAV").exists()
    assert run_json(env, "list")[0]["state"] == "verified"
    # ingesting the same folder again is a no-op
    assert run(env, "ingest", str(d), "--stable-seconds", "0").returncode == 0
    assert len(run_json(env, "list")) == 1


def test_file_still_being_written_is_taken_only_when_complete(tmp_path: Path, db_url: str) -> None:
    d = tmp_path / "dock"
    d.mkdir()
    data = os.urandom(3 * 1024 * 1024)
    path = d / "DSJ-A1_031245_20261127083015_0001.MP4"
    writer = sample_dock.write_slowly(path, data, chunk=256 * 1024, delay=0.15)
    env = env_for(tmp_path / "home", db_url, RECORDER_SYNC_RELEASE_POLICY="keep")
    r = run(env, "ingest", str(d), "--stable-seconds", "1")
    writer.join()
    assert r.returncode == 0, r.stderr
    recs = run_json(env, "list")
    assert [rec["sha256"] for rec in recs] == [hashlib.sha256(data).hexdigest()]


def test_bad_config_and_missing_path_fail_clearly(tmp_path: Path, db_url: str) -> None:
    env = env_for(tmp_path / "home", db_url, RECORDER_SYNC_RELEASE_POLICY="shred")
    r = run(env, "status")
    assert r.returncode == 2 and "release_policy" in r.stderr and "'delete' or 'keep'" in r.stderr
    env = env_for(tmp_path / "home", db_url)
    r = run(env, "ingest", str(tmp_path / "nope"))
    assert r.returncode == 2 and "no such file or folder" in r.stderr
    r = run(env, "show", "rec-doesnotexist")
    assert r.returncode == 6 and "not found" in r.stderr.lower()


def test_readable_key_is_refused(tmp_path: Path, db_url: str) -> None:
    env = env_for(tmp_path / "home", db_url)
    assert run(env, "keys", "init").returncode == 0
    key = tmp_path / "home" / "keys" / "station.key"
    key.chmod(0o644)
    d = tmp_path / "dock"
    d.mkdir()
    (d / "x.bin").write_bytes(b"x")
    r = run(env, "ingest", str(d), "--stable-seconds", "0")
    assert r.returncode == 5 and "chmod 600" in r.stderr
    assert (d / "x.bin").exists()


def test_names_that_are_not_utf8_are_ingested_probed_and_released(tmp_path: Path, db_url: str) -> None:
    """A camera card with GBK names: nothing crashes, the video is read by ffprobe through its
    real name, and the operator sees the undecodable bytes as \\xNN."""
    d = tmp_path / "dock"
    d.mkdir()
    made = tmp_path / "made.mp4"
    sample_dock.make_video(made, start=sample_dock.sample_plan()[0].start, seconds=1)
    raw = os.path.join(os.fsencode(d), "执法".encode("gbk"))
    os.mkdir(raw)
    raw_file = os.path.join(raw, "查封_0001.MP4".encode("gbk"))
    os.rename(made, raw_file)
    digest = sha(Path(os.fsdecode(raw_file)))
    env = env_for(tmp_path / "home", db_url)
    r = run(env, "ingest", str(d), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr
    [rec] = run_json(env, "list")
    shown = "\u05b4\\xb7\\xa8/\\xb2\\xe9\\xb7\\xe2_0001.MP4"  # d6 b4 happens to be UTF-8
    assert (rec["sha256"], rec["kind"], rec["source_path"]) == (digest, "video", shown)
    assert rec["flags"] == []
    assert not os.path.exists(raw_file)  # released only after the stored copy verified
    assert run(env, "show", rec["id"]).returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("how", ["deleted", "corrupted"])
def test_redocked_file_restores_a_damaged_vault_object_before_it_is_released(
    tmp_path: Path, db_url: str, how: str
) -> None:
    """Issue 7, item 2: the re-docked copy may be the last good one; it goes only once the
    vault holds a good copy again, and the recording's flags and custody log say what happened."""
    d = tmp_path / "dock"
    d.mkdir()
    clip = d / "DSJ-A1_031245_20261127083015_0001.MP4"
    sample_dock.make_video(clip, start=sample_dock.sample_plan()[0].start, seconds=1)
    camera = clip.read_bytes()
    env = env_for(tmp_path / "home", db_url)
    assert run(env, "ingest", str(d), "--stable-seconds", "0").returncode == 0
    [rec] = run_json(env, "list")
    stored = tmp_path / "home" / "vault" / media_key(rec["sha256"])
    if how == "deleted":
        stored.unlink()
    else:
        stored.chmod(0o644)
        stored.write_bytes(camera[:-1] + bytes([camera[-1] ^ 1]))
        stored.chmod(0o444)

    clip.write_bytes(camera)  # the camera is docked again
    r = run(env, "ingest", str(d), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr
    assert sha(stored) == rec["sha256"] and stored.stat().st_mode & 0o222 == 0
    assert not clip.exists()  # released, after the restored copy verified
    [after] = run_json(env, "list")
    assert after["state"] == "released" and after["flags"] == ["integrity-failure"]
    assert after["verified_at"] == rec["verified_at"]  # the upload was in time; not late now
    [flag] = run_json(env, "flags")
    assert flag["kind"] == "integrity-failure" and flag["severity"] == "critical"
    assert clip.name in flag["detail"] and "kept until the new copy verifies" in flag["detail"]
    events = run_json(env, "show", rec["id"])["custody_events"]
    actions = [e["action"] for e in events]
    assert story_from(events, "duplicate-seen") == RESTORE_STORY
    failure = events[actions.index("integrity-failure")]
    assert failure["details"]["uri"] == stored.as_uri() and failure["details"]["was"] == "released"
    restored = events[actions.index("restored")]
    assert restored["details"]["uri"] == stored.as_uri()
    assert restored["details"]["replaces"] == {"uri": stored.as_uri()}
