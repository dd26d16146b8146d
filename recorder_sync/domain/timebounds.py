"""Which times the product believes, and date arithmetic that cannot overflow.

Times come from outside in many ways: camera file names and sidecars, clock files,
import rows, command options.  A year-1 or year-9999 value there is a typo or a hostile
file, and ``end + 24 h`` or a conversion to local time then raises ``OverflowError``
deep inside the deadline engine.  So every edge refuses a time outside the plausible
range (``check_plausible``), and the engine shifts and converts times with ``shift``
and ``local``, which saturate instead of raising, for values stored before the edges
checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

PLAUSIBLE_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
PLAUSIBLE_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TimeBounds:
    """A span in which times are believed (camera metadata: ``[metadata] earliest/latest``)."""

    earliest: datetime = PLAUSIBLE_EARLIEST
    latest: datetime = PLAUSIBLE_LATEST

    def __post_init__(self) -> None:
        if self.earliest.tzinfo is None or self.latest.tzinfo is None:
            raise ValueError("time bounds must be aware")
        if not self.earliest < self.latest:
            raise ValueError(f"earliest ({self.earliest}) must be before latest ({self.latest})")

    def __str__(self) -> str:
        return f"{_day(self.earliest)} to {_day(self.latest)}"

    def problem(self, value: datetime | None) -> str | None:
        """Why ``value`` is not believed (absent, or outside the span), or None."""
        if value is None:
            return f"outside the plausible range {self}"
        return check_plausible(value, self.earliest, self.latest)


DEFAULT_BOUNDS = TimeBounds()

# A day inside datetime's own range on each side: converting a saturated time to any
# zone (offsets are under 24 h) stays in range.
_FLOOR = datetime.min.replace(tzinfo=UTC) + timedelta(days=2)
_CEILING = datetime.max.replace(tzinfo=UTC) - timedelta(days=2)


def check_plausible(
    value: datetime, earliest: datetime = PLAUSIBLE_EARLIEST, latest: datetime = PLAUSIBLE_LATEST
) -> str | None:
    """Why ``value`` is outside [earliest, latest], or None when it is inside.

    A naive ``value`` is compared with the bounds' wall-clock readings in their zone
    (UTC by default): close enough for a range measured in years.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        lo, hi = earliest.replace(tzinfo=None), latest.replace(tzinfo=None)
    else:
        lo, hi = earliest, latest
    if lo <= value <= hi:
        return None
    return f"outside the plausible range {TimeBounds(earliest, latest)}"


def check_year(
    year: int, earliest: datetime = PLAUSIBLE_EARLIEST, latest: datetime = PLAUSIBLE_LATEST
) -> str | None:
    """Why a calendar ``year`` (of a report) is implausible, or None: the whole year
    must fall in the range, less a day each side for time zones."""
    first, last = (earliest + timedelta(days=1)).year, (latest - timedelta(days=1)).year
    if first <= year <= last:
        return None
    return f"expected a year from {first} to {last}"


def shift(value: datetime, delta: timedelta) -> datetime:
    """``value + delta``, saturated two days inside datetime's range instead of raising."""
    try:
        moved = value + delta
    except OverflowError:
        return _CEILING if delta > timedelta(0) else _FLOOR
    return clamp(moved)


def clamp(value: datetime) -> datetime:
    """``value`` saturated two days inside datetime's range (aware values only)."""
    if value.tzinfo is None:
        return value
    if value < _FLOOR:
        return _FLOOR
    if value > _CEILING:
        return _CEILING
    return value


def local(value: datetime, zone: tzinfo) -> datetime:
    """``value`` in ``zone``; a time at the very end of datetime's range is saturated first."""
    return clamp(value).astimezone(zone)


def _day(value: datetime) -> str:
    """A bound as people write it: the date alone when it is midnight UTC."""
    t = value.astimezone(UTC)
    return t.date().isoformat() if t.time() == datetime.min.time() else _show(t)


def _show(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
