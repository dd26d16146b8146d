"""``[alerts]``, ``[deadlines]`` and ``[policy]`` from the TOML file and the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from clirunner import env_for, run

from recorder_sync.apps import config
from recorder_sync.domain.errors import ConfigError
from recorder_sync.domain.policy import Requirement


def test_alerts_policy_and_deadlines_from_file_and_env(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret\n")
    f = tmp_path / "c.toml"
    f.write_text(
        "[alerts]\n"
        'webhooks = ["http://127.0.0.1:9/a"]\n'
        'smtp_host = "mail.example"\nsmtp_to = ["duty@example"]\n'
        f'smtp_password_file = "{secret}"\nsmtp_starttls = true\nmin_severity = "high"\n'
        "[deadlines]\nupload_deadline_hours = 12\nat_risk_lead_hours = 3\n"
        '[policy.road_closure]\nrequirement = "recommended"\nlabel_zh = "道路封闭"\n'
        '[policy.inspection]\nrequirement = "full"\n'
    )
    env = {
        "RECORDER_SYNC_ALERT_WEBHOOKS": "http://a.example/1 http://b.example/2",
        "RECORDER_SYNC_ALERT_SMTP_PORT": "2525",
    }
    s = config.load(f, env=env)
    assert s.alerts.webhooks == ("http://a.example/1", "http://b.example/2")
    assert (s.alerts.smtp_host, s.alerts.smtp_port, s.alerts.smtp_to) == (
        "mail.example",
        2525,
        ("duty@example",),
    )
    assert s.alerts.smtp_password == "s3cret" and "s3cret" not in repr(s.alerts)
    assert s.alerts.min_severity == "high"
    policy, deadlines = s.policy, s.deadlines
    assert deadlines.upload_deadline == timedelta(hours=12) and str(deadlines.display_tz) == "Asia/Shanghai"
    assert (
        policy["road_closure"].label_zh == "道路封闭" and policy["inspection"].requirement is Requirement.FULL
    )
    assert policy["seizure"].requirement is Requirement.FULL


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('[alerts]\nwebhooks = ["ftp://x"]\n', "alerts.webhooks"),
        ('[alerts]\nmin_severity = "loud"\n', "alerts.min_severity"),
        ("[alerts]\nsmtp = 1\n", "alerts.smtp"),
    ],
)
def test_bad_alert_settings_name_the_key(tmp_path: Path, body: str, where: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(body)
    with pytest.raises(ConfigError) as e:
        config.load(f, env={})
    assert where in str(e.value)


@pytest.mark.parametrize(
    ("body", "where", "expected"),
    [
        (
            "[policy.seizure]\ngrace_hours = 1e12\n",
            "policy.seizure.grace_hours",
            "<= 8760 h, got 1000000000000.0",
        ),
        ("[deadlines]\nundocked_after_hours = 1e300\n", "deadlines.undocked_after_hours", "<= 8760 h"),
        ("[deadlines]\nlink_slack_seconds = 1e12\n", "deadlines.link_slack_seconds", "<= 86400 s"),
        ("[deadlines]\ncase_file_days = 100000000000\n", "deadlines.case_file_days", "<= 3650"),
        ('[deadlines]\ntimezone = "Mars/Olympus"\n', "deadlines.timezone", "IANA"),
        ('[policy.patrol]\nlabel_en = "Patrol"\n', "policy.patrol.requirement", "required"),
    ],
)
def test_policy_and_deadlines_are_checked_when_the_configuration_loads(
    tmp_path: Path, body: str, where: str, expected: str
) -> None:
    f = tmp_path / "c.toml"
    f.write_text(body)
    with pytest.raises(ConfigError) as e:
        config.load(f, env={})
    assert str(e.value).startswith(f"Configuration error in {f}: key '{where}': ")
    assert expected in str(e.value) and e.value.exit_code == 2


def test_run_with_a_bad_policy_fails_before_it_opens_storage(tmp_path: Path) -> None:
    home, dock = tmp_path / "home", tmp_path / "dock"
    dock.mkdir()
    (dock / "a.mp4").write_bytes(b"footage")
    f = tmp_path / "c.toml"
    f.write_text("[policy.seizure]\ngrace_hours = 1e12\n")
    env = env_for(home, f"sqlite:///{home / 'recorder-sync.db'}", RECORDER_SYNC_CONFIG=str(f))
    r = run(env, "run", "--dock", str(dock), timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"Configuration error in {f}: key 'policy.seizure.grace_hours'" in r.stderr
    assert "Traceback" not in r.stderr
    # nothing opened: no database, no vault, no key; the dock as it was
    assert not home.exists()
    assert (dock / "a.mp4").read_bytes() == b"footage"
