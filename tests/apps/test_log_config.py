"""``[log]``: the custody log's origin, whether this station signs its checkpoints, the log key
and how often; each key also ``RECORDER_SYNC_LOG_<KEY>``; bad values stop at start (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder_sync.apps import config
from recorder_sync.domain.errors import ConfigError


def test_defaults_follow_the_station_and_the_station_key() -> None:
    s = config.load(None, env={"RECORDER_SYNC_HOME": "/data/rs", "RECORDER_SYNC_STATION_ID": "st-9"})
    assert s.log == config.LogSettings("recorder-sync/st-9", True, Path("/data/rs/keys/log.key"), 60.0)
    moved = config.load(None, env={"RECORDER_SYNC_KEY_PATH": "/etc/rs/keys/station.key"})
    assert moved.log.key_path == Path("/etc/rs/keys/log.key")  # beside the station key


def test_file_and_environment(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text(
        '[log]\norigin = "police.example/bwc/station-3"\nsign = false\n'
        'key_path = "/srv/keys/log.key"\ncheckpoint_seconds = 300\n'
    )
    s = config.load(f, env={})
    expected = config.LogSettings("police.example/bwc/station-3", False, Path("/srv/keys/log.key"), 300.0)
    assert s.log == expected
    env = {
        "RECORDER_SYNC_LOG_ORIGIN": "other/log",
        "RECORDER_SYNC_LOG_SIGN": "true",
        "RECORDER_SYNC_LOG_KEY_PATH": "/k/log.key",
        "RECORDER_SYNC_LOG_CHECKPOINT_SECONDS": "15",
    }
    assert config.load(f, env=env).log == config.LogSettings("other/log", True, Path("/k/log.key"), 15.0)


@pytest.mark.parametrize(
    ("text", "env", "key", "says"),
    [
        ('[log]\norigin = "has space"\n', {}, "log.origin", "letters, digits"),
        ("[log]\norigin = 5\n", {}, "log.origin", "expected a string"),
        ("", {"RECORDER_SYNC_LOG_ORIGIN": "a/../b"}, "RECORDER_SYNC_LOG_ORIGIN", "letters, digits"),
        ('[log]\nsign = "maybe"\n', {}, "log.sign", "true or false"),
        ("", {"RECORDER_SYNC_LOG_SIGN": "sometimes"}, "RECORDER_SYNC_LOG_SIGN", "true or false"),
        ("[log]\ncheckpoint_seconds = 0\n", {}, "log.checkpoint_seconds", "≥ 1"),
        ("", {"RECORDER_SYNC_LOG_CHECKPOINT_SECONDS": "nan"}, "RECORDER_SYNC_LOG_CHECKPOINT_SECONDS", "≥ 1"),
        ("[log]\nwitness = 1\n", {}, "log.witness", "unknown key"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, env: dict[str, str], key: str, says: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=says) as caught:
        config.load(f, env=env)
    assert key in str(caught.value) and caught.value.exit_code == 2
