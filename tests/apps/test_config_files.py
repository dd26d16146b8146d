"""The files an operator names in the configuration (the configuration file itself, secret
files, the TSA's certificates) may be anything: a FIFO, a device, a folder, a link loop, bytes
that are not UTF-8 or a huge file.  The real ``recorder-sync`` must refuse each with exit 2,
naming the file and the key, before it opens anything: never hang, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clirunner import env_for, run

# a FIFO nobody writes to: reading it would wait for ever, so a hang fails on the timeout
TIMEOUT = 120


def _bad_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"bad-{kind}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "not-utf8":
        path.write_bytes(b'station_id = "\xff\xfe"\n')
    elif kind == "huge":
        with open(path, "wb") as f:
            f.truncate(5 * 1024 * 1024)  # sparse: 5 MiB of NULs, more than any configuration
    elif kind == "device":
        return Path("/dev/zero")  # endless
    return path


REASONS = {
    "fifo": "a FIFO, not a regular file",
    "folder": "a folder, not a regular file",
    "loop": "Too many levels of symbolic links",
    "not-utf8": "not UTF-8 text",
    "huge": "larger than 4 MiB",
    "device": "a device, not a regular file",
}


def dock_with_a_file(tmp_path: Path) -> tuple[Path, Path]:
    dock = tmp_path / "dock"
    dock.mkdir()
    media = dock / "DSJ-A1_031245_20261127083015_0001.MP4"
    media.write_bytes(b"not really a video")
    return dock, media


@pytest.mark.parametrize("kind", sorted(REASONS))
def test_a_config_file_that_is_not_a_small_toml_file_is_exit_2_and_nothing_is_opened(
    tmp_path: Path, kind: str
) -> None:
    bad = _bad_file(tmp_path, kind)
    dock, media = dock_with_a_file(tmp_path)
    home = tmp_path / "home"
    env = env_for(home, f"sqlite:///{home / 'db.sqlite'}", RECORDER_SYNC_CONFIG=str(bad))
    r = run(env, "ingest", str(dock), timeout=TIMEOUT)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert f"Configuration error in {bad}" in r.stderr and REASONS[kind] in r.stderr, r.stderr
    assert media.read_bytes() == b"not really a video"  # the dock original is kept
    assert not home.exists()  # no database, vault or key was made


SECRETS = {
    "s3.secret_key_file": (
        '[s3]\nendpoint = "http://127.0.0.1:7480"\nbucket = "evidence"\naccess_key = "a"\n'
        'secret_key_file = "{path}"\n'
    ),
    "alerts.smtp_password_file": (
        '[alerts]\nsmtp_host = "mail.example"\nsmtp_port = 465\nsmtp_to = ["x@example.org"]\n'
        'smtp_user = "u"\nsmtp_password_file = "{path}"\n'
    ),
    "keys.pkcs11_pin_file": (
        '[keys]\npkcs11_module = "/nonexistent/libsofthsm2.so"\npkcs11_pin_file = "{path}"\n'
    ),
    "timestamping.tsa_certs": '[timestamping]\ntsa_url = "http://127.0.0.1:1/"\ntsa_certs = "{path}"\n',
}


@pytest.mark.parametrize("kind", ["fifo", "device", "not-utf8"])
@pytest.mark.parametrize("key", sorted(SECRETS))
def test_a_secret_or_certificate_file_that_is_a_fifo_a_device_or_not_text_is_exit_2(
    tmp_path: Path, key: str, kind: str
) -> None:
    bad = _bad_file(tmp_path, kind)
    if kind == "not-utf8" and key == "timestamping.tsa_certs":
        bad.write_bytes(b"\xff\xfe no certificate")  # read as bytes: it holds no PEM certificate
    conf = tmp_path / "c.toml"
    conf.write_text(SECRETS[key].format(path=bad))
    home = tmp_path / "home"
    env = env_for(home, f"sqlite:///{home / 'db.sqlite'}", RECORDER_SYNC_CONFIG=str(conf))
    r = run(env, "status", timeout=TIMEOUT)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert f"Configuration error in {conf}: key '{key}'" in r.stderr, r.stderr
    pem_as_bytes = key == "timestamping.tsa_certs" and kind == "not-utf8"
    expected = "holds no PEM certificate" if pem_as_bytes else REASONS[kind]
    assert expected in r.stderr, r.stderr
    assert "\xff" not in r.stderr  # a secret's bytes are never shown
    assert not home.exists()
