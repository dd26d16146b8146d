"""The tests' command runner (``forked_cli``) gives what an ``exec`` of the console script gives.

Most app tests run their commands through ``clirunner.run_script``, which forks them from a
server that imported the package once. Each case here runs the same command both ways and
compares exit status, standard output and standard error, so a difference between a forked
command and a real one shows up here rather than as a test that passes for the wrong reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import forked_cli
import pytest
from clirunner import env_for


def executed(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name(name))
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=120)


def forked(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return forked_cli.run(name, args, env, 120)


def same(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the command both ways; they must agree. Returns the forked run's result."""
    real, fork = executed(name, env, *args), forked(name, env, *args)
    assert (fork.returncode, fork.stdout, fork.stderr) == (real.returncode, real.stdout, real.stderr)
    return fork


@pytest.mark.parametrize(
    ("name", "args", "code"),
    [
        ("recorder-sync", ("--version",), 0),
        ("recorder-sync", ("--help",), 0),
        ("recorder-sync", ("no-such-command",), 2),  # argparse's usage error
        ("recorder-sync", ("status",), 0),
        ("recorder-sync", ("list", "--json"), 0),
        ("recorder-sync", ("show", "0" * 26), 6),  # a domain error: no such recording
        ("recorder-audit", ("--help",), 0),
        ("recorder-replay", ("--help",), 0),
    ],
)
def test_a_forked_command_answers_as_an_executed_one(
    tmp_path: Path, name: str, args: tuple[str, ...], code: int
) -> None:
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'catalog.db'}")
    assert executed("recorder-sync", env, "status").returncode == 0  # the same state for both
    r = same(name, env, *args)
    assert r.returncode == code, r.stderr


def test_each_command_gets_exactly_its_environment_and_the_callers_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A setting of one call is not seen by the next, and a relative path is the caller's."""
    monkeypatch.chdir(tmp_path)
    first = env_for(tmp_path / "a", f"sqlite:///{tmp_path / 'a.db'}", RECORDER_SYNC_STATION_ID="st-first")
    second = env_for(tmp_path / "b", "sqlite:///b.db")  # relative: in the caller's folder
    second.pop("RECORDER_SYNC_STATION_ID")
    assert "station st-first" in same("recorder-sync", first, "status").stdout
    r = same("recorder-sync", second, "status")
    assert "st-first" not in r.stdout and (tmp_path / "b.db").exists()


def test_a_command_past_its_timeout_is_killed(tmp_path: Path) -> None:
    """As with ``subprocess.run``: ``TimeoutExpired``, and no process of the command is left."""
    marker = uuid.uuid4().hex
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'catalog.db'}", FORKED_CLI_TEST=marker)
    (tmp_path / "dock").mkdir()
    with pytest.raises(subprocess.TimeoutExpired):
        forked_cli.run("recorder-sync", ["run", "--dock", str(tmp_path / "dock")], env, 3)
    assert not [pid for pid in _pids() if marker in _environ(pid)]


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _environ(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:  # gone, or not ours to read
        return ""


def test_a_command_creates_its_files_under_the_callers_umask(tmp_path: Path) -> None:
    """The vault's marker file is made with the mode the umask leaves (0444 without it)."""
    forked("recorder-sync", {}, "--version")  # the fork server is up before the umask changes
    old = os.umask(0o027)
    try:
        for how, run_it in (("executed", executed), ("forked", forked)):
            home, dock = tmp_path / how, tmp_path / f"{how}-dock"
            dock.mkdir()
            env = env_for(home, f"sqlite:///{tmp_path / how}.db")
            r = run_it("recorder-sync", env, "ingest", str(dock), "--stable-seconds", "0")
            assert r.returncode == 0, r.stderr
            assert (home / "vault" / ".recorder_sync_vault").stat().st_mode & 0o777 == 0o440, how
    finally:
        os.umask(old)
