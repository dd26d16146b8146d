"""What a full sweep needs to look at, found by the database on the whole tables.

A full sweep used to load every action, every recording linked to one and every checkout,
and let ``domain.deadlines.evaluate`` find the few that break a rule.  These queries find a
superset of those few (each rule's condition, or a looser one), so the engine decides on
them alone; whatever they leave out can have no flag.  Where a row's times need a camera
clock correction, or are stored in a form the SQL does not read, or a footage interval is
reversed, the action or recording is always handed over: Python decides.

Time differences for coverage gaps are compared with a second's margin (SQLite computes
them in floating point): a gap just under the tolerance makes its action a candidate,
never the reverse.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from recorder_sync.adapters.db.bulk_sql import (
    ANCHOR,
    CLOCK_DEVICES,
    microseconds,
    sqlite,
    statement,
    stored_plainly,
)
from recorder_sync.adapters.db.rows import COUNTED
from recorder_sync.adapters.db.schema import CheckoutRow
from recorder_sync.domain.flags import FlagKind
from recorder_sync.domain.sweep import SweepLimits
from recorder_sync.domain.times import compact_utc

_MARGIN_S = 1.0
_LINKED = "l.removed_at IS NULL AND l.confidence IN :counted"


def _seconds(s: Session, earlier: str, later: str) -> str:
    if sqlite(s):
        return f"((julianday({later}) - julianday({earlier})) * 86400.0)"
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


def _ids(s: Session, sql: str, params: dict[str, Any]) -> set[str]:
    return {row[0] for row in s.execute(statement(sql, params))}


def suspect_actions(s: Session, now: datetime, limits: SweepLimits) -> set[str]:
    """Actions past the shortest grace that may lack footage or have coverage gaps."""
    full = sorted(limits.report_full_types)
    params: dict[str, Any] = {
        "due": now - limits.min_grace,
        "counted": list(COUNTED),
        "full": full or [""],
        "tol": limits.coverage_tolerance.total_seconds() - _MARGIN_S,
    }
    plain = stored_plainly(s, "r.start", 'r."end"', "a.start", 'a."end"')
    # no counted footage at all (a recommended action's flag; a full one's whole window)
    out = _ids(
        s,
        f"""SELECT a.action_id FROM actions a WHERE a."end" <= :due AND NOT EXISTS (
                SELECT 1 FROM links l JOIN recordings r ON r.id = l.recording_id
                WHERE l.action_id = a.action_id AND {_LINKED})""",
        params,
    )
    # The counted footage of the full actions past due, joined once into a temporary table
    # (a tenth of the links): the four checks below read it instead of joining the links
    # to the recordings four times.
    odd = f'r."end" < r.start OR NOT ({plain}) OR r.device IN ({CLOCK_DEVICES})'
    timed = 'r.start IS NOT NULL AND r."end" IS NOT NULL AND r.start <= a."end" AND r."end" >= a.start'
    footage = f"""SELECT l.action_id AS action_id, a.start AS a_start, a."end" AS a_end, r.officer AS officer,
               CASE WHEN {odd} THEN 1 ELSE 0 END AS odd,
               CASE WHEN {timed} THEN 1 ELSE 0 END AS timed,
               CASE WHEN r.start > a.start THEN r.start ELSE a.start END AS s,
               CASE WHEN r."end" < a."end" THEN r."end" ELSE a."end" END AS e
        FROM actions a JOIN links l ON l.action_id = a.action_id JOIN recordings r ON r.id = l.recording_id
        WHERE a.action_type IN :full AND a."end" <= :due AND {_LINKED}"""
    with _temporary(s, "sweep_footage", footage, params, index="action_id, officer"):
        # an officer of a full action none of whose linked footage names them (the ledger decides)
        out |= _ids(
            s,
            """SELECT DISTINCT ao.action_id FROM action_officers ao
                JOIN actions a ON a.action_id = ao.action_id
                WHERE a.action_type IN :full AND a."end" <= :due AND NOT EXISTS (
                    SELECT 1 FROM sweep_footage f
                    WHERE f.action_id = ao.action_id AND f.officer = ao.officer)""",
            params,
        )
        # footage Python must look at: corrected clocks, reversed or oddly stored times
        out |= _ids(s, "SELECT DISTINCT f.action_id FROM sweep_footage f WHERE f.odd = 1", params)
        # a gap: the start of a file after everything before it ended, or the action's end after all
        cursor = "CASE WHEN g.prev_e IS NULL OR g.prev_e < g.a_start THEN g.a_start ELSE g.prev_e END"
        last = "CASE WHEN g.last_e < g.a_start THEN g.a_start ELSE g.last_e END"
        out |= _ids(
            s,
            f"""SELECT DISTINCT g.action_id FROM (
                    SELECT f.action_id AS action_id, f.a_start AS a_start, f.a_end AS a_end, f.s AS s,
                           max(f.e) OVER (PARTITION BY f.action_id ORDER BY f.s, f.e
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_e,
                           max(f.e) OVER (PARTITION BY f.action_id) AS last_e
                    FROM sweep_footage f WHERE f.timed = 1
                ) g
                WHERE {_seconds(s, cursor, "g.s")} > :tol OR {_seconds(s, last, "g.a_end")} > :tol""",
            params,
        )
        # a full action whose timed footage does not reach its window at all
        out |= _ids(
            s,
            """SELECT a.action_id FROM actions a WHERE a.action_type IN :full AND a."end" <= :due
                AND NOT EXISTS (
                    SELECT 1 FROM sweep_footage f WHERE f.action_id = a.action_id AND f.timed = 1)""",
            params,
        )
    return out


@contextmanager
def _temporary(s: Session, name: str, query: str, params: dict[str, Any], *, index: str) -> Iterator[None]:
    """A temporary table of ``query``'s rows, indexed on ``index``, dropped afterwards (and
    on PostgreSQL at the latest when the transaction ends).  Not dropped when the body
    fails: the transaction's rollback takes it away (a statement sent to a PostgreSQL
    transaction that has failed would only hide the error)."""
    keep = "" if sqlite(s) else " ON COMMIT DROP"
    s.execute(statement(f"CREATE TEMPORARY TABLE {name}{keep} AS {query}", params))
    s.execute(text(f"CREATE INDEX {'temp.' if sqlite(s) else ''}{name}_ix ON {name} ({index})"))
    if not sqlite(s):
        s.execute(text(f"ANALYZE {name}"))  # a temporary table has no statistics of its own
    yield
    s.execute(text(f"DROP TABLE {name}"))


def suspect_cases(s: Session, now: datetime, limits: SweepLimits) -> set[str]:
    """Cases with an action past the case-file period whose linked footage is not verified
    (the missing-footage part comes with the suspect actions)."""
    params = {"due": now - limits.case_file_period, "now": now, "counted": list(COUNTED)}
    # from the few unverified recordings (two ranges of the verified_at index), not from
    # every action's every link
    return _ids(
        s,
        f"""SELECT DISTINCT a.case_id FROM (
                SELECT id FROM recordings WHERE verified_at IS NULL
                UNION ALL SELECT id FROM recordings WHERE verified_at > :now
            ) r
            JOIN links l ON l.recording_id = r.id JOIN actions a ON a.action_id = l.action_id
            WHERE {_LINKED} AND a."end" <= :due""",
        params,
    )


def undocked_checkouts(s: Session, now: datetime, limits: SweepLimits) -> set[tuple[str, str]]:
    """Checkouts (device, compact start) that ended long enough ago and whose device has
    not been seen since they began: the camera-not-docked rule on the whole ledger."""
    params = {"due": now - limits.undocked_after, "now": now}
    sql = """
        SELECT c.device, c.start FROM checkouts c
        LEFT JOIN (SELECT device, max(ingested_at) AS at FROM recordings
                   WHERE device IS NOT NULL AND ingested_at <= :now GROUP BY device) r ON r.device = c.device
        LEFT JOIN (SELECT device, max(docked_at) AS at FROM dockings
                   WHERE docked_at <= :now GROUP BY device) d ON d.device = c.device
        WHERE c."end" IS NOT NULL AND c."end" <= :due
        AND (r.at IS NULL OR r.at < c.start) AND (d.at IS NULL OR d.at < c.start)
    """
    rows = s.execute(statement(sql, params).columns(CheckoutRow.device, CheckoutRow.start))
    return {(device, compact_utc(start)) for device, start in rows}


def late_candidates(s: Session, now: datetime, deadline: timedelta) -> set[str]:
    """Recordings verified by ``now`` after their deadline (or that Python must check: a
    corrected camera clock, oddly stored times) with no upload-late flag yet."""
    plain = stored_plainly(s, "r.start", 'r."end"', "r.ingested_at", "r.verified_at")
    params = {"now": now, "late": FlagKind.UPLOAD_LATE.value, "limit": deadline // timedelta(microseconds=1)}
    # SQLite: most rows are verified, so the table is read in order rather than through the
    # index (``+``); the flags are looked up for the few late ones only
    verified = f"{'+' if sqlite(s) else ''}r.verified_at <= :now"
    return _ids(
        s,
        f"""SELECT r.id FROM recordings r WHERE {verified}
            AND (NOT ({plain}) OR r.device IN ({CLOCK_DEVICES})
                 OR {microseconds(s, "r.verified_at", ANCHOR)} > :limit)
            AND NOT EXISTS (SELECT 1 FROM flags f WHERE f.kind = :late AND f.recording_id = r.id)""",
        params,
    )
