"""Prometheus metrics with the real daemon: ingest a few files, scrape /metrics over HTTP, parse it
with prometheus_client's own parser, and check the figures against the files and ``status --json``."""

from __future__ import annotations

import json
import random
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from clirunner import EXE, env_for, run, run_json
from prometheus_client.parser import text_string_to_metric_families
from tsaserver import TsaServer

from recorder_sync.domain.metrics import parse_listen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as reply:
        return str(reply.read().decode())


def samples(text: str) -> Samples:
    """Every sample of a /metrics text, by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def wait_until_done(env: dict[str, str], dock: Path, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while any(p.is_file() for p in dock.rglob("*")) or run_json(env, "status")["backlog"]:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def exported_names(text: str) -> set[str]:
    """Every series name a query may use: the samples, and each declared family with its suffixes
    (a labelled counter that has not counted yet is declared, with no sample)."""
    names = {name for name, _ in samples(text)}
    for family in re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE):
        names |= {family + suffix for suffix in ("", "_total", "_bucket", "_count", "_sum", "_created")}
    return names


def names_used(text: str) -> set[str]:
    return set(re.findall(r"\b(?:recorder_sync|process)_[a-z_]+\b", text))


def test_a_scrape_counts_what_the_daemon_did(tmp_path: Path, db_url: str, tsa_server: TsaServer) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    rng = random.Random(12)
    sizes = []
    for i in range(3):  # not media: each is also flagged unreadable, which the flag gauge shows
        data = rng.randbytes(100_000 + 7919 * i)
        (dock / f"DSJ-M{i}_031245_20261127083015_000{i}.MP4").write_bytes(data)
        sizes.append(len(data))
    port = free_port()
    env = env_for(
        tmp_path / "home",
        db_url,
        RECORDER_SYNC_METRICS_LISTEN=f"127.0.0.1:{port}",
        RECORDER_SYNC_TSA_URL=tsa_server.url,
        RECORDER_SYNC_TSA_CERTS=str(tsa_server.root_pem),
    )
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        [EXE, "-v", "run", "--dock", str(dock), "--stable-seconds", "0.2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    try:
        wait_until_done(env, dock, proc, log)
        status = run_json(env, "status")
        text = scrape_text(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()
    m = samples(text)

    for stage in ("hashed", "stored", "verified", "released"):
        assert m[("recorder_sync_files_total", (("stage", stage),))] == 3, stage
        assert m[("recorder_sync_bytes_total", (("stage", stage),))] == sum(sizes), stage
        assert m[("recorder_sync_stage_duration_seconds_count", (("stage", stage),))] == 3
    # the gauges read from the database agree with `status --json`
    for state, n in status["recordings"].items():
        assert m[("recorder_sync_recordings", (("state", state),))] == n
    for state, n in status["sightings"].items():
        assert m[("recorder_sync_dock_files", (("state", state),))] == n
    assert m[("recorder_sync_backlog", ())] == status["backlog"] == 0
    assert m[("recorder_sync_oldest_pending_age_seconds", ())] == 0
    assert m[("recorder_sync_database_up", ())] == 1
    flags = {labels: v for (name, labels), v in m.items() if name == "recorder_sync_open_flags"}
    assert sum(flags.values()) == sum(status["open_flags"].values()) == 3
    assert set(flags) == {(("kind", "unreadable-media"), ("severity", sev)) for sev in status["open_flags"]}
    assert m[("recorder_sync_log_entries", ())] == status["custody_events"]
    assert m[("recorder_sync_storage_last_success_timestamp_seconds", ())] > 0
    assert m[("recorder_sync_alert_queue_length", ())] == 0
    assert m[("recorder_sync_alerts_dropped_total", ())] == 0
    assert m[("recorder_sync_last_sweep_timestamp_seconds", ())] > 0
    assert m[("recorder_sync_checkpoints_without_timestamp", ())] >= 0

    # the shipped alert rules and dashboard use only names this daemon really exports
    exported = exported_names(text)
    rules = (ROOT / "config" / "prometheus-rules.yml").read_text()
    assert names_used(rules) and names_used(rules) <= exported, names_used(rules) - exported
    dashboard = json.loads((ROOT / "config" / "grafana-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    assert names_used(exprs) and names_used(exprs) <= exported, names_used(exprs) - exported


def test_a_port_in_use_stops_the_start_with_a_clear_error(tmp_path: Path, db_url: str) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = env_for(tmp_path / "home", db_url, RECORDER_SYNC_METRICS_LISTEN=f"127.0.0.1:{port}")
        r = run(env, "run", "--dock", str(dock), timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"Cannot serve metrics on 127.0.0.1:{port} ([metrics] listen): Address already in use" in r.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9464", "expected HOST:PORT such as 127.0.0.1:9464"),
        ("localhost:9464", "expected an IP address before the port"),
        ("127.0.0.1:http", "expected a port from 1 to 65535"),
        ("127.0.0.1:70000", "expected a port from 1 to 65535"),
        ("[::1:9464", "expected an IP address before the port"),
    ],
)
def test_a_bad_listen_address_is_exit_2_naming_the_variable(tmp_path: Path, value: str, message: str) -> None:
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'c.db'}", RECORDER_SYNC_METRICS_LISTEN=value)
    r = run(env, "status", timeout=60)
    assert r.returncode == 2
    assert "RECORDER_SYNC_METRICS_LISTEN" in r.stderr and message in r.stderr, r.stderr


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    assert parse_listen("0.0.0.0:1") == ("0.0.0.0", 1)
    with pytest.raises(ValueError):
        parse_listen("127.0.0.1:0")


def test_the_config_file_key(tmp_path: Path) -> None:
    from recorder_sync.apps.config import load

    cfg = tmp_path / "c.toml"
    cfg.write_text('[metrics]\nlisten = "127.0.0.1:9464"\n')
    assert load(cfg, {}).metrics_listen == ("127.0.0.1", 9464)
    assert load(None, {}).metrics_listen is None  # off by default
    cfg.write_text("[metrics]\nlisten = 9464\n")
    with pytest.raises(Exception, match=r"metrics\.listen"):
        load(cfg, {})
    cfg.write_text('[metrics]\nport = "9464"\n')
    with pytest.raises(Exception, match=r"metrics\.port.*unknown key"):
        load(cfg, {})
