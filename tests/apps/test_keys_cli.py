"""The station key through the real CLI: once a station has signed, its key is never
silently replaced; only ``keys init --replace --reason`` changes it, as a custody event."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clirunner import env_for, run, run_json

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.keys import create_key
from recorder_sync.domain.custody import verify_chain


@pytest.fixture
def station(tmp_path: Path, db_url: str) -> tuple[dict[str, str], Path, Path]:
    """A station that has ingested (and so signed) one file; returns env, dock, key path."""
    env = env_for(tmp_path / "home", db_url)
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "first.txt").write_bytes(b"first\n")
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr
    return env, dock, tmp_path / "home" / "keys" / "station.key"


def signed_with(env: dict[str, str]) -> set[str]:
    return {rec["key_id"] for rec in run_json(env, "list")}


@pytest.mark.slow
def test_missing_key_stops_ingest_until_an_operator_replaces_it(
    station: tuple[dict[str, str], Path, Path], db_url: str
) -> None:
    env, dock, key = station
    (first_key,) = signed_with(env)
    key.unlink()
    (dock / "second.txt").write_bytes(b"second\n")

    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 5, r.stderr
    assert f"No signing key at {key}" in r.stderr and first_key in r.stderr
    assert "keys init --replace --reason" in r.stderr
    assert not key.exists(), "no key may be made up behind the operator's back"
    assert (dock / "second.txt").read_bytes() == b"second\n"

    # a plain `keys init` would also make a new key: refused the same way
    r = run(env, "keys", "init")
    assert r.returncode == 5 and first_key in r.stderr and not key.exists()
    r = run(env, "keys", "init", "--replace")
    assert r.returncode == 2 and "--reason" in r.stderr and not key.exists()

    r = run(env, "keys", "init", "--replace", "--reason", "disk of the old station died")
    assert r.returncode == 0, r.stderr
    assert f"retired {first_key}" in r.stdout
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr
    assert not (dock / "second.txt").exists()
    keys_used = signed_with(env)
    assert len(keys_used) == 2 and first_key in keys_used

    catalog = SqlCatalog(make_engine(db_url), station="st-test", actor="test")
    replaced = [e.fields for e in catalog.events() if e.fields["action"] == "key-replaced"]
    assert len(replaced) == 1
    assert replaced[0]["reason"] == "disk of the old station died"
    assert replaced[0]["details"]["retired_key_ids"] == [first_key]
    assert replaced[0]["details"]["key_id"] in keys_used - {first_key}
    assert replaced[0]["details"]["old_key_file"] is None  # there was no file left to move
    # what the old key signed still verifies: its public key stays in the catalog
    assert catalog.public_key(first_key).startswith(b"-----BEGIN PUBLIC KEY-----")
    verify_chain(catalog.events())


@pytest.mark.slow
def test_different_key_is_refused_and_the_right_one_accepted_again(
    station: tuple[dict[str, str], Path, Path], tmp_path: Path
) -> None:
    env, dock, key = station
    (first_key,) = signed_with(env)
    original = key.read_bytes()
    other = create_key(tmp_path / "elsewhere" / "other.key")
    key.unlink()
    os.link(other.path, key)
    (dock / "second.txt").write_bytes(b"second\n")

    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 5, r.stderr
    assert f"is {other.key_id}, but this station signs with {first_key}" in r.stderr
    assert (dock / "second.txt").exists()

    key.unlink()
    key.write_bytes(original)
    key.chmod(0o600)
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr
    assert signed_with(env) == {first_key}


def test_replace_keeps_the_old_key_file_aside(station: tuple[dict[str, str], Path, Path]) -> None:
    env, dock, key = station
    (first_key,) = signed_with(env)
    original = key.read_bytes()
    r = run(env, "keys", "init", "--replace", "--reason", "suspected copy of the key")
    assert r.returncode == 0, r.stderr
    (kept,) = key.parent.glob("station.key.retired-*")
    assert kept.read_bytes() == original and kept.stat().st_mode & 0o777 == 0o600
    assert key.read_bytes() != original
    # the retired key, put back, is not the station's key any more
    key.unlink()
    os.link(kept, key)
    (dock / "second.txt").write_bytes(b"second\n")
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 5 and f"is {first_key}, but this station signs with" in r.stderr


@pytest.mark.parametrize("case", ["folder-0755", "key-of-another-user"])
def test_key_folder_open_to_others_or_key_of_another_user_stops_ingest(
    station: tuple[dict[str, str], Path, Path], case: str
) -> None:
    env, dock, key = station
    if case == "folder-0755":
        key.parent.chmod(0o755)
        expected = f"chmod 700 {key.parent}"
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can give a file to another user")
        os.chown(key, 65534, -1)
        expected = "belongs to uid 65534"
    (dock / "second.txt").write_bytes(b"second\n")
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 5 and expected in r.stderr, r.stderr
    assert (dock / "second.txt").exists()


def test_export_trust_gives_the_log_key_and_every_station_key_with_its_window(
    station: tuple[dict[str, str], Path, Path], tmp_path: Path
) -> None:
    from recorder_sync.domain.checkpoint import open_checkpoint
    from recorder_sync.domain.trust import TrustAnchors

    env, dock, _ = station
    (first_key,) = signed_with(env)
    assert run(env, "keys", "init", "--replace", "--reason", "rotation").returncode == 0
    (dock / "second.txt").write_bytes(b"second\n")
    assert run(env, "ingest", str(dock), "--stable-seconds", "0").returncode == 0
    (second_key,) = signed_with(env) - {first_key}

    out = tmp_path / "trust.json"
    r = run(env, "keys", "export-trust", "--out", str(out))
    assert r.returncode == 0, r.stderr
    anchors = TrustAnchors.from_json(out.read_bytes())
    assert [k.name for k in anchors.log_keys] == ["recorder-sync/st-test"]
    by_id = {k.key_id: k for k in anchors.station_keys}
    assert set(by_id) == {first_key, second_key}
    assert (
        by_id[first_key].valid_until is not None
        and by_id[first_key].valid_until > by_id[first_key].valid_from
    )
    assert (
        by_id[second_key].valid_until is None and by_id[second_key].valid_from >= by_id[first_key].valid_until
    )
    assert {k.station for k in anchors.station_keys} == {"st-test"}
    # the log key in the file is the one the published checkpoints verify with
    folder = tmp_path / "home" / "vault" / "log" / "recorder-sync" / "st-test" / "checkpoint"
    for path in folder.iterdir():
        assert open_checkpoint(path.read_bytes(), anchors.log_keys).size == int(path.name)
    stdout = run(env, "keys", "export-trust")
    assert stdout.returncode == 0 and TrustAnchors.from_json(stdout.stdout.encode()) == anchors


def test_export_trust_without_the_log_key_where_this_station_does_not_sign(tmp_path: Path) -> None:
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'db'}", RECORDER_SYNC_LOG_SIGN="false")
    r = run(env, "keys", "export-trust")
    assert r.returncode == 5 and "no log key at" in r.stderr and "[log] sign is off" in r.stderr
