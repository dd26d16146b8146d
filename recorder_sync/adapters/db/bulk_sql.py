"""SQL the full sweep and the report tallies share to work on whole tables at once.

Dates are compared as stored: SQLite keeps them as ``YYYY-MM-DD HH:MM:SS.ffffff`` text (26
characters), which sorts as the instants do; a row stored otherwise (by hand, or by an old
release) is left to the per-row Python path.  Differences are computed exactly, to the
microsecond, on both databases.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from recorder_sync.adapters.db.schema import UTCDateTime

_STORED_LENGTH = 26  # SQLite's text form of a datetime with microseconds

ANCHOR = (
    'CASE WHEN r.start IS NULL AND r."end" IS NULL THEN r.ingested_at '
    'WHEN r.start IS NULL THEN r."end" '
    'WHEN r."end" IS NULL OR r."end" < r.start THEN r.start '
    'ELSE r."end" END'
)
"""When a recording's upload deadline counts from, before any camera clock correction
(``domain.deadlines.upload_anchor``)."""

CLOCK_DEVICES = "SELECT d.device FROM dockings d WHERE d.clock_offset_ms IS NOT NULL"
"""Devices whose dockings recorded a camera clock: their times are corrected (per row, in Python)."""


def sqlite(s: Session) -> bool:
    return s.get_bind().dialect.name == "sqlite"


def fence(s: Session) -> str:
    """Put at the end of a subquery whose computed columns the outer query reads several
    times: without it, both databases merge the subquery into the outer one and compute
    each column again at every mention (a month is a nest of CASEs over a recording's
    anchor, itself a CASE, and the outer query reads it five times)."""
    return "LIMIT -1 OFFSET 0" if sqlite(s) else "OFFSET 0"


WORKING_MIB = 256
"""Memory for a full sweep's statements over whole tables (sorts, hash tables, pages)."""


@contextmanager
def working_memory(s: Session, mib: int = WORKING_MIB) -> Iterator[None]:
    """Room for the statements run inside to sort, group and join whole tables in memory.
    SQLite: a larger page cache (its default 2 MiB makes a million-row table spill its
    temporary B-trees and dirty pages to disk mid-statement), put back afterwards, so only
    what is read needs the room.  PostgreSQL: ``work_mem`` for the rest of the transaction
    (the default 4 MB makes the grouping of a million links spill to disk in batches)."""
    if not sqlite(s):
        s.execute(text(f"SET LOCAL work_mem = '{int(mib)}MB'"))
        yield
        return
    before = int(s.execute(text("PRAGMA cache_size")).scalar_one())
    s.execute(text(f"PRAGMA cache_size = -{int(mib) * 1024}"))
    try:
        yield
    finally:
        s.execute(text(f"PRAGMA cache_size = {before}"))


def stored_plainly(s: Session, *columns: str) -> str:
    """A condition: these datetime columns are NULL or in the form the SQL here reads."""
    if not sqlite(s):
        return "1 = 1"
    return " AND ".join(f"({c} IS NULL OR length({c}) = {_STORED_LENGTH})" for c in columns)


def microseconds(s: Session, later: str, earlier: str) -> str:
    """``later - earlier`` in whole microseconds, exactly."""
    if sqlite(s):
        return (
            f"((CAST(strftime('%s', substr({later}, 1, 19)) AS INTEGER)"
            f" - CAST(strftime('%s', substr({earlier}, 1, 19)) AS INTEGER)) * 1000000"
            f" + (CAST(substr({later}, 21, 6) AS INTEGER) - CAST(substr({earlier}, 21, 6) AS INTEGER)))"
        )
    # EXTRACT gives an exact numeric (PostgreSQL 14 and later)
    return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) * 1000000 AS BIGINT)"


def floor_div(value: str, divisor: int) -> str:
    """``value // divisor`` as Python rounds it (SQL's integer division rounds towards zero)."""
    negative = f"-((-({value}) + {divisor - 1}) / {divisor})"
    return f"(CASE WHEN {value} >= 0 THEN {value} / {divisor} ELSE {negative} END)"


def ranges(
    expr: str, bounds: Sequence[tuple[datetime, str | None]], params: dict[str, Any], name: str
) -> str:
    """The label of the last bound at or before ``expr`` (NULL before the first, or where the
    label is None): a CASE that halves the bounds at each step, so a row costs log2(n)
    comparisons.  Adds its parameters to ``params``."""

    def pick(lo: int, hi: int) -> str:  # bounds[lo:hi], with expr >= bounds[lo] known when lo > 0
        if hi - lo == 1:
            label = bounds[lo][1]
            if label is None:
                return "NULL"
            params[f"{name}l{lo}"] = label
            return f":{name}l{lo}"
        mid = (lo + hi) // 2
        params[f"{name}b{mid}"] = bounds[mid][0]
        return f"(CASE WHEN {expr} < :{name}b{mid} THEN {pick(lo, mid)} ELSE {pick(mid, hi)} END)"

    if not bounds:
        return "NULL"
    params[f"{name}b0"] = bounds[0][0]
    return f"(CASE WHEN {expr} < :{name}b0 THEN NULL ELSE {pick(0, len(bounds))} END)"


def statement(sql: str, params: dict[str, Any]) -> TextClause:
    """``sql`` with those of ``params`` it names bound; datetimes as the tables store them."""
    params = {k: v for k, v in params.items() if re.search(rf":{k}\b", sql)}
    binds = [
        bindparam(k, v, type_=UTCDateTime())
        if isinstance(v, datetime)
        else bindparam(k, list(v), expanding=True)
        if isinstance(v, (list, tuple, set, frozenset))
        else bindparam(k, v)
        for k, v in params.items()
    ]
    return text(sql).bindparams(*binds)
