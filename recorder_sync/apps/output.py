"""Lists print as aligned tables or as JSON; progress goes to stderr."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from recorder_sync.domain.untrusted import escape


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    def cell(v: Any) -> str:
        return "" if v is None else printable(str(v))

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def printable(text: str) -> str:
    """File names and metadata from cameras may hold newlines, escape sequences or other
    control characters: shown escaped, so that they cannot fake or hide a line."""
    return escape(text)


def printable_lines(text: str) -> str:
    """Our own multi-line text (an import's problem list) with whatever it quotes escaped."""
    return "\n".join(escape(line) for line in text.split("\n"))


class EscapingFormatter(logging.Formatter):
    """Log lines for people: a name or value in a message cannot inject a line such as
    ``WARNING ALERT fake`` or a terminal escape; a trace keeps its own line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return printable_lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return printable_lines(super().formatStack(stack_info))


def escape_log_lines() -> None:
    """Install ``EscapingFormatter`` on the handlers ``logging.basicConfig`` set up."""
    for handler in logging.getLogger().handlers:
        fmt = handler.formatter
        handler.setFormatter(EscapingFormatter(fmt._fmt if fmt else None, fmt.datefmt if fmt else None))


def progress(what: str, subject: str) -> None:
    print(f"{what:>10}  {printable(subject)}", file=sys.stderr, flush=True)


class ByteMeter:
    """Progress of one long read (bytes, rate, ETA) on stderr: redrawn in place on a terminal,
    a line every 10 s otherwise. Files under 64 MiB are not worth a meter."""

    def __init__(self, what: str, subject: str, total: int) -> None:
        self.what, self.subject, self.total = what, printable(subject), total
        self.done = 0
        self.start = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.total < 64 << 20 or (
            now - self.last < (0.5 if self.tty else 10.0) and self.done < self.total
        ):
            return
        self.last = now
        rate = self.done / max(now - self.start, 1e-6)
        eta = (self.total - self.done) / rate if rate else 0.0
        line = (
            f"{self.what:>10}  {self.subject}: {self.done / 1e6:,.0f} of {self.total / 1e6:,.0f} MB "
            f"({100 * self.done / self.total:.0f} %, {rate / 1e6:,.0f} MB/s, ETA {eta:.0f} s)"
        )
        end = "\n" if not self.tty or self.done >= self.total else ""
        print(("\r" if self.tty else "") + line, end=end, file=sys.stderr, flush=True)
