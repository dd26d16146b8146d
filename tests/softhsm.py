"""A real PKCS#11 token for the tests: SoftHSM2 from Debian's packages, one token per test
in its own folder (``SOFTHSM2_CONF`` points there), so no test sees another's keys."""

from __future__ import annotations

import glob
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pkcs11
import pytest

from recorder_sync.adapters.pkcs11_settings import Pkcs11Settings

MODULE_GLOBS = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/*/softhsm/libsofthsm2.so")


@dataclass(frozen=True)
class Token:
    settings: Pkcs11Settings
    env: dict[str, str] = field(repr=False)  # what a recorder-sync process needs to use it

    def with_label(self, label: str) -> Token:
        settings = Pkcs11Settings(self.settings.module, self.settings.token, label, self.settings.pin)
        return Token(settings, {**self.env, "RECORDER_SYNC_PKCS11_LABEL": label})


def module() -> Path:
    found = [p for g in MODULE_GLOBS for p in glob.glob(g)]
    assert found, "SoftHSM2 is not installed: apt-get install -y softhsm2 (scripts/setup does)"
    return Path(found[0])


@pytest.fixture(scope="session")
def softhsm_conf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One SoftHSM2 folder for the session: the library reads its configuration once per
    process, so this test process cannot move to another folder later."""
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))
        yield conf


@pytest.fixture
def token(softhsm_conf: Path) -> Token:
    """A fresh token of its own for each test (a new label in the session's folder)."""
    label = "rs-" + uuid.uuid4().hex[:12]
    tokens = softhsm_conf.parent / "tokens"
    before = set(tokens.iterdir())
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", "1234", "--so-pin", "5678"],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(softhsm_conf)},  # never whatever the process has now
    )
    assert len(set(tokens.iterdir()) - before) == 1, f"softhsm2-util made no token folder in {tokens}"
    settings = Pkcs11Settings(module(), label, "station", "1234")
    # this process's library listed the tokens when it started: let it see the new one
    pkcs11.lib(str(settings.module)).reinitialize()
    return Token(
        settings,
        {
            "SOFTHSM2_CONF": str(softhsm_conf),
            "RECORDER_SYNC_PKCS11_MODULE": str(settings.module),
            "RECORDER_SYNC_PKCS11_TOKEN": label,
            "RECORDER_SYNC_PKCS11_PIN": settings.pin,
        },
    )
