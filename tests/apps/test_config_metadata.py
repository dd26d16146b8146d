"""``[metadata]``: the span in which camera times are believed (issue 7, item 4)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from recorder_sync.apps import config
from recorder_sync.apps.wiring import make_dock
from recorder_sync.domain.errors import ConfigError
from recorder_sync.domain.timebounds import DEFAULT_BOUNDS


def _load(tmp_path: Path, text: str) -> config.Settings:
    f = tmp_path / "c.toml"
    f.write_text(text)
    return config.load(f, env={"RECORDER_SYNC_HOME": str(tmp_path / "home")})


def test_default_span_and_dates_or_date_times_with_offset(tmp_path: Path) -> None:
    assert _load(tmp_path, "").metadata_bounds == DEFAULT_BOUNDS
    s = _load(
        tmp_path,
        '[metadata]\nearliest = 2010-01-01\nlatest = "2030-06-01T00:00:00+08:00"\n'
        '[[docks]]\npath = "/media/d"\n',
    )
    assert s.metadata_bounds.earliest == datetime(2010, 1, 1, tzinfo=UTC)
    assert s.metadata_bounds.latest == datetime(2030, 5, 31, 16, tzinfo=UTC)
    assert make_dock(s, s.docks[0]).bounds == s.metadata_bounds  # what the pipeline uses


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ("[metadata]\nearliest = 2010-01-01T00:00:00\n", "metadata.earliest", "with offset"),
        ('[metadata]\nlatest = "soon"\n', "metadata.latest", "got 'soon'"),
        ("[metadata]\nlatest = 08:00:00\n", "metadata.latest", "expected a date"),
        ('[metadata]\nearliest = "0001-01-01T00:00:00+01:00"\n', "metadata.earliest", "with offset"),
        ("[metadata]\nearliest = 2030-01-01\nlatest = 2020-01-01\n", "metadata", "must be before"),
        ("[metadata]\nfrom = 2030-01-01\n", "metadata.from", "unknown key"),
    ],
)
def test_bad_span_is_a_configuration_error(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert f"key '{key}'" in message and fragment in message, message
