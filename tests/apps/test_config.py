from __future__ import annotations

from pathlib import Path

import pytest
from clirunner import env_for, run

from recorder_sync.adapters.alerts import AlertSettings
from recorder_sync.adapters.s3settings import S3Settings
from recorder_sync.apps import config
from recorder_sync.domain.errors import ConfigError
from recorder_sync.domain.model import ReleasePolicy

ROOT = Path(__file__).resolve().parents[2]
S3 = '[s3]\nendpoint = "http://127.0.0.1:7480"\nbucket = "evidence"\naccess_key = "a"\nsecret_key = "s"\n'
S3_ENV = {
    "RECORDER_SYNC_S3_ENDPOINT": "http://127.0.0.1:7480",
    "RECORDER_SYNC_S3_BUCKET": "evidence",
    "RECORDER_SYNC_S3_ACCESS_KEY": "a",
    "RECORDER_SYNC_S3_SECRET_KEY": "s",
}


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
        # every number: finite and in range; database URLs of a kind we can open (issue 7)
        ("stable_seconds = nan", "stable_seconds", "a number ≥ 0 and ≤ 86400 s, got nan"),
        ("stable_seconds = inf", "stable_seconds", "got inf"),
        ("stable_seconds = -inf", "stable_seconds", "got -inf"),
        ("stable_seconds = true", "stable_seconds", "a number ≥ 0 and ≤ 86400 s, got True"),
        ("reconcile_seconds = nan", "reconcile_seconds", "got nan"),
        ("reconcile_seconds = 1e300", "reconcile_seconds", "≤ 86400"),
        ("workers = 0", "workers", "a whole number ≥ 1 and ≤ 32"),
        ("workers = 33", "workers", "≤ 32"),
        ('[[docks]]\npath = "/m"\nstable_seconds = nan', "docks[0].stable_seconds", "got nan"),
        ('[[docks]]\npath = "/m"\nstable_seconds = -2', "docks[0].stable_seconds", "≥ 0"),
        (S3 + 'part_size_mib = "abc"', "s3.part_size_mib", "a whole number ≥ 5 and ≤ 5120 MiB, got 'abc'"),
        (S3 + "part_size_mib = 4", "s3.part_size_mib", "≥ 5"),
        (S3 + "part_size_mib = nan", "s3.part_size_mib", "got nan"),
        (S3 + "part_size_mib = 16.5", "s3.part_size_mib", "a whole number"),
        (S3 + "parallel_uploads = 0", "s3.parallel_uploads", "≥ 1 and ≤ 64"),
        (S3 + "[s3.retention_days]\nordinary = 0", "s3.retention_days.ordinary", "≥ 1 and ≤ 36500 days"),
        (S3 + "[s3.retention_days]\nordinary = inf", "s3.retention_days.ordinary", "got inf"),
        # the store's own checks, run when the configuration loads, naming the key as written
        (S3.replace('"evidence"', '"Evidence_1"'), "s3.bucket", "not a valid S3 bucket name"),
        (S3 + 'verify = "sometimes"', "s3.verify", "expected 'full' or 'stat'"),
        (S3 + 'retention_class = "forever"', "s3.retention_class", "is not a retention class"),
        (
            S3.replace("http://127.0.0.1:7480", "http://127.0.0.1:7480/path"),
            "s3.endpoint",
            "scheme, host and port",
        ),
        ("[alerts]\nsmtp_port = 70000", "alerts.smtp_port", "≤ 65535"),
        ('[alerts]\nsmtp_port = "smtp"', "alerts.smtp_port", "got 'smtp'"),
        ("[alerts]\nattempts = 0", "alerts.attempts", "≥ 1 and ≤ 100"),
        ("[alerts]\nbackoff_seconds = nan", "alerts.backoff_seconds", "got nan"),
        ("[alerts]\nbackoff_seconds = -1", "alerts.backoff_seconds", "≥ 0"),
        ('[alerts]\nsmtp_starttls = "yes"', "alerts.smtp_starttls", "true or false"),
        ('database_url = "bogus://x"', "database_url", "expected sqlite:///PATH or postgresql://"),
        ('database_url = "sqlite://"', "database_url", "expected sqlite:///PATH"),
        ('database_url = "postgresql://u@h:port/db"', "database_url", "expected sqlite:///PATH"),
        ('[keys]\npkcs11_slot = "1"', "keys.pkcs11_slot", "unknown key; expected one of pkcs11_label"),
        ("[keys]\npkcs11_module = 7", "keys.pkcs11_module", "expected a string, got 7"),
        ('[keys]\npkcs11_module = "/x.so"', "keys.pkcs11_pin_file", "user PIN is needed"),
        (
            '[keys]\npkcs11_module = "/x.so"\npkcs11_pin_file = "/nonexistent"',
            "keys.pkcs11_pin_file",
            "cannot read",
        ),
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
    assert e.value.exit_code == 2


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
        "RECORDER_SYNC_S3_BUCKET": "evidence",
        "RECORDER_SYNC_S3_ACCESS_KEY": "ak",
        "RECORDER_SYNC_S3_SECRET_KEY_FILE": str(secret),
    }
    s = config.load(None, env=env)
    assert s.s3 is not None and s.s3.secret_key == "s3cr3t" and s.s3.bucket == "evidence"
    assert "s3cr3t" not in repr(s.s3)


