"""The station id is signed into every manifest and custody event and printed by ``status``
and ``health``: one with a newline or a terminal escape would forge their lines for good
(``healthy: station fake`` on a line of its own).  It is refused when the configuration
loads, from the file or the environment, before anything is opened."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirunner import env_for, run
from test_config_files import dock_with_a_file

from recorder_sync.apps import config
from recorder_sync.domain.errors import ConfigError

FORGED = "st-1\x1b[2J\nhealthy: station fake"


@pytest.mark.parametrize("command", [("health",), ("status",), ("ingest", "DOCK")])
def test_a_station_id_with_control_characters_is_exit_2_and_nothing_is_done(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    dock, media = dock_with_a_file(tmp_path)
    home = tmp_path / "home"
    env = env_for(home, f"sqlite:///{home / 'db.sqlite'}", RECORDER_SYNC_STATION_ID=FORGED)
    env["RECORDER_SYNC_LOG_ORIGIN"] = "recorder-sync/st-1"  # the origin alone is checked already
    r = run(env, *(str(dock) if a == "DOCK" else a for a in command))
    assert r.returncode == 2, r.stderr
    assert "healthy" not in r.stdout and "\x1b" not in r.stdout + r.stderr
    assert "key 'RECORDER_SYNC_STATION_ID': expected a name of printable characters" in r.stderr, r.stderr
    assert "contains control character U+001B" in r.stderr
    assert media.read_bytes() == b"not really a video" and not home.exists()


@pytest.mark.parametrize(
    "value,why",
    [
        ("st\u202e1", "control character U+202E"),
        ("st\x00", "NUL"),
        (" \t ", "control character U+0009"),
        ("   ", "blank"),
        ("s" * 101, "longer than 100 characters"),
    ],
)
def test_a_station_id_in_the_file_is_checked_and_named(tmp_path: Path, value: str, why: str) -> None:
    f = tmp_path / "c.toml"
    # a JSON string (\uXXXX escapes) is a TOML basic string
    f.write_text(f'station_id = {json.dumps(value)}\n[log]\norigin = "x"\n')
    with pytest.raises(ConfigError) as e:
        config.load(f, env={})
    assert e.value.args[1] == "station_id" and why in str(e.value), str(e.value)


def test_ordinary_station_ids_still_load(tmp_path: Path) -> None:
    for value in ("st-1", "Station 北京 1", "bay.3_front"):
        f = tmp_path / "c.toml"
        f.write_text(f'station_id = "{value}"\n[log]\norigin = "x"\n')
        assert config.load(f, env={}).station_id == value


@pytest.mark.parametrize(
    "name,why",
    [
        ("bay\u001b[2J\nhealthy", "contains control character U+001B"),
        ("bay\u202e1", "contains control character U+202E"),
        ("bay/1", "contains '/'"),  # dock 'bay/1' file 'c' and dock 'bay' file '1/c': one subject
        ("  ", "blank"),
    ],
)
def test_a_dock_name_that_would_forge_output_or_subjects_is_exit_2(
    tmp_path: Path, name: str, why: str
) -> None:
    dock, media = dock_with_a_file(tmp_path)
    conf = tmp_path / "c.toml"
    conf.write_text(f"[[docks]]\npath = {json.dumps(str(dock))}\nname = {json.dumps(name)}\n")
    home = tmp_path / "home"
    env = env_for(home, f"sqlite:///{home / 'db.sqlite'}", RECORDER_SYNC_CONFIG=str(conf))
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 2, r.stderr
    assert (
        f"Configuration error in {conf}: key 'docks[0].name': expected a name of printable characters"
        in r.stderr
    )
    assert why in r.stderr and "\x1b" not in r.stderr, r.stderr
    assert media.read_bytes() == b"not really a video" and not home.exists()


def test_ordinary_dock_names_still_load(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[[docks]]\npath = "/mnt/a"\nname = "Bay 北 1"\n[[docks]]\npath = "/mnt/b"\nname = ""\n')
    assert [d.name for d in config.load(f, env={}).docks] == ["Bay 北 1", "b"]
