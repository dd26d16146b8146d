"""Rules for values a camera or a dock controls: plausible times, clean text, bounded JSON.

A camera writes its file names, sidecars, container tags and clock file itself, and a
camera with a reset clock (or a hostile one) writes anything: year 1, year 9999, NUL
characters, terminal escape sequences, JSON nested a million deep. Such a value must
never stop the pipeline; it is treated as absent and reported (flag ``bad-metadata``)
with where it came from and what it was. Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

# device and officer columns are this wide; longer values are refused rather than cut
MAX_TEXT = 100


@dataclass(frozen=True)
class BadValue:
    """A metadata value refused: which field, from which source, what it was and why."""

    field: str
    source: str
    value: str  # shown escaped: it goes into flag details and logs
    why: str

    def __str__(self) -> str:
        return f"{self.field} from {self.source}: {self.why} (value {self.value})"


def escape(text: str) -> str:
    """Text for people: control, format and separator characters shown as escapes.

    Keeps terminal escape sequences, injected newlines and right-to-left overrides
    from a camera's name or metadata out of tables, progress lines and logs."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def shown(value: Any) -> str:
    """A refused value as it appears in a flag detail: quoted, escaped and cut short."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > 80:
        text = text[:80] + "…"
    return "'" + escape(text) + "'"


def text_problem(value: str) -> str | None:
    """Why a text value from a camera cannot be kept, or None when it can.

    NUL cannot be stored in PostgreSQL at all, nor a lone surrogate (from a JSON
    ``"\\ud800"``) in any encoding; other control and format characters (escape sequences,
    newlines, right-to-left overrides) in a device or officer number are a forgery or
    corruption. What is kept reads the same as it is shown."""
    for c in value:
        if c == "\x00":
            return "contains a NUL character"
        if c == "\ufffd":
            return "contains U+FFFD (bytes that are not UTF-8, or NUL, in the source)"
        if not (c.isprintable() or c == " "):
            kind = "unpaired surrogate" if unicodedata.category(c) == "Cs" else "control character"
            return f"contains {kind} U+{ord(c):04X}"
    if len(value) > MAX_TEXT:
        return f"longer than {MAX_TEXT} characters ({len(value)})"
    return None


def storable_text(text: str) -> str:
    """Text a database can hold: PostgreSQL refuses NUL, so it becomes U+FFFD, as bytes that
    are not UTF-8 already have (the exact bytes are what a hash covers; this text is only
    read for values, and ``text_problem`` refuses a value holding U+FFFD)."""
    return text.replace("\x00", "\ufffd")


def to_utc(t: datetime, tz: tzinfo) -> datetime | None:
    """``t`` in UTC (a naive ``t`` read in ``tz``), or None when that falls off the calendar
    (year 1 east of UTC, year 9999 west of it)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    try:
        return t.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def add_duration(start: datetime, milliseconds: int) -> datetime | None:
    """``start`` + a duration, or None when that falls off the calendar."""
    try:
        return start + timedelta(milliseconds=milliseconds)
    except OverflowError:
        return None


def from_timestamp_ns(ns: int) -> datetime | None:
    """A file time (ns since the epoch, as ``stat`` gives it) as UTC, or None off the calendar."""
    try:
        return datetime.fromtimestamp(ns / 1e9, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def load_json(text: str | bytes) -> Any:
    """``json.loads`` that fails only with ValueError: nesting too deep for the parser's
    recursion (RecursionError) becomes a ValueError too."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


# A camera writes at least this much per second of audio or video (AMR-NB at 4.75 kbit/s is
# about 600 B/s); a "10-hour video" of 94 bytes is a playlist or a forged header.
MIN_MEDIA_BYTES_PER_SECOND = 100
# and no file is longer than this (a week): past it, a duration is a forged header
MAX_MEDIA_DURATION_MS = 7 * 24 * 3600 * 1000


def media_problem(size: int, duration_ms: int | None, bit_rate: int | None) -> str | None:
    """Why the duration and bit rate a container reports cannot be true of a file of ``size``
    bytes, or None when they can. Fake footage must not cover an action's window."""
    if not duration_ms:
        return None
    seconds = duration_ms / 1000
    if duration_ms > MAX_MEDIA_DURATION_MS:
        return f"reported duration {seconds:.0f} s is longer than any recording"
    if size < seconds * MIN_MEDIA_BYTES_PER_SECOND:
        return (
            f"reported duration {seconds:.0f} s is implausible for {size} bytes "
            f"({size * 8 / seconds:.2f} bit/s)"
        )
    if bit_rate and bit_rate * seconds / 8 > 2 * size + (1 << 20):
        return (
            f"reported bit rate {bit_rate} bit/s over {seconds:.0f} s needs more than the file's {size} bytes"
        )
    return None