def test_pkcs11_token_from_file_and_pin_from_a_credential_file(tmp_path: Path) -> None:
    pin = tmp_path / "pin"
    pin.write_text("4321\n")
    f = tmp_path / "c.toml"
    f.write_text(f'[keys]\npkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"\npkcs11_pin_file = "{pin}"\n')
    s = config.load(f, env={})
    assert s.pkcs11 is not None and s.pkcs11.pin == "4321" and "4321" not in repr(s)
    assert (s.pkcs11.token, s.pkcs11.label) == ("recorder-sync", "station")
    assert config.load(None, env={}).pkcs11 is None  # a key file unless a token is named
    env = {"RECORDER_SYNC_PKCS11_PIN": "1111", "RECORDER_SYNC_PKCS11_LABEL": "k2"}
    s = config.load(f, env=env)
    assert s.pkcs11 is not None and (s.pkcs11.pin, s.pkcs11.label) == ("1111", "k2")


@pytest.mark.parametrize(
    ("env", "key", "expected"),
    [
        ({**S3_ENV, "RECORDER_SYNC_S3_PART_SIZE_MIB": "abc"}, "RECORDER_SYNC_S3_PART_SIZE_MIB", "got 'abc'"),
        ({**S3_ENV, "RECORDER_SYNC_S3_PARALLEL_UPLOADS": "1e9"}, "RECORDER_SYNC_S3_PARALLEL_UPLOADS", "≤ 64"),
        ({"RECORDER_SYNC_DATABASE_URL": "bogus://x"}, "RECORDER_SYNC_DATABASE_URL", "got 'bogus://x'"),
        ({"RECORDER_SYNC_STABLE_SECONDS": "nan"}, "RECORDER_SYNC_STABLE_SECONDS", "got 'nan'"),
        ({"RECORDER_SYNC_STABLE_SECONDS": "inf"}, "RECORDER_SYNC_STABLE_SECONDS", "got 'inf'"),
        ({"RECORDER_SYNC_STABLE_SECONDS": "-1"}, "RECORDER_SYNC_STABLE_SECONDS", "≥ 0"),
        ({"RECORDER_SYNC_RECONCILE_SECONDS": "soon"}, "RECORDER_SYNC_RECONCILE_SECONDS", "got 'soon'"),
        ({"RECORDER_SYNC_WORKERS": "2.0"}, "RECORDER_SYNC_WORKERS", "a whole number"),
        ({"RECORDER_SYNC_ALERT_SMTP_PORT": "abc"}, "RECORDER_SYNC_ALERT_SMTP_PORT", "got 'abc'"),
    ],
)
def test_bad_numbers_and_urls_in_the_environment_name_the_variable(
    env: dict[str, str], key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as e:
        config.load(None, env=env)
    assert f"'{key}'" in str(e.value) and expected in str(e.value)


def test_good_numbers_still_load() -> None:
    s = config.load(
        None,
        env={
            **S3_ENV,
            "RECORDER_SYNC_S3_PART_SIZE_MIB": "5",
            "RECORDER_SYNC_STABLE_SECONDS": "0",
            "RECORDER_SYNC_WORKERS": "32",
            "RECORDER_SYNC_DATABASE_URL": "postgresql://rs@db.example.org:5432/rs",
        },
    )
    assert (
        s.s3 is not None and s.s3.part_size == 5 * 1024 * 1024 and s.stable_seconds == 0.0 and s.workers == 32
    )


def test_a_dock_may_set_a_zero_stability_window(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('stable_seconds = 9\n[[docks]]\npath = "/m"\nstable_seconds = 0\n')
    assert config.load(f, env={}).docks[0].stable_seconds == 0.0


def test_database_url_password_is_not_shown() -> None:
    with pytest.raises(ConfigError) as e:
        config.load(None, env={"RECORDER_SYNC_DATABASE_URL": "mysql://rs:hunter2@db/rs?sslkey=k"})
    assert "hunter2" not in str(e.value) and "mysql://***@db/rs?***" in str(e.value)


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ('smtp_user = "u"\nsmtp_password = "p"', False),
        ('smtp_password = "p"', False),
        ('smtp_user = "u"\nsmtp_password = "p"\nsmtp_port = 587', False),
        ('smtp_user = "u"\nsmtp_password = "p"\nsmtp_starttls = true\nsmtp_port = 587', True),
        ('smtp_user = "u"\nsmtp_password = "p"\nsmtp_port = 465', True),
        ("smtp_port = 25", True),
    ],
)
def test_smtp_auth_without_tls_is_refused_at_load(tmp_path: Path, text: str, accepted: bool) -> None:
    f = tmp_path / "c.toml"
    f.write_text(f'[alerts]\nsmtp_host = "mail.example.org"\nsmtp_to = ["duty@example.org"]\n{text}\n')
    if accepted:
        config.load(f, env={})
        return
    with pytest.raises(ConfigError) as e:
        config.load(f, env={})
    msg = str(e.value)
    assert "'alerts.smtp_starttls'" in msg and "refusing SMTP AUTH without TLS" in msg and "465" in msg
    assert '"p"' not in msg


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("RECORDER_SYNC_S3_PART_SIZE_MIB", "abc"),
        ("RECORDER_SYNC_DATABASE_URL", "bogus://x"),
        ("RECORDER_SYNC_STABLE_SECONDS", "nan"),
    ],
)
def test_the_real_cli_exits_2_without_a_traceback(tmp_path: Path, var: str, value: str) -> None:
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'c.db'}", **S3_ENV, **{var: value})
    r = run(env, "status")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and f"key '{var}'" in r.stderr
    assert r.stderr.startswith("recorder-sync: Configuration error in defaults")


