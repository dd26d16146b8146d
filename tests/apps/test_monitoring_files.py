"""The shipped Prometheus alert rules and Grafana dashboard: promtool checks the rules and runs their
unit tests (tests/prometheus/rules_test.yml); the dashboard is valid JSON with a query in every
panel. That every name they use is really exported is checked against a live scrape in
test_metrics.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "config" / "prometheus-rules.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe, "promtool missing: apt-get install --no-install-recommends prometheus (scripts/setup does)"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


def test_rules_pass_promtool_check() -> None:
    r = promtool("check", "rules", str(RULES))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 7 rules found" in r.stdout


def test_rules_unit_tests_pass() -> None:
    r = promtool("test", "rules", str(ROOT / "tests" / "prometheus" / "rules_test.yml"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_promtool_would_catch_a_broken_rule(tmp_path: Path) -> None:
    assert "deriv(recorder_sync_backlog[30m])" in RULES.read_text() and "> 3600\n" in RULES.read_text()
    broken = tmp_path / "rules.yml"
    broken.write_text(
        RULES.read_text().replace("deriv(recorder_sync_backlog[30m])", "deriv(recorder_sync_backlog)")
    )
    assert promtool("check", "rules", str(broken)).returncode != 0
    # and a rule that no longer fires when it should fails its unit test
    quiet = tmp_path / "config" / "prometheus-rules.yml"
    quiet.parent.mkdir()
    quiet.write_text(RULES.read_text().replace("> 3600\n", "> 36000\n"))
    tests = tmp_path / "tests" / "prometheus" / "rules_test.yml"
    tests.parent.mkdir(parents=True)
    tests.write_text((ROOT / "tests" / "prometheus" / "rules_test.yml").read_text())
    assert promtool("test", "rules", str(tests)).returncode != 0


def test_rules_cover_the_alerts_operators_asked_for() -> None:
    text = RULES.read_text()
    for alert in (
        "RecorderSyncUploadDeadlineAtRisk",
        "RecorderSyncBacklogGrowing",
        "RecorderSyncStorageDown",
        "RecorderSyncNoCheckpoint",
        "RecorderSyncDaemonDown",
        "RecorderSyncAbsent",
    ):
        assert f"- alert: {alert}\n" in text


def test_dashboard_is_valid_json_with_a_query_in_every_panel() -> None:
    dashboard = json.loads((ROOT / "config" / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] == "recorder-sync"
    panels = dashboard["panels"]
    assert len(panels) >= 10
    assert len({p["id"] for p in panels}) == len(panels)
    for p in panels:
        assert p["title"] and p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
        grid = p["gridPos"]
        assert grid["x"] + grid["w"] <= 24
