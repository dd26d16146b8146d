"""systemd's readiness protocol (sd_notify): one datagram to the AF_UNIX socket in $NOTIFY_SOCKET.

A dozen lines of the standard library; the ``sdnotify`` package (0.3.2, last released 2017)
does the same and adds nothing we need, so it does not earn a dependency. Outside systemd
(no $NOTIFY_SOCKET) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        address = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # Linux abstract namespace
            address = "\0" + address[1:]
        elif address and not address.startswith("/"):
            # e.g. vsock:… (a VM's host): a protocol we do not speak; systemd then times out
            log.warning("NOTIFY_SOCKET %r: unsupported address; not notifying systemd", address)
            address = ""
        self.address = address

    def notify(self, *assignments: str) -> bool:
        """Send ``READY=1``, ``STATUS=…``, ``STOPPING=1``… in one datagram; False if not sent."""
        if not self.address:
            return False
        message = "\n".join(assignments).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(self.address)
                s.sendall(message)
        except OSError as e:
            # never fatal: the daemon works the same, systemd only learns less about it
            log.warning("could not notify systemd (%s): %s", " ".join(assignments)[:60], e)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", _status(status), f"MAINPID={os.getpid()}")

    def status(self, status: str) -> bool:
        return self.notify(_status(status))

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")


def _status(text: str) -> str:
    # one assignment per line: a newline in a dock name must not forge another one
    return "STATUS=" + " ".join(text.splitlines())
