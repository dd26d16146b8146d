"""The key lifecycle through the real CLI: a replaced key is signed by the one it replaces (a
rotation statement), a revoked key's later signatures are reported by ``recorder-audit
verify`` while its earlier ones stay valid, ``keys list`` shows the whole history, and the
exported trust anchors carry it so that an auditor checks each rotation."""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clirunner import env_for, run, run_json, run_script
from softhsm import Token

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.db.schema import StationKeyRow
from recorder_sync.domain.custody import verify_chain
from recorder_sync.domain.signatures import raw_public_key
from recorder_sync.domain.times import utc_iso
from recorder_sync.domain.trust import TrustAnchors


def ingest(env: dict[str, str], dock: Path, *names: str) -> subprocess.CompletedProcess[str]:
    dock.mkdir(exist_ok=True)
    for name in names:
        (dock / name).write_bytes(f"{name} {dock}\n".encode())
    return run(env, "ingest", str(dock), "--stable-seconds", "0")


def station_keys(env: dict[str, str]) -> list[dict[str, Any]]:
    return [k for k in run_json(env, "keys", "list") if k["kind"] == "station"]


def events(db_url: str, action: str) -> list[dict[str, Any]]:
    catalog = SqlCatalog(make_engine(db_url), station="st-test", actor="test")
    every = catalog.events()
    verify_chain(every)
    return [e.fields for e in every if e.fields["action"] == action]