def test_an_unreachable_database_is_named_without_its_secrets(tmp_path: Path) -> None:
    url = "postgresql://rs:hunter2@127.0.0.1:1/rs?sslpassword=topsecret"
    r = run(env_for(tmp_path / "home", url), "-v", "status")
    assert r.returncode == 4, r.stderr
    assert "postgresql+psycopg://***@127.0.0.1:1/rs?***" in r.stderr
    assert "hunter2" not in r.stderr and "topsecret" not in r.stderr and "rs:" not in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("ingest", "{dock}", "--stable-seconds", "nan"),
        ("ingest", "{dock}", "--stable-seconds", "-1"),
        ("ingest", "{dock}", "--timeout", "inf"),
        ("run", "--dock", "{dock}", "--stable-seconds", "inf"),
        ("run", "--dock", "{dock}", "--sweep-seconds", "nan"),
    ],
)
def test_duration_options_are_checked_like_the_file(tmp_path: Path, args: tuple[str, ...]) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "x.bin").write_bytes(b"x")
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'c.db'}")
    r = run(env, *(a.format(dock=dock) for a in args), timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"argument {args[-2]}: expected a number ≥ 0" in r.stderr and "Traceback" not in r.stderr
    assert (dock / "x.bin").read_bytes() == b"x"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/recorder-sync/recorder-sync.db",
        "sqlite:///relative.db",
        "postgresql://rs@db.example.org:5432/rs",
        "postgresql:///rs",  # the local socket
        "postgresql:///rs?host=/run/postgresql",
        "postgresql+psycopg://rs@db/rs",
    ],
)
def test_database_urls_we_can_open_are_accepted(url: str) -> None:
    assert config.load(None, env={"RECORDER_SYNC_DATABASE_URL": url}).database_url == url


def test_each_adapter_has_one_settings_type_and_its_defaults_are_the_only_ones(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text(S3)
    s = config.load(f, env={})
    assert s.s3 == S3Settings(
        endpoint="http://127.0.0.1:7480", bucket="evidence", access_key="a", secret_key="s"
    )
    assert s.alerts == AlertSettings()
