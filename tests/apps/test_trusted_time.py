"""Trusted time end to end with the real ``recorder-sync`` and ``recorder-audit`` and a real TSA
(``openssl ts -reply`` behind HTTP): a token beside each published checkpoint, an authority
that is down never in the way of ingest, ``status`` showing what waits, ``openssl ts -verify``
passing on the stored files, the daemon stamping from its loop, and the auditor rejecting a
token that was damaged, moved to another checkpoint, or made by an authority it does not trust."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from clirunner import EXE, env_for, run, run_json, run_script
from tsaserver import TsaServer, start

from recorder_sync.adapters.tsa import TsaClient
from recorder_sync.domain.timestamps import load_roots

ORIGIN = "recorder-sync/st-test"


def tsa_env(home: Path, db_url: str, tsa: TsaServer, **extra: str) -> dict[str, str]:
    return env_for(
        home, db_url, RECORDER_SYNC_TSA_URL=tsa.url, RECORDER_SYNC_TSA_CERTS=str(tsa.root_pem), **extra
    )


def ingest(env: dict[str, str], dock: Path, *names: str) -> None:
    dock.mkdir(parents=True, exist_ok=True)
    for name in names:
        (dock / name).write_bytes(os.urandom(2000) + name.encode())
    r = run(env, "ingest", str(dock), "--stable-seconds", "0", "--quiet")
    assert r.returncode == 0, r.stderr


def published(home: Path, what: str = "checkpoint") -> dict[int, Path]:
    folder = home / "vault" / "log" / ORIGIN / what
    return {int(p.name): p for p in folder.iterdir()} if folder.exists() else {}


def openssl_verifies(checkpoint: Path, token: Path, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(checkpoint), "-in", str(token), "-CAfile", str(root)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_ingest_stamps_its_checkpoint_and_openssl_verifies_the_stored_token(
    tmp_path: Path, db_url: str, tsa_server: TsaServer
) -> None:
    home = tmp_path / "home"
    env = tsa_env(home, db_url, tsa_server)
    ingest(env, tmp_path / "dock", "a.bin", "b.bin")
    [(size, checkpoint)] = published(home).items()
    [(token_size, token)] = published(home, "timestamp").items()
    assert token_size == size
    done = openssl_verifies(checkpoint, token, tsa_server.root_pem)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr
    status = run_json(env, "status")["timestamps"]
    assert status["tokens"] == 1 and status["missing"] == 0 and status["tsa"] is True
    assert status["last"]["size"] == size and abs(status["last"]["drift_ms"]) < 60_000
    assert "test TSA" in status["last"]["tsa"]
    text = run(env, "status").stdout
    assert f"trusted time: last token for checkpoint {size} at " in text
    assert "0 published checkpoint(s) without a token" in text


@pytest.mark.slow
def test_a_tsa_that_is_down_never_stops_ingest_and_the_next_ingest_stamps(
    tmp_path: Path, db_url: str, tsa_server: TsaServer
) -> None:
    home = tmp_path / "home"
    env = tsa_env(home, db_url, tsa_server)
    tsa_server.stop()
    ingest(env, tmp_path / "d1", "a.bin")  # exit 0: the token waits
    assert len(published(home)) == 1 and published(home, "timestamp") == {}
    assert run_json(env, "list")[0]["state"] == "released"
    status = run_json(env, "status")["timestamps"]
    assert status == {"tokens": 0, "missing": 1, "last": None, "tsa": True}
    assert "trusted time: no token yet; 1 published checkpoint(s) without one" in run(env, "status").stdout
    tsa_server.restart()
    ingest(env, tmp_path / "d2", "b.bin")
    assert sorted(published(home, "timestamp")) == sorted(published(home))  # both, the late one too
    for size, token in published(home, "timestamp").items():
        assert openssl_verifies(published(home)[size], token, tsa_server.root_pem).returncode == 0
    assert run_json(env, "status")["timestamps"]["missing"] == 0


def test_the_daemon_stamps_from_its_loop_once_the_tsa_is_back(
    tmp_path: Path, db_url: str, tsa_server: TsaServer
) -> None:
    home, dock = tmp_path / "home", tmp_path / "dock"
    dock.mkdir()
    (dock / "a.bin").write_bytes(os.urandom(2000))
    env = tsa_env(home, db_url, tsa_server, RECORDER_SYNC_LOG_CHECKPOINT_SECONDS="1")
    tsa_server.stop()
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        [EXE, "-v", "run", "--dock", str(dock), "--stable-seconds", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"),
    )  # fmt: skip
    try:
        wait_for(lambda: bool(published(home)) and not any(dock.iterdir()), log)
        assert published(home, "timestamp") == {}  # the authority is down: ingest went on
        tsa_server.restart()
        wait_for(lambda: set(published(home)) <= set(published(home, "timestamp")), log)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()


def wait_for(condition: Callable[[], bool], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s; daemon log:\n{log.read_text()}")
        time.sleep(0.2)


# --- the auditor ----------------------------------------------------------------------------


@dataclass
class Station:
    tmp: Path
    home: Path
    env: dict[str, str]
    trust: Path
    tsa: TsaServer

    def token(self, size: int) -> Path:
        return published(self.home, "timestamp")[size]

    def replace(self, path: Path, data: bytes) -> None:
        path.chmod(0o644)  # the vault keeps its objects read-only
        path.write_bytes(data)

    def audit(self, trust: Path | None = None) -> tuple[int, dict[str, Any]]:
        r = run_script(
            "recorder-audit", self.env, "verify", "--trust", str(trust or self.trust),
            "--state", str(self.tmp / "audit-state"), "--json",
        )  # fmt: skip
        assert r.returncode in (0, 3, 4), r.stderr
        return r.returncode, json.loads(r.stdout)


@pytest.fixture
def station(tmp_path: Path, db_url: str, tsa_server: TsaServer) -> Station:
    home = tmp_path / "home"
    env = tsa_env(home, db_url, tsa_server)
    ingest(env, tmp_path / "d1", "a.bin")
    ingest(env, tmp_path / "d2", "b.bin")
    assert len(published(home, "timestamp")) == len(published(home)) == 2
    trust = tmp_path / "trust.json"
    r = run(env, "keys", "export-trust", "--out", str(trust))
    assert r.returncode == 0 and "1 time-stamping root(s)" in r.stdout, r.stderr
    return Station(tmp_path, home, env, trust, tsa_server)


@pytest.fixture
def other_tsa() -> Iterator[TsaServer]:
    """An authority with its own CA, which the auditor was never given."""
    with tempfile.TemporaryDirectory(prefix="rs-tsa-other-") as d:
        server = start(Path(d))
        try:
            yield server
        finally:
            server.stop()


def test_the_untouched_station_with_tokens_verifies(station: Station) -> None:
    trust = json.loads(station.trust.read_text())
    assert trust["tsa_roots"] == [station.tsa.root_pem.read_text()]
    code, report = station.audit()
    assert code == 0, report
    assert report["checked"]["checkpoints with a token"] == 2 and report["checked"]["checkpoints"] == 2


def test_a_token_with_a_flipped_byte_is_a_problem(station: Station) -> None:
    first = min(published(station.home))
    token = station.token(first)
    data = bytearray(token.read_bytes())
    data[-10] ^= 1  # inside the signature
    station.replace(token, bytes(data))
    code, report = station.audit()
    assert code == 3
    assert [(p["check"], p["subject"]) for p in report["problems"]] == [("timestamp", f"checkpoint:{first}")]


def test_a_token_over_another_checkpoint_is_a_problem(station: Station) -> None:
    first, second = sorted(published(station.home))
    station.replace(station.token(second), station.token(first).read_bytes())
    code, report = station.audit()
    assert code == 3
    [problem] = report["problems"]
    assert (problem["check"], problem["subject"]) == ("timestamp", f"checkpoint:{second}")
    assert "imprint" in problem["reason"].lower() or "message" in problem["reason"].lower(), problem


def test_a_token_from_an_authority_the_auditor_does_not_trust_is_a_problem(
    station: Station, other_tsa: TsaServer
) -> None:
    first = min(published(station.home))
    checkpoint = published(station.home)[first].read_bytes()
    foreign = TsaClient(other_tsa.url, load_roots(other_tsa.root_pem.read_bytes())).stamp(checkpoint, "cp")
    station.replace(station.token(first), foreign.reply)
    code, report = station.audit()
    assert code == 3
    assert [(p["check"], p["subject"]) for p in report["problems"]] == [("timestamp", f"checkpoint:{first}")]


def test_tokens_with_no_time_stamping_root_in_the_trust_anchors_could_not_be_checked(
    station: Station,
) -> None:
    doc = json.loads(station.trust.read_text())
    del doc["tsa_roots"]  # a trust file from before time-stamping
    old = station.tmp / "old-trust.json"
    old.write_text(json.dumps(doc))
    code, report = station.audit(old)
    assert code == 4 and report["problems"] == []
    [unchecked] = report["unchecked"]
    assert unchecked["check"] == "timestamp" and "2 time-stamp token(s)" in unchecked["reason"]
