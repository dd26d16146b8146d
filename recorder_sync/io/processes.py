"""Processes of this machine: whether one still runs, and child processes that never outlive
the command that started them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from typing import Any


def pid_alive(pid: int) -> bool:
    """Whether the process ``pid`` of this machine still runs (another account's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's: alive
    return True


def started(argv: Sequence[str | bytes], **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(argv, **kwargs)`` that leaves no child behind when it is cut short.

    A stop signal turned into an exception (``apps.shutdown``) may come after the fork but
    before ``Popen`` returns, while it waits to hear that the exec worked: ``Popen`` then
    raises and forgets the child, which runs on (an ffmpeg writing where we are cleaning
    up) with nobody to stop or reap it. Here that child is killed and reaped first."""
    proc: subprocess.Popen[Any] = subprocess.Popen.__new__(subprocess.Popen)
    try:
        subprocess.Popen.__init__(proc, argv, **kwargs)
    except BaseException:
        # a child whose exec failed was reaped by Popen already (returncode set)
        if getattr(proc, "_child_created", False) and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, 0)
            proc.returncode = -signal.SIGKILL
        raise
    return proc


def run(
    argv: Sequence[str | bytes], *, timeout: float | None = None, capture_output: bool = False, **kwargs: Any
) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run`` (without ``check`` or ``input``) whose child never outlives the wait:
    whatever cuts it short (a stop signal, ``TimeoutExpired`` as there) kills and reaps the
    child first, from its start (see ``started``) to its end."""
    if capture_output:
        kwargs |= {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    with started(argv, **kwargs) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
