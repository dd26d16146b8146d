"""systemd's readiness protocol (sd_notify): one datagram to the AF_UNIX socket in $NOTIFY_SOCKET.

The watchdog (``WatchdogSec=`` in the unit) is the same protocol: systemd passes the period in
$WATCHDOG_USEC (for the process in $WATCHDOG_PID, if set) and restarts the service when no
``WATCHDOG=1`` arrives within it; :class:`Watchdog` sends them as ``sd_watchdog_enabled`` and
``sd_notify`` would.

A dozen lines of the standard library; the ``sdnotify`` package (0.3.2, last released 2017)
does the same and adds nothing we need, so it does not earn a dependency. Outside systemd
(no $NOTIFY_SOCKET) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

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


def watchdog_seconds(env: Mapping[str, str], pid: int) -> float | None:
    """The watchdog period systemd gave this process, or None (``sd_watchdog_enabled``): unset,
    not a positive whole number of microseconds, or meant for another process (a child that
    inherited the environment must not keep its parent alive)."""
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and owner != str(pid):
        return None
    return int(usec) / 1e6


class Watchdog:
    """``WATCHDOG=1``, at most every quarter of the period however often :meth:`ping` is called
    (it is called per buffer of a long read), so that systemd hears one at least every half
    period while the caller keeps calling, and none once it hangs."""

    def __init__(
        self,
        notifier: Notifier,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.period = watchdog_seconds(os.environ if env is None else env, os.getpid())
        self.clock = clock
        self._last = float("-inf")

    def ping(self) -> None:
        if self.period is None:
            return
        now = self.clock()
        if now - self._last < self.period / 4:
            return
        # set before sending: worker threads that ping at once send one datagram, not several
        self._last = now
        self.notifier.notify("WATCHDOG=1")
