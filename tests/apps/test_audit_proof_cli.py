"""``recorder-audit proof`` and ``check-proof`` as an auditor runs them: a proof made on the
station is checked elsewhere with the trust anchors alone, and any change to it, to the event
or to the trust fails."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from clirunner import env_for, run, run_json, run_script


def audit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_script("recorder-audit", env, *args, timeout=120)


@pytest.mark.slow
def test_a_proof_made_on_the_station_checks_anywhere_with_the_trust_anchors_alone(
    tmp_path: Path, db_url: str
) -> None:
    env = env_for(tmp_path / "home", db_url)
    dock = tmp_path / "dock"
    dock.mkdir()
    for i in range(3):
        (dock / f"f{i}.txt").write_bytes(f"evidence {i}\n".encode())
    assert run(env, "ingest", str(dock), "--stable-seconds", "0").returncode == 0
    trust = tmp_path / "trust.json"
    assert run(env, "keys", "export-trust", "--out", str(trust)).returncode == 0
    rec = run_json(env, "list")[1]

    proof = tmp_path / "proof"
    r = audit(env, "proof", rec["id"], "--out", str(proof), "--trust", str(trust))
    assert r.returncode == 0, r.stderr
    event = Path(str(proof) + ".event.json")
    assert b'"action":"signed"' in event.read_bytes() and rec["id"].encode() in event.read_bytes()
    assert proof.read_bytes().startswith(b"c2sp.org/tlog-proof@v1\n")

    # elsewhere: no database, no store, no home; only the three files
    bare = {k: v for k, v in env.items() if not k.startswith("RECORDER_SYNC_")}
    bare["RECORDER_SYNC_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    r = audit(bare, "check-proof", str(proof), "--event", str(event), "--trust", str(trust))
    assert r.returncode == 0, r.stderr
    assert "verified: the event is leaf" in r.stdout and "recorder-sync/st-test" in r.stdout

    # another event's bytes, a changed proof, another log key: each refused with exit 3
    other = tmp_path / "other.json"
    other.write_bytes(event.read_bytes().replace(b'"action":"signed"', b'"action":"signeD"'))
    r = audit(bare, "check-proof", str(proof), "--event", str(other), "--trust", str(trust))
    assert r.returncode == 3 and "not the event this proof was made for" in r.stderr, r.stderr
    lines = proof.read_bytes().split(b"\n")
    bad = tmp_path / "bad-proof"
    at = next(i for i, line in enumerate(lines) if line.startswith(b"index "))
    lines[at] = b"index 0" if lines[at] != b"index 0" else b"index 1"
    bad.write_bytes(b"\n".join(lines))
    r = audit(bare, "check-proof", str(bad), "--event", str(event), "--trust", str(trust))
    assert r.returncode == 3 and "Merkle proof does not verify" in r.stderr, r.stderr
    stranger = tmp_path / "stranger"
    env2 = env_for(stranger / "home", f"sqlite:///{stranger}/db.sqlite")
    stranger.mkdir()
    (stranger / "dock").mkdir()
    (stranger / "dock" / "x.txt").write_bytes(b"x\n")
    assert run(env2, "ingest", str(stranger / "dock"), "--stable-seconds", "0").returncode == 0
    trust2 = stranger / "trust.json"
    assert run(env2, "keys", "export-trust", "--out", str(trust2)).returncode == 0
    r = audit(bare, "check-proof", str(proof), "--event", str(event), "--trust", str(trust2))
    assert r.returncode == 3 and "none of them a trusted key" in r.stderr, r.stderr


def test_a_proof_of_an_unknown_recording_is_not_found(tmp_path: Path, db_url: str) -> None:
    env = env_for(tmp_path / "home", db_url)
    (tmp_path / "dock").mkdir()
    (tmp_path / "dock" / "a.txt").write_bytes(b"a\n")
    assert run(env, "ingest", str(tmp_path / "dock"), "--stable-seconds", "0").returncode == 0
    trust = tmp_path / "trust.json"
    assert run(env, "keys", "export-trust", "--out", str(trust)).returncode == 0
    r = audit(env, "proof", "rec-nosuchthing", "--out", str(tmp_path / "p"), "--trust", str(trust))
    assert r.returncode == 6 and not (tmp_path / "p").exists(), r.stderr
