"""Child processes never outlive the command that started them, also when a stop signal (an
exception, see apps.shutdown) cuts their start or their wait short."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any

import pytest

from recorder_sync.io import processes
from recorder_sync.io.processes import pid_alive


def _cut_short_after_the_fork(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Popen's start raises once the child runs: a signal while it waits to hear the exec worked."""
    children: list[int] = []
    original = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def cut_short(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        children.append(self.pid)
        raise KeyboardInterrupt

    monkeypatch.setattr(subprocess.Popen, "_execute_child", cut_short)
    return children


def test_a_start_cut_short_after_the_fork_leaves_no_child(monkeypatch: pytest.MonkeyPatch) -> None:
    children = _cut_short_after_the_fork(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        processes.started(["sleep", "60"])
    (pid,) = children
    assert not pid_alive(pid)  # killed and reaped: not even a zombie is left


def test_plain_popen_cut_short_there_leaves_its_child_running(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why ``started`` exists: the standard library forgets that child."""
    children = _cut_short_after_the_fork(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        subprocess.Popen(["sleep", "60"])
    (pid,) = children
    try:
        assert pid_alive(pid)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_a_wait_cut_short_kills_and_reaps_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    children: list[int] = []

    def interrupted(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> Any:
        children.append(self.pid)
        raise KeyboardInterrupt

    monkeypatch.setattr(subprocess.Popen, "communicate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        processes.run(["sleep", "60"], capture_output=True)
    (pid,) = children
    assert not pid_alive(pid)


def test_run_returns_what_the_child_wrote_and_its_status() -> None:
    done = processes.run(["sh", "-c", "echo out; echo err >&2; exit 3"], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
    with pytest.raises(subprocess.TimeoutExpired):
        processes.run(["sleep", "60"], timeout=0.2)
