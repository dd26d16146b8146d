"""``claim_seconds``: the lease on a row a daemon works (checked like every other number)."""

from __future__ import annotations

from pathlib import Path

import pytest
from clirunner import env_for, run

from recorder_sync.apps import config
from recorder_sync.domain.errors import ConfigError


def test_default_example_and_override(tmp_path: Path) -> None:
    assert config.load(None, env={}).claim_seconds == 300.0
    example = Path(__file__).resolve().parents[2] / "config" / "recorder-sync.toml"
    assert config.load(example, env={}).claim_seconds == 300.0
    f = tmp_path / "c.toml"
    f.write_text("claim_seconds = 30\n")
    assert config.load(f, env={}).claim_seconds == 30.0
    assert config.load(f, env={"RECORDER_SYNC_CLAIM_SECONDS": "2.5"}).claim_seconds == 2.5


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-5", "86401", "true", '"x"'])
def test_a_bad_lease_names_the_key_and_the_range(tmp_path: Path, value: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(f"claim_seconds = {value}\n")
    with pytest.raises(ConfigError, match=r"claim_seconds.*(≥ 1 and ≤ 86400 s|expected int or float)"):
        config.load(f, env={})


def test_the_real_cli_exits_2_on_a_bad_lease_in_the_environment(tmp_path: Path) -> None:
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'c.db'}", RECORDER_SYNC_CLAIM_SECONDS="nan")
    r = run(env, "status")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "key 'RECORDER_SYNC_CLAIM_SECONDS': expected a number ≥ 1 and ≤ 86400 s, got 'nan'" in r.stderr
