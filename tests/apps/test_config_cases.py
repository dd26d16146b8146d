"""``[alerts]``, ``[deadlines]`` and ``[policy]`` from the TOML file and the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from recorder_sync.apps import config
from recorder_sync.apps.wiring_cases import load_policy
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
    policy, deadlines = load_policy(s)
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
