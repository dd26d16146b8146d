"""Lists print as aligned tables or as JSON; progress goes to stderr."""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Mapping, MutableMapping, Sequence
from datetime import tzinfo
from typing import Any

from recorder_sync.domain.times import display, parse_strict
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


def shown_time(value: str | None, zone: tzinfo) -> str | None:
    """A time as ``--json`` gives it (UTC) as people read it: in the station's zone, with
    its offset, the way flag texts give it."""
    return display(parse_strict(value), zone) if value else value


def shown_times(row: MutableMapping[str, Any], keys: Sequence[str], zone: tzinfo) -> MutableMapping[str, Any]:
    """``row`` (a ``--json`` row) with the times under ``keys`` made readable for a table."""
    for key in keys:
        row[key] = shown_time(row.get(key), zone)
    return row


def printable(text: str) -> str:
    """File names and metadata from cameras may hold newlines, escape sequences or other
    control characters: shown escaped, so that they cannot fake or hide a line."""
    return escape(text)


def printable_lines(text: str) -> str:
    """Our own multi-line text (an import's problem list) with whatever it quotes escaped."""
    return "\n".join(escape(line) for line in text.split("\n"))


class EscapingFormatter(logging.Formatter):
    """Log lines for people: a name or value in a message cannot inject a line such as
    ``WARNING ALERT fake`` or a terminal escape; a trace keeps its own line breaks.

    Wraps the handler's formatter (as other wrappers, e.g. redaction, may wrap this one)."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        shown = logging.makeLogRecord(record.__dict__)
        shown.msg, shown.args = escape(record.getMessage()), None
        if record.exc_info and record.exc_info[1] is not None:
            shown.exc_text = "\n".join(_trace(traceback.TracebackException(*record.exc_info)))
        elif shown.exc_text:
            shown.exc_text = printable_lines(shown.exc_text)
        if shown.stack_info:
            shown.stack_info = printable_lines(shown.stack_info)
        return self.inner.format(shown)


def _trace(te: traceback.TracebackException) -> list[str]:
    """A trace as Python prints it, but each exception's message on one escaped line: the
    message may quote a file name or a value ("bad name\\nWARNING ALERT fake")."""
    lines: list[str] = []
    if te.__cause__ is not None:
        lines += [
            *_trace(te.__cause__),
            "",
            "The above exception was the direct cause of the following exception:",
            "",
        ]
    elif te.__context__ is not None and not te.__suppress_context__:
        lines += [
            *_trace(te.__context__),
            "",
            "During handling of the above exception, another exception occurred:",
            "",
        ]
    if te.stack:
        lines.append("Traceback (most recent call last):")
        lines += [escape(line) for chunk in te.stack.format() for line in chunk.rstrip("\n").split("\n")]
    lines.append(escape("".join(te.format_exception_only()).rstrip("\n")))
    return lines


def escape_log_lines(logger: logging.Logger | None = None) -> None:
    """Wrap the formatter of each handler of ``logger`` (default: the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not isinstance(handler.formatter, EscapingFormatter):
            handler.setFormatter(EscapingFormatter(handler.formatter))


def progress(what: str, subject: str) -> None:
    print(f"{what:>10}  {printable(subject)}", file=sys.stderr, flush=True)


class ByteMeter:
    """Progress of one long read (bytes, rate, ETA) on stderr: redrawn in place on a terminal,
    a line every 10 s otherwise. Files under 64 MiB are not worth a meter (``min_total``)."""

    def __init__(self, what: str, subject: str, total: int, min_total: int = 64 << 20) -> None:
        self.what, self.subject, self.total = what, printable(subject), total
        self.min_total = min_total
        self.done = 0
        self.start = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.total < self.min_total or (
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
