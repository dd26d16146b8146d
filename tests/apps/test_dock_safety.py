"""The real CLI against hostile docks: a dock over our own files, hard links, FIFOs, odd sidecars."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import sample_dock
from clirunner import env_for, run, run_json
from test_daemon import start

CLIP = "DSJ-A1_031245_20261127083015_0001.MP4"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def rejected(env: dict[str, str]) -> dict[str, str]:
    """file name → detail of every rejected-file flag."""
    flags = run_json(env, "flags", "--all")
    return {f["subject"].rsplit("/", 1)[-1]: f["detail"] for f in flags if f["kind"] == "rejected-file"}


def test_ingesting_the_data_folder_is_refused_and_deletes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = env_for(home, f"sqlite:///{home / 'recorder-sync.db'}")
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "x.bin").write_bytes(b"evidence")
    assert run(env, "ingest", str(dock), "--stable-seconds", "0").returncode == 0
    ours = tree(home)
    assert "keys/station.key" in ours and "recorder-sync.db" in ours
    assert any(p.startswith("vault/sha256/") for p in ours)

    for target, how in (
        (home, "is the same as the data folder (home)"),
        (home / "vault" / "sha256", "is inside the vault"),
        (tmp_path, "is above the data folder (home)"),
    ):
        r = run(env, "ingest", str(target), "--stable-seconds", "0")
        assert r.returncode == 2, r.stderr
        assert f"{target} {how} {home}" in r.stderr
    assert tree(home) == ours  # nothing ingested, nothing released
    assert len(run_json(env, "list")) == 1


def test_run_refuses_a_dock_that_holds_the_vault_and_docks_that_nest(tmp_path: Path, db_url: str) -> None:
    mnt = tmp_path / "mnt"
    (mnt / "disk").mkdir(parents=True)
    config = tmp_path / "recorder-sync.toml"
    config.write_text(
        f'vault_path = "{mnt / "disk" / "vault"}"\n\n[[docks]]\nname = "cam"\npath = "{mnt}"\n',
        encoding="utf-8",
    )
    env = env_for(tmp_path / "home", db_url, RECORDER_SYNC_CONFIG=str(config))
    r = run(env, "run", timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"dock 'cam' {mnt} is above the vault {mnt / 'disk' / 'vault'}" in r.stderr

    env = env_for(tmp_path / "home", db_url)
    (tmp_path / "a" / "b").mkdir(parents=True)
    r = run(env, "run", "--dock", str(tmp_path / "a"), "--dock", str(tmp_path / "a" / "b"), timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"dock 'a' {tmp_path / 'a'} is above dock 'b' {tmp_path / 'a' / 'b'}" in r.stderr

    (tmp_path / "link").symlink_to(tmp_path / "a")
    env = env_for(tmp_path / "home", db_url, RECORDER_SYNC_DOCKS=str(tmp_path / "link"))
    r = run(env, "run", timeout=60)
    assert r.returncode == 2 and "is a symbolic link" in r.stderr, r.stderr


def test_hard_links_are_flagged_and_kept(tmp_path: Path, db_url: str) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "a.bin").write_bytes(b"linked evidence")
    os.link(dock / "a.bin", dock / "b.bin")
    (dock / "c.bin").write_bytes(b"plain")
    env = env_for(tmp_path / "home", db_url)
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 1, r.stderr  # two entries refused
    flags = rejected(env)
    for name in ("a.bin", "b.bin"):
        assert "has 2 names (hard link)" in flags[name]
        assert (dock / name).read_bytes() == b"linked evidence"
    assert not (dock / "c.bin").exists()  # the plain file went all the way through
    assert [rec["sha256"] for rec in run_json(env, "list")] == [hashlib.sha256(b"plain").hexdigest()]


def fifo_dock(tmp_path: Path) -> Path:
    dock = tmp_path / "dock"
    dock.mkdir()
    sample_dock.make_video(dock / CLIP, start=sample_dock.sample_plan()[0].start, seconds=1)
    os.mkfifo(dock / (CLIP.rsplit(".", 1)[0] + ".json"))  # a sidecar that is a pipe
    os.mkfifo(dock / "clock.json")  # so is the camera's clock file
    return dock


def test_fifos_on_the_dock_do_not_hang_ingest(tmp_path: Path, db_url: str) -> None:
    dock = fifo_dock(tmp_path)
    env = env_for(tmp_path / "home", db_url)
    # a FIFO opened for reading waits for ever: the timeout only keeps a failure from hanging the suite
    r = run(env, "ingest", str(dock), "--stable-seconds", "0", timeout=120)
    assert r.returncode == 1, r.stderr  # the two FIFOs are refused
    assert [(rec["device"], rec["state"]) for rec in run_json(env, "list")] == [("DSJ-A1", "released")]
    flags = rejected(env)
    assert "pipe" in flags["clock.json"]
    assert "pipe" in flags[f"{CLIP[:-4]}.json"]
    assert sorted(p.name for p in dock.iterdir()) == [CLIP[:-4] + ".json", "clock.json"]


def test_fifos_on_the_dock_do_not_hang_the_daemon_and_sigterm_stops_it(tmp_path: Path, db_url: str) -> None:
    dock = fifo_dock(tmp_path)
    env = env_for(tmp_path / "home", db_url)
    log = tmp_path / "daemon.log"
    proc = start(env, dock, log)
    try:
        deadline = time.monotonic() + 120  # a guard against a hang, not a measure of speed
        while (dock / CLIP).exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert not (dock / CLIP).exists(), log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"SIGTERM did not stop the daemon:\n{log.read_text()}") from None
    assert code == 0, log.read_text()
    assert [(rec["device"], rec["state"]) for rec in run_json(env, "list")] == [("DSJ-A1", "released")]
    assert set(rejected(env)) == {"clock.json", f"{CLIP[:-4]}.json"}


def test_the_manifest_names_the_hash_of_the_sidecar_bytes_as_stored(tmp_path: Path, db_url: str) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "a.bin").write_bytes(b"clip")
    sidecar = '{"officer": "031245", "place": "执法现场"}'.encode("gbk")  # not UTF-8
    (dock / "a.json").write_bytes(sidecar)
    env = env_for(tmp_path / "home", db_url)
    assert run(env, "ingest", str(dock), "--stable-seconds", "0").returncode == 0
    by_name = {rec["source_path"].rsplit("/", 1)[-1]: rec for rec in run_json(env, "list")}
    stored = by_name["a.json"]["sha256"]
    assert stored == hashlib.sha256(sidecar).hexdigest()  # the sidecar is evidence of its own
    out = tmp_path / "m"
    assert run(env, "manifest", by_name["a.bin"]["id"], "--out", str(out)).returncode == 0
    manifest = json.loads((out / "manifest.json").read_bytes())
    assert manifest["sidecar_sha256"] == stored
    assert manifest["metadata"]["officer"] == {"value": "031245", "source": "sidecar"}
