"""``trust_file`` and ``[replay]``: the settings recorder-replay reads besides recorder-sync's."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from recorder_sync.apps import config
from recorder_sync.domain.access_report import AccessLimits
from recorder_sync.domain.errors import ConfigError


def test_replay_settings_from_file_and_environment(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text(
        'trust_file = "~/trust.json"\n[replay]\nbulk_recordings_per_day = 20\noffice_hours = "22:00-06:00"\n'
    )
    s = config.load(f, env={})
    assert s.trust_file == Path("~/trust.json").expanduser()
    assert s.access_limits == AccessLimits(20, time(22), time(6))
    assert config.load(f, env={"RECORDER_SYNC_TRUST_FILE": "/etc/rs/trust.json"}).trust_file == Path(
        "/etc/rs/trust.json"
    )
    defaults = config.load(None, env={})
    assert defaults.trust_file is None and defaults.access_limits == AccessLimits()


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("[replay]\nbulk_recordings_per_day = 0", "replay.bulk_recordings_per_day", "≥ 1"),
        ('[replay]\noffice_hours = "8-18"', "replay.office_hours", "HH:MM-HH:MM"),
        ('[replay]\noffice_hours = "08:00"', "replay.office_hours", "HH:MM-HH:MM"),
        ("[replay]\nhours = 1", "replay.hours", "unknown key"),
    ],
)
def test_bad_replay_settings_name_the_key(tmp_path: Path, text: str, key: str, expected: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text + "\n")
    with pytest.raises(ConfigError) as e:
        config.load(f, env={})
    assert f"'{key}'" in str(e.value) and expected in str(e.value) and e.value.exit_code == 2
