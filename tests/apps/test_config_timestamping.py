"""``[timestamping]``: the TSA's URL, its certificates (PEM), the request timeout; each also
``RECORDER_SYNC_TSA_*``; none by default; bad values stop at start (exit 2) naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder_sync.apps import config
from recorder_sync.domain.errors import ConfigError

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_off_by_default() -> None:
    assert config.load(None, env={"RECORDER_SYNC_HOME": "/data/rs"}).timestamping is None


def test_file_and_environment(tmp_path: Path) -> None:
    certs = tmp_path / "tsa.pem"
    certs.write_text(PEM)
    f = tmp_path / "c.toml"
    f.write_text(
        f'[timestamping]\ntsa_url = "https://tsa.example/tsr"\ntsa_certs = "{certs}"\ntimeout_seconds = 20\n'
    )
    assert config.load(f, env={}).timestamping == config.TimestampingSettings(
        "https://tsa.example/tsr", certs, 20.0
    )
    other = tmp_path / "other.pem"
    other.write_text(PEM)
    env = {
        "RECORDER_SYNC_TSA_URL": "http://10.0.0.5:318/",
        "RECORDER_SYNC_TSA_CERTS": str(other),
        "RECORDER_SYNC_TSA_TIMEOUT_SECONDS": "5",
    }
    assert config.load(f, env=env).timestamping == config.TimestampingSettings(
        "http://10.0.0.5:318/", other, 5.0
    )
    only_env = config.load(None, env={k: v for k, v in env.items() if "TIMEOUT" not in k})
    assert only_env.timestamping == config.TimestampingSettings("http://10.0.0.5:318/", other, 10.0)


T = '[timestamping]\ntsa_url = "https://tsa.example"\n'
TSA, T_ENV = "timestamping.", "RECORDER_SYNC_TSA_"
GOOD_ENV = {T_ENV + "URL": "https://t", T_ENV + "CERTS": "{pem}"}


@pytest.mark.parametrize(
    ("text", "env", "key", "says"),
    [
        ('[timestamping]\ntsa_url = "ftp://t"\ntsa_certs = "{pem}"\n', {}, TSA + "tsa_url", "http or https"),
        ("[timestamping]\ntsa_url = 5\n", {}, TSA + "tsa_url", "http or https"),
        (T, {}, TSA + "tsa_certs", "required with tsa_url"),
        (T + 'tsa_certs = "{missing}"\n', {}, TSA + "tsa_certs", "No such file"),
        (T + 'tsa_certs = "{text}"\n', {}, TSA + "tsa_certs", "no PEM certificate"),
        (T + 'tsa_certs = "{pem}"\ntimeout_seconds = 0\n', {}, TSA + "timeout_seconds", "≥ 1"),
        ("", GOOD_ENV | {T_ENV + "TIMEOUT_SECONDS": "nan"}, T_ENV + "TIMEOUT_SECONDS", "≥ 1"),
        ("", {T_ENV + "URL": "not a url"}, T_ENV + "URL", "http or https"),
        ("[timestamping]\npolicy = 1\n", {}, TSA + "policy", "unknown key"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, env: dict[str, str], key: str, says: str) -> None:
    (tmp_path / "pem").write_text(PEM)
    (tmp_path / "text").write_text("hello\n")
    paths = {"pem": tmp_path / "pem", "text": tmp_path / "text", "missing": tmp_path / "missing"}
    f = tmp_path / "c.toml"
    f.write_text(text.format(**paths))
    with pytest.raises(ConfigError, match=says) as caught:
        config.load(f, env={k: v.format(**paths) for k, v in env.items()})
    assert key in str(caught.value) and caught.value.exit_code == 2
