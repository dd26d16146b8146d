"""SIGTERM and SIGINT, from the first instruction of ``main()`` to the exit.

The handlers are installed before anything heavy is imported and before the configuration is
read, so a stop request at any moment is seen (only a signal during the interpreter's own
start-up, before ``main()`` runs, still takes the default action).

- Until the command is known, a signal is only noted.
- A one-shot command (``ingest`` and the rest) is then interrupted at once, like Ctrl-C:
  :class:`Interrupted` unwinds it and ``main()`` exits 130.
- ``run`` stops at the next step instead and exits 0 ("stopped cleanly").

Either way, long byte loops (hashing, copying into the store, verifying) check the request
through their progress callback (:meth:`Shutdown.metered`), so a stop does not wait for a
50 GB file. If the process is still alive ``GRACE_SECONDS`` after the first signal (blocked
in a system call on a hung mount, a FIFO, a slow server), it exits hard with the same code:
the pipeline is persisted and resumable after ``kill -9``, so that loses nothing, and a stop
request is answered in bounded time whatever the docks hold. A second signal exits at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

from recorder_sync.domain.errors import EXIT_DONE, EXIT_INTERRUPTED

log = logging.getLogger(__name__)

GRACE_SECONDS = 4.0
SIGNALS = (signal.SIGTERM, signal.SIGINT)

Progress = Callable[[int], None]
Meter = Callable[[str, str, int], Progress]


class Interrupted(KeyboardInterrupt):
    """Stopped by SIGTERM or SIGINT.

    A ``KeyboardInterrupt`` on purpose: code that turns any ``Exception`` into a failure
    recorded on a file must let a stop request through, and ``main()`` maps it to 130."""


class Shutdown:
    def __init__(self, grace_seconds: float = GRACE_SECONDS) -> None:
        self.requested = threading.Event()
        self.signal_name = ""
        self.grace_seconds = grace_seconds
        self.exit_code = EXIT_INTERRUPTED
        self._raise = False
        self._wakers: list[Callable[[], None]] = []

    def install(self) -> None:
        for signum in SIGNALS:
            signal.signal(signum, self._on_signal)
        # a parent (or a test) may have started us with them blocked: a signal that is already
        # pending is delivered to the handler now, not lost
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)

    def interrupt_now(self) -> None:
        """One-shot commands: a signal unwinds the command at once (exit 130)."""
        self._raise = True
        self.exit_code = EXIT_INTERRUPTED
        self.check()

    def stop_at_step(self) -> None:
        """The daemon: a signal only sets :attr:`requested` (and wakes the loop); it exits 0."""
        self._raise = False
        self.exit_code = EXIT_DONE

    def on_request(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` when a stop is requested (at once if it already was)."""
        self._wakers.append(wake)
        if self.requested.is_set():
            wake()

    def check(self, _nbytes: int = 0) -> None:
        if self.requested.is_set():
            raise Interrupted(self.signal_name)

    def metered(self, meter: Meter | None = None) -> Meter:
        """A progress meter that also stops a long read or copy when a stop is requested."""

        def make(what: str, subject: str, total: int) -> Progress:
            inner = meter(what, subject, total) if meter is not None else None

            def progress(n: int) -> None:
                self.check()
                if inner is not None:
                    inner(n)

            return progress

        return make

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested.is_set():
            self._exit_now(f"second {name}")
        self.signal_name = name
        self.requested.set()
        log.info("received %s; stopping", name)
        late = f"still busy {self.grace_seconds:g} s after {name}"
        timer = threading.Timer(self.grace_seconds, self._exit_now, (late,))
        timer.daemon = True
        timer.start()
        for wake in self._wakers:
            wake()
        if self._raise:
            raise Interrupted(name)

    def _exit_now(self, why: str) -> None:
        # straight to fd 2, not through logging: the thread we are cutting short may hold a
        # handler's lock, or be blocked writing to a full stderr pipe
        line = f"recorder-sync: {why}: exiting now; the work in progress resumes at the next start\n"
        try:
            os.write(2, line.encode("utf-8", "replace"))
        finally:
            os._exit(self.exit_code)
