"""``keys rotate`` through the real CLI: the new station key is always vouched for by the old
one, and the old private key is destroyed (file overwritten and removed, or token object
destroyed), while what it signed still verifies through the exported trust anchors."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import pytest
from clirunner import env_for, run
from softhsm import Token
from test_key_lifecycle_cli import audit, events, export_trust, ingest, station_keys
from test_log_cli import ORIGIN, checkpoints

from recorder_sync.adapters import keys
from recorder_sync.adapters.db.engine import close_engines, make_engine
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.keys import load_key
from recorder_sync.adapters.pkcs11_key import find_key, key_present
from recorder_sync.apps import config
from recorder_sync.apps.commands import keys_cmd
from recorder_sync.domain.checkpoint import NoteKey, open_checkpoint, open_note
from recorder_sync.domain.errors import SignatureInvalid
from recorder_sync.domain.signatures import raw_public_key
from recorder_sync.domain.trust import TrustAnchors


def openssl_checks_rotation(tmp_path: Path, anchors: TrustAnchors, n: int) -> None:
    """The ``n``-th key's rotation statement, verified with openssl alone."""
    old, new = anchors.station_keys[n - 1], anchors.station_keys[n]
    (tmp_path / "old.pem").write_bytes(old.public_pem)
    (tmp_path / "new.raw").write_bytes(raw_public_key(new.public_pem))
    (tmp_path / "rotation.sig").write_bytes(new.rotation_signature or b"")
    openssl = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "old.pem", "-rawin"]
    done = subprocess.run(
        [*openssl, "-in", "new.raw", "-sigfile", "rotation.sig"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout, done.stderr


@pytest.mark.slow
def test_rotate_destroys_the_old_key_file_and_chains(tmp_path: Path, db_url: str) -> None:
    env, dock = env_for(tmp_path / "home", db_url), tmp_path / "dock"
    key_dir = tmp_path / "home" / "keys"
    assert ingest(env, dock, "one.txt").returncode == 0
    for n, name in enumerate(("two.txt", "three.txt"), start=1):
        old_pem = (key_dir / "station.key").read_bytes()
        r = run(env, "keys", "rotate", "--reason", f"yearly rotation {n}")
        assert r.returncode == 0, r.stderr
        keys = station_keys(env)
        assert f"rotation signed by {keys[n - 1]['key_id']}" in r.stdout
        assert f"destroyed the private key of {keys[n - 1]['key_id']}" in r.stdout
        # only the new key is left in the folder: no retired copy, no temporary file
        assert sorted(p.name for p in key_dir.iterdir() if p.name.startswith("station")) == ["station.key"]
        assert (key_dir / "station.key").read_bytes() != old_pem
        assert ingest(env, dock, name).returncode == 0

    keys = station_keys(env)
    assert [k["status"] for k in keys] == ["retired", "retired", "current"]
    assert [k["rotation_signed_by"] for k in keys] == [None, keys[0]["key_id"], keys[1]["key_id"]]
    rotated = events(db_url, "key-replaced")
    assert [e["details"]["rotated"] for e in rotated] == [True, True]
    assert [e["reason"] for e in rotated] == ["yearly rotation 1", "yearly rotation 2"]
    assert all(e["details"]["old_key_file"] is None for e in rotated)

    trust = tmp_path / "trust.json"
    anchors = export_trust(env, trust)
    openssl_checks_rotation(tmp_path, anchors, 1)
    openssl_checks_rotation(tmp_path, anchors, 2)
    # every manifest, signed by a key now destroyed or by the current one, still verifies
    r = audit(env, trust, tmp_path / "state")
    assert r.returncode == 0, r.stdout + r.stderr


def test_rotate_without_the_old_key_is_refused_and_changes_nothing(tmp_path: Path, db_url: str) -> None:
    env, dock = env_for(tmp_path / "home", db_url), tmp_path / "dock"
    r = run(env, "keys", "rotate", "--reason", "nothing to rotate yet")
    assert r.returncode == 5 and "the old key is not here: use keys init --replace --reason WHY" in r.stderr
    assert ingest(env, dock, "one.txt").returncode == 0
    (tmp_path / "home" / "keys" / "station.key").unlink()
    r = run(env, "keys", "rotate", "--reason", "disk died")
    assert r.returncode == 5, r.stderr
    assert "the old key is not here: use keys init --replace --reason WHY (no key at" in r.stderr
    assert [k["status"] for k in station_keys(env)] == ["current"]
    assert events(db_url, "key-replaced") == []
    assert not (tmp_path / "home" / "keys" / "station.key").exists()
    r = run(env, "keys", "rotate", "--reason", "  ")
    assert r.returncode == 2 and "--reason" in r.stderr


@pytest.mark.slow
def test_rotate_destroys_the_old_token_key(
    tmp_path: Path,
    db_url: str,
    token: Token,
) -> None:
    env = env_for(tmp_path / "home", db_url, **token.env)
    assert ingest(env, tmp_path / "dock", "one.txt").returncode == 0
    (first,) = station_keys(env)
    assert find_key(token.settings, first["key_id"]) is not None
    new = token.with_label("station-2027")
    env2 = env_for(tmp_path / "home", db_url, **new.env)
    r = run(env2, "keys", "rotate", "--reason", "yearly rotation")
    assert r.returncode == 0, r.stderr
    assert f"destroyed the private key of {first['key_id']}" in r.stdout
    # the old pair is gone from the token; the new one signs
    assert find_key(token.settings, first["key_id"]) is None
    assert not key_present(token.settings)
    _, second = station_keys(env2)
    assert second["rotation_signed_by"] == first["key_id"]
    assert ingest(env2, tmp_path / "dock", "two.txt").returncode == 0
    trust = tmp_path / "trust.json"
    anchors = export_trust(env2, trust)
    openssl_checks_rotation(tmp_path, anchors, 1)
    assert audit(env2, trust, tmp_path / "state").returncode == 0


@pytest.mark.slow
def test_rotate_log_dual_signs_one_checkpoint_and_keeps_the_history(tmp_path: Path, db_url: str) -> None:
    home = tmp_path / "home"
    env, dock = env_for(home, db_url), tmp_path / "dock"
    log_key_path = home / "keys" / "log.key"
    assert ingest(env, dock, "one.txt").returncode == 0
    # the first checkpoint registered the log key it was signed with
    catalog = SqlCatalog(make_engine(db_url), station="st-test", actor="test")
    (registered,) = catalog.log_keys(ORIGIN)
    assert registered.key_id == load_key(log_key_path).key_id and registered.valid_until is None
    old_trust = tmp_path / "old-trust.json"
    assert len(export_trust(env, old_trust).log_keys) == 1
    old = NoteKey(ORIGIN, load_key(log_key_path).public_raw())
    before = max(checkpoints(home))

    r = run(env, "keys", "rotate", "--log", "--reason", "log key on a retired disk")
    assert r.returncode == 0, r.stderr
    new = NoteKey(ORIGIN, load_key(log_key_path).public_raw())
    assert new != old and "rotation signed by" in r.stdout
    # the old key waits for one checkpoint; a second rotation meanwhile is refused
    r = run(env, "keys", "rotate", "--log", "--reason", "again")
    assert r.returncode == 5 and "still waits for its checkpoint signed by both keys" in r.stderr
    (rotated,) = events(db_url, "log-key-rotated")
    assert rotated["reason"] == "log key on a retired disk"
    assert rotated["actor"].startswith("recorder-sync keys (")
    log_rows = [k for k in json.loads(run(env, "keys", "list", "--json").stdout) if k["kind"] == "log"]
    assert [k["status"] for k in log_rows] == ["retired", "current"]
    assert rotated["details"]["previous_key_id"] == log_rows[0]["key_id"]
    assert rotated["details"]["key_id"] == log_rows[1]["key_id"]
    assert log_rows[1]["rotation_signed_by"] == log_rows[0]["key_id"]
    assert checkpoints(home) and max(checkpoints(home)) == before  # the new key signed nothing yet

    assert ingest(env, dock, "two.txt").returncode == 0
    dual_size = max(checkpoints(home))
    dual = checkpoints(home)[dual_size].read_bytes()
    # signed by both: either key alone opens it
    assert open_checkpoint(dual, [old]).size == open_checkpoint(dual, [new]).size == dual_size
    assert open_note(dual, [old, new])[1] == (new, old)
    assert not (home / "keys" / "log.key.previous").exists()  # destroyed after co-signing
    assert ingest(env, dock, "three.txt").returncode == 0
    later = max(checkpoints(home))
    assert later > dual_size
    with pytest.raises(SignatureInvalid):
        open_checkpoint(checkpoints(home)[later].read_bytes(), [old])
    assert open_checkpoint(checkpoints(home)[later].read_bytes(), [new]).size == later

    # the new trust file holds both keys: old and new checkpoints verify
    trust = tmp_path / "trust.json"
    assert export_trust(env, trust).log_keys == (old, new)
    r = audit(env, trust, tmp_path / "state")
    assert r.returncode == 0, r.stdout + r.stderr
    # an auditor who kept the old file: the dual-signed checkpoint verifies, the later ones do not
    r = audit(env, old_trust, tmp_path / "old-state")
    assert r.returncode == 3, r.stdout + r.stderr
    flagged = {p["subject"]: p["reason"] for p in json.loads(r.stdout)["problems"]}
    assert f"checkpoint:{later}" in flagged and "none of them a trusted key" in flagged[f"checkpoint:{later}"]
    assert all(int(s.split(":")[1]) > dual_size for s in flagged if s.startswith("checkpoint:")), flagged


def test_a_log_key_rotation_stopped_half_way_is_finished_or_explained(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    env, dock = env_for(home, db_url), tmp_path / "dock"
    log_key_path = home / "keys" / "log.key"
    assert ingest(env, dock, "one.txt").returncode == 0
    old = load_key(log_key_path)

    # killed once the database registered the new key, before the key files were swapped
    def killed(*_: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(keys, "swap_in", killed)
        with pytest.raises(KeyboardInterrupt):
            keys_cmd.cmd_rotate(argparse.Namespace(reason="yearly", log=True), config.load(None, env=env))
        close_engines()
    staged = keys.staged_key_path(log_key_path)
    assert load_key(log_key_path).key_id == old.key_id and staged.exists()
    # the old key, replaced in the database, signs no checkpoint; the files wait as they are
    before = max(checkpoints(home))
    r = ingest(env, dock, "two.txt")
    assert r.returncode == 0, r.stderr
    assert f"Log key {old.key_id} was replaced at" in r.stderr and max(checkpoints(home)) == before
    r = run(env, "keys", "rotate", "--log", "--reason", "again")
    assert r.returncode == 0, r.stderr
    new = load_key(log_key_path)
    assert f"finished the interrupted rotation: log key {new.key_id}" in r.stdout
    assert new.key_id != old.key_id and not staged.exists()
    assert ingest(env, dock, "three.txt").returncode == 0
    cosigned = checkpoints(home)[max(checkpoints(home))].read_bytes()
    assert set(open_note(cosigned, [NoteKey(ORIGIN, k.public_raw()) for k in (old, new)])[1]) == {
        NoteKey(ORIGIN, old.public_raw()),
        NoteKey(ORIGIN, new.public_raw()),
    }
    assert not keys.previous_key_path(log_key_path).exists()

    # a staged key nobody registered (stopped before the database took it) is never put in place
    keys.create_key(staged)
    r = run(env, "keys", "rotate", "--log", "--reason", "third")
    assert r.returncode == 5 and "left by a rotation that was stopped before it was registered" in r.stderr
    assert load_key(log_key_path).key_id == new.key_id