def export_trust(env: dict[str, str], out: Path) -> TrustAnchors:
    r = run(env, "keys", "export-trust", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return TrustAnchors.from_json(out.read_bytes())


def audit(env: dict[str, str], trust: Path, state: Path) -> subprocess.CompletedProcess[str]:
    return run_script(
        "recorder-audit",
        env,
        "verify",
        "--trust",
        str(trust),
        "--state",
        str(state),
        "--json",
        timeout=300,
    )


@pytest.mark.slow
def test_a_chain_of_three_keys_each_signed_by_the_one_before(tmp_path: Path, db_url: str) -> None:
    env, dock = env_for(tmp_path / "home", db_url), tmp_path / "dock"
    assert ingest(env, dock, "one.txt").returncode == 0
    for n, name in enumerate(("two.txt", "three.txt"), start=2):
        r = run(env, "keys", "init", "--replace", "--reason", f"yearly rotation {n}")
        assert r.returncode == 0, r.stderr
        assert "rotation signed by ed25519:" in r.stdout
        assert ingest(env, dock, name).returncode == 0

    keys = station_keys(env)
    assert [k["status"] for k in keys] == ["retired", "retired", "current"]
    assert [k["previous_key_id"] for k in keys] == [None, keys[0]["key_id"], keys[1]["key_id"]]
    assert [k["rotation_signed_by"] for k in keys] == [None, keys[0]["key_id"], keys[1]["key_id"]]
    assert {r["key_id"] for r in run_json(env, "list")} == {k["key_id"] for k in keys}
    (log_key,) = [k for k in run_json(env, "keys", "list") if k["kind"] == "log"]
    assert log_key["origin"] == "recorder-sync/st-test" and log_key["status"] == "current"
    replaced = events(db_url, "key-replaced")
    assert [e["details"]["previous_key_id"] for e in replaced] == [keys[0]["key_id"], keys[1]["key_id"]]
    assert all(e["details"]["rotation_signature"] for e in replaced)

    # the auditor's file holds the whole chain; reading it verifies each rotation
    trust = tmp_path / "trust.json"
    anchors = export_trust(env, trust)
    chain = anchors.station_keys
    assert [k.key_id for k in chain] == [k["key_id"] for k in keys]
    for previous, key in itertools.pairwise(chain):
        assert key.previous_key_id == previous.key_id and key.rotation_signature is not None
        key.check_rotation(previous)
    # and with openssl alone: the old key signed the new key's 32 raw public bytes
    (tmp_path / "old.pem").write_bytes(chain[1].public_pem)
    (tmp_path / "new.raw").write_bytes(raw_public_key(chain[2].public_pem))
    (tmp_path / "rotation.sig").write_bytes(chain[2].rotation_signature or b"")
    openssl = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "old.pem", "-rawin"]
    done = subprocess.run(
        [*openssl, "-in", "new.raw", "-sigfile", "rotation.sig"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout, done.stderr
    assert audit(env, trust, tmp_path / "state").returncode == 0

    # a rotation statement altered in the database is not exported
    catalog = SqlCatalog(make_engine(db_url), station="st-test", actor="test")
    with catalog.transaction() as s:
        row = s.get(StationKeyRow, keys[2]["key_id"])
        assert row is not None and row.rotation_signature is not None
        row.rotation_signature = bytes(64)
    r = run(env, "keys", "export-trust", "--out", str(tmp_path / "from-altered-db.json"))
    assert r.returncode == 3 and f"rotation of {keys[1]['key_id']} to {keys[2]['key_id']}" in r.stderr
    assert not (tmp_path / "from-altered-db.json").exists()

    # a forged rotation (the third key claimed by the first key's statement) is refused
    doc = json.loads(trust.read_bytes())
    doc["station_keys"][2]["rotation_signature"] = doc["station_keys"][1]["rotation_signature"]
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(doc))
    r = audit(env, forged, tmp_path / "state")
    assert r.returncode == 2, r.stderr
    assert "not usable trust anchors" in r.stderr and "rotation of" in r.stderr


@pytest.mark.slow
def test_a_lost_old_key_leaves_the_rotation_unsigned_and_the_list_says_so(
    tmp_path: Path, db_url: str
) -> None:
    env, dock = env_for(tmp_path / "home", db_url), tmp_path / "dock"
    assert ingest(env, dock, "one.txt").returncode == 0
    (tmp_path / "home" / "keys" / "station.key").unlink()
    r = run(env, "keys", "init", "--replace", "--reason", "disk died")
    assert r.returncode == 0, r.stderr
    assert "rotation not signed: old key unavailable (no key at" in r.stdout
    first, second = station_keys(env)
    assert second["previous_key_id"] == first["key_id"] and second["rotation_signature"] is None
    assert second["rotation_signed_by"] == "old key unavailable"
    listed = run(env, "keys", "list")
    assert listed.returncode == 0 and "old key unavailable" in listed.stdout
    assert "KEY_ID" in listed.stdout and first["key_id"] in listed.stdout
    (replaced,) = events(db_url, "key-replaced")
    assert replaced["details"]["rotation_signature"] is None
    assert "no key at" in replaced["details"]["rotation_unsigned_because"]
    anchors = export_trust(env, tmp_path / "trust.json")
    assert anchors.station_keys[1].previous_key_id == first["key_id"]


@pytest.mark.slow
def test_a_revoked_current_key_stops_ingest_until_replaced(tmp_path: Path, db_url: str) -> None:
    env, dock = env_for(tmp_path / "home", db_url), tmp_path / "dock"
    assert ingest(env, dock, "one.txt").returncode == 0
    ((key_id,),) = [[k["key_id"] for k in station_keys(env)]]
    at = utc_iso(datetime.now(UTC))
    r = run(env, "keys", "revoke", key_id, "--at", at, "--reason", "token reported stolen")
    assert r.returncode == 0, r.stderr
    assert f"revoked {key_id}" in r.stdout and "keys init --replace" in r.stdout
    (revoked,) = events(db_url, "key-revoked")
    assert revoked["reason"] == "token reported stolen"
    assert revoked["details"]["key_id"] == key_id and revoked["actor"].startswith("recorder-sync keys (")
    (listed,) = station_keys(env)
    assert listed["status"] == "revoked" and listed["revoke_reason"] == "token reported stolen"

    r = ingest(env, dock, "two.txt")
    assert r.returncode == 5, r.stderr
    assert f"signs with {key_id}, which was revoked" in r.stderr
    assert "keys init --replace --reason" in r.stderr
    assert (dock / "two.txt").exists()

    # a revoked key vouches for nobody: the replacement is not signed by it
    r = run(env, "keys", "init", "--replace", "--reason", "after the theft")
    assert r.returncode == 0, r.stderr
    assert f"rotation not signed: old key unavailable ({key_id} was revoked" in r.stdout
    assert station_keys(env)[1]["rotation_signed_by"] == "old key unavailable (revoked)"
    assert ingest(env, dock, "two.txt").returncode == 0
    assert not (dock / "two.txt").exists()


@pytest.mark.slow
def test_bad_revocations_are_refused_and_change_nothing(tmp_path: Path, db_url: str) -> None:
    env, dock = env_for(tmp_path / "home", db_url), tmp_path / "dock"
    assert ingest(env, dock, "one.txt").returncode == 0
    ((key_id,),) = [[k["key_id"] for k in station_keys(env)]]
    now = datetime.now(UTC)
    for at, code, words in [
        (utc_iso(now + timedelta(minutes=10)), 2, "in the future"),
        ("1999-12-31T00:00:00Z", 2, "outside the plausible range"),
        ("yesterday", 2, "--at 'yesterday'"),
        ("2026-11-01T10:00:00", 2, "no UTC offset"),
    ]:
        r = run(env, "keys", "revoke", key_id, "--at", at, "--reason", "why")
        assert r.returncode == code and words in r.stderr, (at, r.stderr)
    r = run(env, "keys", "revoke", "ed25519:0000000000000000", "--at", utc_iso(now), "--reason", "x")
    assert r.returncode == 6 and "keys list" in r.stderr, r.stderr
    r = run(env, "keys", "revoke", key_id, "--at", utc_iso(now), "--reason", "  ")
    assert r.returncode == 2 and "--reason" in r.stderr
    assert events(db_url, "key-revoked") == [] and station_keys(env)[0]["status"] == "current"

    earlier = now - timedelta(hours=1)
    assert run(env, "keys", "revoke", key_id, "--at", utc_iso(now), "--reason", "first").returncode == 0
    # later would make signatures count again: refused; earlier tightens it and is logged
    r = run(env, "keys", "revoke", key_id, "--at", utc_iso(now + timedelta(seconds=30)), "--reason", "x")
    assert r.returncode == 2 and "can only move earlier" in r.stderr
    r = run(env, "keys", "revoke", key_id, "--at", utc_iso(earlier), "--reason", "found out earlier")
    assert r.returncode == 0 and "was revoked from" in r.stdout, r.stderr
    assert [e["details"]["revoked_at"] for e in events(db_url, "key-revoked")] == [
        utc_iso(now),
        utc_iso(earlier),
    ]
    assert station_keys(env)[0]["revoked_at"] == utc_iso(earlier)


def test_audit_reports_manifests_signed_after_the_revocation_and_keeps_the_earlier(
    tmp_path: Path, db_url: str
) -> None:
    env, dock = env_for(tmp_path / "home", db_url), tmp_path / "dock"
    assert ingest(env, dock, "before-1.txt", "before-2.txt").returncode == 0
    before = {r["id"] for r in run_json(env, "list")}
    revoked_at = datetime.now(UTC)
    assert ingest(env, dock, "after-1.txt", "after-2.txt").returncode == 0
    after = {r["id"] for r in run_json(env, "list")} - before
    assert len(before) == len(after) == 2
    ((key_id,),) = [[k["key_id"] for k in station_keys(env)]]
    # revoked from a time already past: the key was found to be compromised since then
    r = run(env, "keys", "revoke", key_id, "--at", utc_iso(revoked_at), "--reason", "copied at that time")
    assert r.returncode == 0, r.stderr

    trust = tmp_path / "trust.json"
    anchors = export_trust(env, trust)
    assert anchors.station_keys[0].revoked_at == revoked_at
    r = audit(env, trust, tmp_path / "state")
    assert r.returncode == 3, r.stderr
    report = json.loads(r.stdout)
    flagged = {p["subject"]: p["reason"] for p in report["problems"]}
    assert set(flagged) == {f"recording:{rec}" for rec in after}, report["problems"]
    assert all("after it was revoked" in why and key_id in why for why in flagged.values())
    assert report["checked"]["recordings"] == 4


def test_a_token_key_replaced_in_the_token_signs_the_rotation(
    tmp_path: Path,
    db_url: str,
    token: Token,
) -> None:
    env = env_for(tmp_path / "home", db_url, **token.env)
    assert ingest(env, tmp_path / "dock", "one.txt").returncode == 0
    env2 = env_for(tmp_path / "home", db_url, **token.with_label("station-2026").env)
    r = run(env2, "keys", "init", "--replace", "--reason", "yearly rotation")
    assert r.returncode == 0, r.stderr
    first, second = station_keys(env2)
    assert r.stdout.count(f"rotation signed by {first['key_id']}") == 1
    assert second["rotation_signed_by"] == first["key_id"]
    anchors = export_trust(env2, tmp_path / "trust.json")
    anchors.station_keys[1].check_rotation(anchors.station_keys[0])
    assert base64.b64decode(second["rotation_signature"]) == anchors.station_keys[1].rotation_signature
