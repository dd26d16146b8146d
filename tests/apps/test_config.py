from __future__ import annotations

from pathlib import Path

import pytest

from recorder_sync.apps import config
from recorder_sync.domain.errors import ConfigError
from recorder_sync.domain.model import ReleasePolicy

ROOT = Path(__file__).resolve().parents[2]


def test_no_file_puts_everything_under_home() -> None:
    s = config.load(None, env={"RECORDER_SYNC_HOME": "/data/rs"})
    assert s.database_url == "sqlite:////data/rs/recorder-sync.db"
    assert s.vault_path == Path("/data/rs/vault") and s.key_path == Path("/data/rs/keys/station.key")
    assert s.release_policy == ReleasePolicy.DELETE and s.docks == () and s.s3 is None


def test_shipped_example_loads() -> None:
    s = config.load(ROOT / "config" / "recorder-sync.toml", env={})
    assert [d.name for d in s.docks] == ["dock-1", "dock-2"]
    assert s.docks[0].observer == "polling" and s.docks[1].naming_profile == "folders"
    assert "vendor_x" in s.naming_profiles


def test_environment_overrides_file(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('station_id = "a"\nrelease_policy = "delete"\n')
    s = config.load(
        f,
        env={
            "RECORDER_SYNC_STATION_ID": "b",
            "RECORDER_SYNC_RELEASE_POLICY": "keep",
            "RECORDER_SYNC_DOCKS": "/m/d1:/m/d2",
        },
    )
    assert s.station_id == "b" and s.release_policy == ReleasePolicy.KEEP
    assert [d.name for d in s.docks] == ["d1", "d2"]


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ('release_policy = "shred"', "release_policy", "'delete' or 'keep'"),
        ('timezone = "Mars/Olympus"', "timezone", "IANA time zone"),
        ("stable_seconds = -1", "stable_seconds", "≥ 0"),
        ('[[docks]]\nname = "x"', "docks[0].path", "dock's folder"),
        ('[[docks]]\npath = "/m"\nobserver = "fanotify"', "docks[0].observer", "'inotify' or 'polling'"),
        ('[[docks]]\npath = "/m"\nnaming_profile = "nope"', "docks[0].naming_profile", "expected one of"),
        ('[naming_profiles.p]\npattern = "(unclosed"', "naming_profiles.p.pattern", "not a valid regular"),
        ('[s3]\nendpoint = "http://x"', "s3.bucket", "required"),
        ("bogus = 1", "bogus", "unknown key"),
        ("station_id = 5", "station_id", "expected str"),
    ],
)
def test_bad_config_names_file_key_and_expectation(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text + "\n")
    with pytest.raises(ConfigError) as e:
        config.load(f, env={})
    msg = str(e.value)
    assert str(f) in msg and f"'{key}'" in msg and expected in msg


def test_unparseable_and_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "x.toml"
    f.write_text("a = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(f, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.toml", env={})


def test_s3_from_environment_and_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    env = {
        "RECORDER_SYNC_S3_ENDPOINT": "http://127.0.0.1:7480",
        "RECORDER_SYNC_S3_BUCKET": "b",
        "RECORDER_SYNC_S3_ACCESS_KEY": "ak",
        "RECORDER_SYNC_S3_SECRET_KEY_FILE": str(secret),
    }
    s = config.load(None, env=env)
    assert s.s3 is not None and s.s3.secret_key == "s3cr3t" and s.s3.bucket == "b"
    assert "s3cr3t" not in repr(s.s3)
