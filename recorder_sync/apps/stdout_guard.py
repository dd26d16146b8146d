"""Standard output that says when it cannot be written.

``recorder-sync list --json > out.json`` on a full disk (or to ``/dev/full``, or a file on a
mount gone read-only) fails in ``write`` or ``flush`` with an ``OSError`` deep in whatever
printed, which would end as an internal error (exit 70, a trace asking to report a bug).
Wrapping ``sys.stdout`` turns that into ``OutputUnwritable`` (exit 2, the reason), and a
broken pipe stays a ``BrokenPipeError`` (exit 141).  Only stdout's own failures are
converted, so an ``OSError`` of anything else is still reported as what it is.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from recorder_sync.domain.errors import OutputUnwritable


class GuardedStdout:
    """Delegates to the real text stream; its write and flush failures become ``OutputUnwritable``."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        try:
            return self._inner.write(text)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise OutputUnwritable(e.strerror or str(e)) from None

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._inner.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise OutputUnwritable(e.strerror or str(e)) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextlib.contextmanager
def guarded_stdout() -> Iterator[None]:
    """``sys.stdout`` guarded while a command runs, and flushed at its end: a failure after
    its last line is the command's, not the interpreter's at exit (which would be ignored)."""
    inner = sys.stdout
    if inner is None or isinstance(inner, GuardedStdout):  # no stdout at all; or guarded already
        yield
        return
    guarded = GuardedStdout(inner)
    sys.stdout = guarded
    try:
        yield
        guarded.flush()
    finally:
        if sys.stdout is guarded:  # put back what was there, unless someone replaced it meanwhile
            sys.stdout = inner
