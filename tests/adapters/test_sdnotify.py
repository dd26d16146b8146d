"""sd_notify against a real AF_UNIX datagram socket, as systemd listens on one."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder_sync.adapters.sdnotify import Notifier


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, str]]:
    # a short folder: AF_UNIX paths are limited to 107 bytes, pytest's tmp_path can be longer
    with tempfile.TemporaryDirectory(prefix="rs-") as folder:
        path = str(Path(folder) / "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.settimeout(10)
            yield sock, path


def test_ready_status_stopping_reach_the_socket(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    n = Notifier({"NOTIFY_SOCKET": path})
    assert n.ready("ingesting 2 dock(s)")
    lines = sock.recv(4096).decode().splitlines()
    assert lines[:2] == ["READY=1", "STATUS=ingesting 2 dock(s)"] and lines[2].startswith("MAINPID=")
    assert n.status("standby for dock\nREADY=1")  # a dock name cannot forge an assignment
    assert sock.recv(4096) == b"STATUS=standby for dock READY=1"
    assert n.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_abstract_namespace_address() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0recorder-sync-test-abstract")
        sock.settimeout(10)
        assert Notifier({"NOTIFY_SOCKET": "@recorder-sync-test-abstract"}).stopping()
        assert sock.recv(4096) == b"STOPPING=1"


def test_outside_systemd_or_with_no_listener_nothing_is_sent_and_nothing_fails(tmp_path: Path) -> None:
    assert not Notifier({}).ready("x")
    assert not Notifier({"NOTIFY_SOCKET": "vsock:2:1234"}).ready("x")
    with tempfile.TemporaryDirectory(prefix="rs-") as folder:
        assert not Notifier({"NOTIFY_SOCKET": str(Path(folder) / "gone")}).ready("x")
