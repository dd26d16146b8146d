"""``keys rotate`` through the real CLI: the new station key is always vouched for by the old
one, and the old private key is destroyed (file overwritten and removed, or token object
destroyed), while what it signed still verifies through the exported trust anchors."""

from __future__ import annotations

import subprocess
from pathlib import Path

from clirunner import env_for, run
from softhsm import Token, softhsm_conf, token  # noqa: F401  (fixtures)
from test_key_lifecycle_cli import audit, events, export_trust, ingest, station_keys

from recorder_sync.adapters.pkcs11_key import find_key, key_present
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


def test_rotate_destroys_the_old_token_key(
    tmp_path: Path,
    db_url: str,
    token: Token,  # noqa: F811
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
