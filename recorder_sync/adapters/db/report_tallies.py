"""The report's inputs: the rows of a period, or the tallies the sweep keeps.

A stored and verified recording's part in the report is final until its links, its
actions' unit or type, or its camera clock evidence change; an action's until it is
imported again.  ``report_recordings`` and ``report_actions`` keep each one's
contribution, ``report_tallies`` their sums per month and group.  The sweep brings
them up to date (rebuilt from every row only when they are missing or were cut with
other settings: ``rebuild_reason``); ``sweep_marks['report']`` holds the time they are
valid as of (``at``), the custody position read up to (``seq``) and what
they were cut with (``text``: zone, deadline, full-recording action types).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, text, update
from sqlalchemy.orm import Session

from recorder_sync.adapters.db.bulk_sql import (
    ANCHOR,
    CLOCK_DEVICES,
    fence,
    floor_div,
    microseconds,
    ranges,
    sqlite,
    statement,
    stored_plainly,
    working_memory,
)
from recorder_sync.adapters.db.repository import flag_from_row
from recorder_sync.adapters.db.rows import (
    ACTIONS,
    COUNTED,
    REC_COLUMNS,
    CatalogBound,
    action_from_row,
    actions_by_ids,
    batches,
    checkout_from_row,
    chunks,
    core,
    counted_pairs,
    facts,
    lock_sweep,
    log_end,
    named_by,
    recordings_by_ids,
)
from recorder_sync.adapters.db.schema import (
    ActionRow,
    CheckoutRow,
    CustodyEventRow,
    FlagRow,
    LinkRow,
    RecordingRow,
    ReportActionRow,
    ReportRecordingRow,
    ReportTallyRow,
    SweepMarkRow,
)
from recorder_sync.domain.canonical import parse
from recorder_sync.domain.cases import Action, Checkout
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.flags import (
    ENGINE_KINDS,
)
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.model import Flag
from recorder_sync.domain.policy import DeadlineSettings
from recorder_sync.domain.report_tallies import (
    COARSE_BUCKET_S,
    FINE_BUCKET_S,
    FINE_LIMIT,
    ActionContribution,
    Bin,
    Contribution,
    GroupTally,
    ReportAggregates,
    Signature,
    action_contribution,
    contribution,
    merge_tallies,
    month_bounds,
    rebuild_reason,
    tally,
    tally_bins,
)
from recorder_sync.domain.reports import UNKNOWN, UNLINKED
from recorder_sync.domain.subjects import (
    parse_subject,
)

log = logging.getLogger(__name__)

_REPORT = "report"  # the sweep mark of the report tallies

_FLAG_COLUMNS = (FlagRow.kind, FlagRow.state, FlagRow.subject, FlagRow.due)


def _flag_period(since: datetime | None, until: datetime | None) -> list[Any]:
    """The engine's flags a report of the period may count (dated by what they are about)."""
    where: list[Any] = [FlagRow.kind.in_(sorted(ENGINE_KINDS))]
    if since is not None:
        where.append(or_(FlagRow.due.is_(None), FlagRow.due >= since - timedelta(days=40)))
    if until is not None:
        where.append(or_(FlagRow.due.is_(None), FlagRow.due < until + timedelta(days=40)))
    return where


@dataclass(frozen=True)
class TallyCut:
    """What the report tallies are cut with: a change means rebuilding them."""

    zone: tzinfo
    deadline: timedelta
    full_types: frozenset[str]

    @property
    def fingerprint(self) -> str:
        return f"{self.zone}|{self.deadline.total_seconds():g}|{','.join(sorted(self.full_types))}"

    def action(self, action: Action) -> ActionContribution:
        return action_contribution(action, action.action_type in self.full_types, self.zone)


def _action_row(a: ActionContribution) -> dict[str, Any]:
    return {
        "action_id": a.action_id,
        "month": a.month,
        "officers_json": json.dumps(list(a.officers), ensure_ascii=False),
        "unit": a.unit,
        "action_type": a.action_type,
        "full": a.full,
    }


def _action_contribution(row: Any) -> ActionContribution:
    officers = tuple(json.loads(row.officers_json))
    return ActionContribution(row.action_id, row.month, officers, row.unit, row.action_type, bool(row.full))


def _contribution_row(c: Contribution) -> dict[str, Any]:
    return {
        "recording_id": c.recording_id,
        "month": c.month,
        "officer": c.officer,
        "units_json": json.dumps(list(c.units), ensure_ascii=False),
        "types_json": json.dumps(list(c.types), ensure_ascii=False),
        "delay_us": c.delay_us,
    }


def _contribution(row: Any) -> Contribution:
    return Contribution(
        row.recording_id,
        row.month,
        row.officer,
        tuple(json.loads(row.units_json)),
        tuple(json.loads(row.types_json)),
        int(row.delay_us),
    )


def _tally_row(t: GroupTally) -> dict[str, Any]:
    return {
        "month": t.month,
        "dimension": t.dimension,
        "key": t.key,
        "recordings": t.recordings,
        "within": t.within,
        "late_verified": t.late_verified,
        "worst_us": t.worst_us,
        "histogram_json": json.dumps(t.histogram),  # flat: quick to parse
        "actions": t.actions,
        "full_actions": t.full_actions,
    }


def _tally(row: Any) -> GroupTally:
    worst = None if row.worst_us is None else int(row.worst_us)
    return GroupTally(
        row.month,
        row.dimension,
        row.key,
        row.recordings,
        row.within,
        row.late_verified,
        worst,
        json.loads(row.histogram_json),
        row.actions,
        row.full_actions,
    )


def _contribute(
    recordings: Iterable[RecordingFacts],
    pairs: Iterable[tuple[str, str]],
    group_of: dict[str, tuple[str, str]],
    cut: TallyCut,
    now: datetime,
) -> list[Contribution]:
    aids_of: dict[str, list[str]] = defaultdict(list)
    for rid, aid in pairs:
        if aid in group_of:
            aids_of[rid].append(aid)
    out = (contribution(r, aids_of.get(r.id), group_of, cut.zone, now) for r in recordings)
    return [c for c in out if c is not None]


def _write_tallies(
    s: Session, cut: TallyCut, recordings: Iterable[Contribution], actions: Iterable[ActionContribution]
) -> None:
    rows = [_tally_row(t) for t in tally(recordings, cut.deadline, actions)]
    for batch in batches(rows):
        s.execute(insert(ReportTallyRow), batch)


def _rebuild(s: Session, now: datetime, cut: TallyCut, *, bulk: bool = True) -> None:
    """All contributions and tallies again.  ``bulk``: computed by the database where it
    can (rows of devices without clock evidence, linked to actions of one unit and type,
    dated within the months the zone maps plainly), the rest per row in Python; False: all
    per row (what the bulk path must equal)."""
    for table in (ReportRecordingRow, ReportActionRow, ReportTallyRow):
        s.execute(delete(table))
    if bulk:
        rest = _bulk_contributions(s, now, cut)
        recordings = recordings_by_ids(s, rest)
        pairs: Iterable[Any] = counted_pairs(s, recording_ids=rest)
        linked = actions_by_ids(s, {a for _, a in pairs})
        group_of = {a.action_id: (a.unit, a.action_type) for a in linked}
    else:
        recordings = facts(s, core(s, select(*REC_COLUMNS).where(RecordingRow.verified_at <= now)))
        pairs = core(
            s,
            select(LinkRow.recording_id, LinkRow.action_id).where(
                LinkRow.removed_at.is_(None), LinkRow.confidence.in_(COUNTED)
            ),
        )
    actions: list[ActionContribution] = []
    tallied: list[ActionContribution] = []  # the bulk path's, tallied with those of Python
    if bulk:
        left, tallied = _bulk_actions(s, now, cut)
        actions = [cut.action(a) for a in actions_by_ids(s, left)]
    else:
        actions = [cut.action(action_from_row(r)) for r in core(s, select(ACTIONS))]
        group_of = {a.action_id: (a.unit, a.action_type) for a in actions}
    contributions = _contribute(recordings, pairs, group_of, cut, now)
    for batch in batches([_contribution_row(c) for c in contributions]):
        s.execute(insert(ReportRecordingRow), batch)
    for batch in batches([_action_row(a) for a in actions]):
        s.execute(insert(ReportActionRow), batch)
    if bulk:
        rows = [_tally_row(t) for t in tally_bins(_bins(s, cut), [*tallied, *actions])]
        for batch in batches(rows):
            s.execute(insert(ReportTallyRow), batch)
    else:
        _write_tallies(s, cut, contributions, actions)


def _months(
    s: Session, cut: TallyCut, table: str, columns: Sequence[str], where: str, params: dict[str, Any]
) -> list[tuple[datetime, str | None]]:
    """The month bounds covering the dates of these columns (none when there are no rows;
    dates far from today are left to Python)."""
    parts = ", ".join(f"min({c}), max({c})" for c in columns)
    row = s.execute(statement(f"SELECT {parts} FROM {table} WHERE {where}", params)).one()
    found = [_utc(v) for v in row if v is not None]
    if not found:
        return []
    now = params["now"]
    lo, hi = max(min(found), now - _MONTHS_BACK), min(max(found), now + _MONTHS_AHEAD)
    return month_bounds(cut.zone, lo, hi) if lo <= hi else []


_MONTHS_BACK = timedelta(days=366 * 30)
_MONTHS_AHEAD = timedelta(days=366 * 2)


def _utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite's text, read through a plain aggregate
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json_cases(s: Session, column: str, value: str) -> tuple[str, dict[str, Any]]:
    """A CASE that gives ``json.dumps([value])`` for each distinct value of the actions'
    ``column`` (so the stored text is the one Python writes)."""
    params: dict[str, Any] = {}
    whens = []
    for n, (v,) in enumerate(s.execute(statement(f"SELECT DISTINCT {column} FROM actions", {}))):
        params[f"{column}_v{n}"] = v
        params[f"{column}_j{n}"] = json.dumps([v], ensure_ascii=False)
        whens.append(f"WHEN :{column}_v{n} THEN :{column}_j{n}")
    return (f"(CASE {value} {' '.join(whens)} END)" if whens else "NULL"), params


_LEFT = ""  # the month of a row the bulk insert leaves to Python (no real month is empty)


def _bulk_contributions(s: Session, now: datetime, cut: TallyCut) -> list[str]:
    """Insert the contributions the database can compute; the ids of the verified
    recordings left to Python.

    Every verified recording gets a row; those left to Python (a camera clock to correct,
    times stored otherwise, several actions of different units or types, a month the
    zone does not map plainly) get an empty month, and are read back by it through the
    month's index and deleted: cheaper than looking for the missing ones among a
    million rows afterwards."""
    params: dict[str, Any] = {"now": now, "counted": list(COUNTED), "unknown": UNKNOWN, "left": _LEFT}
    plain = stored_plainly(s, "r.start", 'r."end"', "r.ingested_at", "r.verified_at")
    # SQLite: read the table in order rather than most of it through the index (``+``)
    verified = f"{'+' if sqlite(s) else ''}r.verified_at <= :now"
    bounds = _months(
        s, cut, "recordings r", ["r.start", 'r."end"', "r.ingested_at"], f"{verified} AND {plain}", params
    )
    month = ranges("x.anchor", bounds, params, "m")
    units, unit_params = _json_cases(s, "unit", "x.unit")
    types, type_params = _json_cases(s, "action_type", "x.atype")
    params |= unit_params | type_params
    params["unlinked"] = json.dumps([UNLINKED], ensure_ascii=False)
    delay = microseconds(s, "x.verified_at", "x.anchor")
    officer = "CASE WHEN r.officer IS NULL OR r.officer = '' THEN :unknown ELSE r.officer END"
    ok = f"""CASE WHEN {plain} AND (r.device IS NULL OR r.device NOT IN ({CLOCK_DEVICES}))
                 THEN 1 ELSE 0 END"""
    counted = "l.removed_at IS NULL AND l.confidence IN :counted"
    if sqlite(s):
        # One sort: the verified recordings and their counted links (every link is read, in
        # table order) grouped by recording together.  The groups come out in the key's
        # order, which the primary key's index then grows at its end (not all over: a fifth
        # less time on a year of footage).  Joining the links grouped apart needed three
        # sorts of a million rows (the grouping, an index on it, the key's order).
        per_recording = f"""
            SELECT u.id AS id, max(u.anchor) AS anchor, max(u.verified_at) AS verified_at,
                   max(u.officer) AS officer, max(u.ok) AS ok, NULLIF(count(u.link), 0) AS n,
                   CASE WHEN min(u.unit) = max(u.unit) THEN 1 ELSE 2 END AS nu,
                   CASE WHEN min(u.atype) = max(u.atype) THEN 1 ELSE 2 END AS nt,
                   min(u.unit) AS unit, min(u.atype) AS atype
            FROM (
                SELECT r.id AS id, {ANCHOR} AS anchor, r.verified_at AS verified_at,
                       {officer} AS officer, {ok} AS ok, 1 AS rec, NULL AS link, NULL AS unit,
                       NULL AS atype
                FROM recordings r WHERE {verified}
                UNION ALL
                SELECT l.recording_id, NULL, NULL, NULL, NULL, NULL, 1, a.unit, a.action_type
                FROM links l NOT INDEXED JOIN actions a ON a.action_id = l.action_id
                WHERE {counted}
            ) u
            GROUP BY u.id HAVING max(u.rec) = 1
        """
    else:
        # PostgreSQL hashes the grouped links and joins them; it sorts a million text keys
        # slower than its B-tree takes them in any order, so there is no ORDER BY either
        per_recording = f"""
            SELECT r.id AS id, {ANCHOR} AS anchor, r.verified_at AS verified_at,
                   {officer} AS officer, {ok} AS ok,
                   lk.n AS n, lk.nu AS nu, lk.nt AS nt, lk.unit AS unit, lk.atype AS atype
            FROM recordings r LEFT JOIN (
                SELECT l.recording_id AS rid, count(*) AS n,
                       CASE WHEN min(a.unit) = max(a.unit) THEN 1 ELSE 2 END AS nu,
                       CASE WHEN min(a.action_type) = max(a.action_type) THEN 1 ELSE 2 END AS nt,
                       min(a.unit) AS unit, min(a.action_type) AS atype
                FROM links l JOIN actions a ON a.action_id = l.action_id
                WHERE {counted}
                GROUP BY l.recording_id
            ) lk ON lk.rid = r.id
            WHERE {verified}
        """
    bulk = "y.month IS NOT NULL AND y.ok = 1 AND (y.n IS NULL OR (y.nu = 1 AND y.nt = 1))"
    sql = f"""
        INSERT INTO report_recordings (recording_id, month, officer, units_json, types_json, delay_us)
        SELECT y.id, CASE WHEN {bulk} THEN y.month ELSE :left END, y.officer,
               CASE WHEN y.n IS NULL THEN :unlinked WHEN {bulk} THEN y.units ELSE :left END,
               CASE WHEN y.n IS NULL THEN :unlinked WHEN {bulk} THEN y.types ELSE :left END,
               CASE WHEN {bulk} THEN y.delay_us ELSE 0 END
        FROM (
            SELECT x.id AS id, {month} AS month, x.officer AS officer, x.n AS n, x.nu AS nu,
                   x.nt AS nt, {units} AS units, {types} AS types, x.ok AS ok,
                   CASE WHEN x.ok = 1 THEN {delay} END AS delay_us
            FROM ({per_recording} {fence(s)}) x {fence(s)}
        ) y
    """
    s.execute(statement(sql, params))
    left = select(ReportRecordingRow.recording_id).where(ReportRecordingRow.month == _LEFT)
    rest = list(s.scalars(left))
    if rest:
        s.execute(delete(ReportRecordingRow).where(ReportRecordingRow.month == _LEFT))
    return rest


def _bulk_actions(s: Session, now: datetime, cut: TallyCut) -> tuple[list[str], list[ActionContribution]]:
    """Insert the actions' contributions the database can compute; the ids of the others,
    and the contributions inserted (read back once: their officers are put as Python
    writes them, and they are tallied)."""
    params: dict[str, Any] = {"full": sorted(cut.full_types), "now": now}
    plain = stored_plainly(s, 'a."end"')
    bounds = _months(s, cut, "actions a", ['a."end"'], plain, params)
    month = ranges('x."end"', bounds, params, "m")
    full = "CASE WHEN x.action_type IN :full THEN 1 ELSE 0 END" if cut.full_types else "0"
    sql = f"""
        INSERT INTO report_actions (action_id, month, officers_json, unit, action_type, "full")
        SELECT y.action_id, y.month, y.officers_json, y.unit, y.action_type, y."full" = 1
        FROM (
            SELECT x.action_id AS action_id, {month} AS month, x.officers_json AS officers_json,
                   x.unit AS unit, x.action_type AS action_type, {full} AS "full"
            FROM (SELECT a.* FROM actions a WHERE {plain}) x
        ) y
        WHERE y.month IS NOT NULL
    """
    s.execute(statement(sql, params))
    # the officers as Python writes them: once each, JSON without ASCII escapes
    fixes = []
    inserted: list[ActionContribution] = []
    for row in core(s, select(ReportActionRow.__table__)):
        officers = tuple(dict.fromkeys(json.loads(row.officers_json)))
        again = json.dumps(list(officers), ensure_ascii=False)
        if again != row.officers_json:
            fixes.append({"action_id": row.action_id, "officers_json": again})
        inserted.append(
            ActionContribution(row.action_id, row.month, officers, row.unit, row.action_type, bool(row.full))
        )
    for rows in batches(fixes):
        s.execute(update(ReportActionRow), rows)
    rest = """
        SELECT a.action_id FROM actions a
        WHERE NOT EXISTS (SELECT 1 FROM report_actions c WHERE c.action_id = a.action_id)
    """
    return list(s.scalars(statement(rest, {}))), inserted


def _bins(s: Session, cut: TallyCut) -> list[Bin]:
    """The stored contributions counted per month and group, with their histograms (as
    ``bucket:count,…`` text, so that a million buckets cross over as a few thousand rows)."""
    fine = FINE_LIMIT // timedelta(microseconds=1)
    fine_bucket = f"{floor_div('c.delay_us', FINE_BUCKET_S * 1_000_000)} * {FINE_BUCKET_S}"
    coarse_bucket = f"{floor_div('c.delay_us', COARSE_BUCKET_S * 1_000_000)} * {COARSE_BUCKET_S}"
    bucket = f"CASE WHEN c.delay_us < {fine} THEN {fine_bucket} ELSE {coarse_bucket} END"
    pair = "CAST(b.bucket AS VARCHAR(24)) || ':' || CAST(b.n AS VARCHAR(24))"
    histogram = f"group_concat({pair}, ',')" if sqlite(s) else f"string_agg({pair}, ',')"
    limit = cut.deadline // timedelta(microseconds=1)
    # SQLite: the table read in order and sorted, not walked through the month's index
    # (whose rows are all over a table filled in the contributions' key order)
    scan = "NOT INDEXED" if sqlite(s) else ""

    def grouped(key: str) -> str:  # per month, group and bucket
        return f"""
            SELECT c.month AS month, {key} AS k, {bucket} AS bucket, count(*) AS n,
                   sum(CASE WHEN c.delay_us <= {limit} THEN 1 ELSE 0 END) AS w, max(c.delay_us) AS worst
            FROM report_recordings c {scan} GROUP BY 1, 2, 3"""

    def per_group(dimension: str, rows: str) -> str:
        return f"""
            SELECT '{dimension}', b.month, b.k, sum(b.n), sum(b.w), max(b.worst), {histogram}
            FROM ({rows}) b GROUP BY b.month, b.k"""

    # The total is summed from the units' buckets (a recording is in one units group: its
    # JSON), a few hundred thousand rows, rather than from the million contributions again.
    totals = (
        "SELECT month, 'all' AS k, bucket, sum(n) AS n, sum(w) AS w, max(worst) AS worst FROM u GROUP BY 1, 3"
    )
    statements = [
        per_group("officer", grouped("c.officer")),
        per_group("action_type", grouped("c.types_json")),
        f"""WITH u AS MATERIALIZED ({grouped("c.units_json")})
            {per_group("unit", "SELECT * FROM u")} UNION ALL {per_group("total", totals)}""",
    ]
    out: list[Bin] = []
    for sql in statements:
        for dimension, month, k, count, within, worst, pairs in s.execute(text(sql)):
            flat = json.loads("[" + pairs.replace(":", ",") + "]")
            keys = tuple(json.loads(k)) if dimension in ("unit", "action_type") else (k,)
            counts = dict(zip(flat[0::2], flat[1::2], strict=True))
            out.append((month, dimension, keys, counts, int(count), int(within), int(worst)))
    return out


def _refresh(s: Session, mark: SweepMarkRow, now: datetime, cut: TallyCut) -> None:
    """Bring the tallies from ``mark`` to ``now``: recordings verified between the two
    times, those whose links, actions, metadata or clock evidence changed since, and
    the actions imported since."""
    assert mark.at is not None
    cursor = log_end(s)
    ids: set[str] = set()
    action_ids: set[str] = set()
    devices: set[str] = set()
    kinds = [
        EventKind.VERIFIED,
        EventKind.PROBED,
        EventKind.LINKED,
        EventKind.UNLINKED,
        EventKind.ACTION_IMPORTED,
        EventKind.DOCKED,
    ]
    for action, rid, body in s.execute(
        select(CustodyEventRow.action, CustodyEventRow.recording_id, CustodyEventRow.body).where(
            CustodyEventRow.seq > int(mark.seq or 0), CustodyEventRow.action.in_([k.value for k in kinds])
        )
    ):
        if rid:
            ids.add(rid)
        if action in (EventKind.ACTION_IMPORTED.value, EventKind.DOCKED.value):
            parts = parse_subject(str(parse(body).get("subject", "")))
            if parts[0] == "action" and len(parts) >= 2:
                action_ids.add(parts[1])
            elif parts[0] == "device" and len(parts) >= 2:
                devices.add(parts[1])
    for batch in chunks(sorted(action_ids)):
        ids.update(s.scalars(select(LinkRow.recording_id).where(LinkRow.action_id.in_(batch))))
    for batch in chunks(sorted(devices)):
        ids.update(s.scalars(select(RecordingRow.id).where(RecordingRow.device.in_(batch))))
    lo, hi = sorted((mark.at, now))
    ids.update(
        s.scalars(
            select(RecordingRow.id).where(RecordingRow.verified_at > lo, RecordingRow.verified_at <= hi)
        )
    )
    mark.at, mark.seq = now, cursor
    if not ids and not action_ids:
        return
    recordings = recordings_by_ids(s, ids)
    pairs = counted_pairs(s, recording_ids=ids)
    group_of = {a.action_id: (a.unit, a.action_type) for a in actions_by_ids(s, {a for _, a in pairs})}
    new = {c.recording_id: c for c in _contribute(recordings, pairs, group_of, cut, now)}
    old = {
        r.recording_id: _contribution(r)
        for batch in chunks(sorted(ids))
        for r in core(s, select(ReportRecordingRow).where(ReportRecordingRow.recording_id.in_(batch)))
    }
    new_actions = {a.action_id: cut.action(a) for a in actions_by_ids(s, action_ids)}
    old_actions = {
        r.action_id: _action_contribution(r)
        for batch in chunks(sorted(action_ids))
        for r in core(s, select(ReportActionRow).where(ReportActionRow.action_id.in_(batch)))
    }
    changed = sorted(rid for rid in ids if old.get(rid) != new.get(rid))
    changed_actions = sorted(aid for aid in action_ids if old_actions.get(aid) != new_actions.get(aid))
    for batch in chunks(changed):
        s.execute(delete(ReportRecordingRow).where(ReportRecordingRow.recording_id.in_(batch)))
    for batch in chunks(changed_actions):
        s.execute(delete(ReportActionRow).where(ReportActionRow.action_id.in_(batch)))
    added = [new[rid] for rid in changed if rid in new]
    added_actions = [new_actions[aid] for aid in changed_actions if aid in new_actions]
    for rows in batches([_contribution_row(c) for c in added]):
        s.execute(insert(ReportRecordingRow), rows)
    for rows in batches([_action_row(a) for a in added_actions]):
        s.execute(insert(ReportActionRow), rows)
    # A contribution taken out may have been a group's worst delay: the months it was in
    # are tallied again from their contributions.  New ones are added to the tallies.
    months = sorted(
        {old[rid].month for rid in changed if rid in old}
        | {old_actions[aid].month for aid in changed_actions if aid in old_actions}
    )
    if months:
        s.execute(delete(ReportTallyRow).where(ReportTallyRow.month.in_(months)))
        rq = select(ReportRecordingRow).where(ReportRecordingRow.month.in_(months))
        aq = select(ReportActionRow).where(ReportActionRow.month.in_(months))
        again = [_contribution(r) for r in core(s, rq)]
        _write_tallies(s, cut, again, [_action_contribution(r) for r in core(s, aq)])
    increments = tally(
        [c for c in added if c.month not in months],
        cut.deadline,
        [a for a in added_actions if a.month not in months],
    )
    for part in increments:
        row = s.get(ReportTallyRow, (part.month, part.dimension, part.key))
        if row is None:
            s.add(ReportTallyRow(**_tally_row(part)))
            continue
        for name, value in _tally_row(merge_tallies(_tally(row), part)).items():
            setattr(row, name, value)


def update_report(s: Session, now: datetime, cut: TallyCut) -> None:
    """In the sweep's transaction: bring the tallies up to ``now``, rebuilt from every row
    only when ``rebuild_reason`` says so (missing, or cut with other settings)."""
    mark = s.get(SweepMarkRow, _REPORT)
    reason = rebuild_reason(
        None if mark is None else mark.at, None if mark is None else mark.text, cut.fingerprint
    )
    if reason is None:
        assert mark is not None
        _refresh(s, mark, now, cut)
        return
    log.info("rebuilding the report tallies from every row (%s)", reason)
    cursor = log_end(s)
    with working_memory(s):
        _rebuild(s, now, cut)
    if mark is None:
        mark = SweepMarkRow(name=_REPORT)
        s.add(mark)
    mark.at, mark.text, mark.seq = now, cut.fingerprint, cursor


class ReportTallies(CatalogBound):
    """Implements ``ReportSource``."""

    def report_aggregates(
        self,
        now: datetime,
        year: int | None,
        since: datetime | None,
        until: datetime | None,
        settings: DeadlineSettings,
        full_types: Collection[str],
    ) -> ReportAggregates | None:
        """The report's inputs from the tallies, brought up to ``now`` first; None when
        there are none cut with these settings yet, or they are newer than ``now`` (the
        caller then computes from the rows)."""
        cut = TallyCut(settings.display_tz, settings.upload_deadline, frozenset(full_types))
        with self.catalog.transaction() as s:
            lock_sweep(s)
            mark = s.get(SweepMarkRow, _REPORT)
            if mark is None or mark.at is None or mark.text != cut.fingerprint or now < mark.at:
                return None
            _refresh(s, mark, now, cut)
            s.flush()

            tq = select(ReportTallyRow)
            if year is not None:
                tq = tq.where(
                    ReportTallyRow.month >= f"{year:04d}-01", ReportTallyRow.month <= f"{year:04d}-12"
                )
            tallies = [_tally(r) for r in core(s, tq)]
            rq = select(*REC_COLUMNS).where(
                or_(RecordingRow.verified_at.is_(None), RecordingRow.verified_at > now)
            )
            if since is not None:
                rq = rq.where(or_(RecordingRow.end >= since, RecordingRow.end.is_(None)))
            if until is not None:
                rq = rq.where(or_(RecordingRow.end < until, RecordingRow.end.is_(None)))
            recordings = facts(s, core(s, rq))
            live = {r.id for r in recordings}
            # plain rows: kind, state, subject and due are all the report reads of a flag
            flags = list(core(s, select(*_FLAG_COLUMNS).where(*_flag_period(since, until))))
            flagged, action_ids, case_ids, checkout_keys = named_by(f.subject for f in flags)
            flagged -= live
            devices = {device for device, _ in checkout_keys}
            signatures: dict[str, Signature] = {}
            for batch in chunks(sorted(flagged)):
                q = select(ReportRecordingRow).where(ReportRecordingRow.recording_id.in_(batch))
                signatures.update((r.recording_id, _contribution(r).signature) for r in core(s, q))
            pairs = sorted(counted_pairs(s, recording_ids=live))
            action_ids.update(a for _, a in pairs)
            for batch in chunks(sorted(case_ids)):
                action_ids.update(s.scalars(select(ActionRow.action_id).where(ActionRow.case_id.in_(batch))))
            # the same actions as report_inputs would load: those that ended in the period
            actions = [
                a
                for a in actions_by_ids(s, action_ids)
                if (since is None or a.end >= since) and (until is None or a.end < until)
            ]
            checkouts: list[Checkout] = []
            for batch in chunks(sorted(devices)):
                cq = select(CheckoutRow).where(CheckoutRow.device.in_(batch))
                if since is not None:
                    cq = cq.where(CheckoutRow.start >= since - timedelta(days=2))
                checkouts.extend(checkout_from_row(r) for r in s.scalars(cq))
            return ReportAggregates(
                tallies=tallies,
                recordings=recordings,
                actions=actions,
                links=pairs,
                flags=flags,
                checkouts=checkouts,
                signatures=signatures,
            )

    def report_inputs(
        self, since: datetime | None, until: datetime | None
    ) -> tuple[list[RecordingFacts], list[Action], list[tuple[str, str]], list[Flag], list[Checkout]]:
        with self.catalog.transaction() as s:
            rq = select(*REC_COLUMNS)
            aq = select(ACTIONS)
            if since is not None:
                rq = rq.where(or_(RecordingRow.end >= since, RecordingRow.end.is_(None)))
                aq = aq.where(ActionRow.end >= since)
            if until is not None:
                rq = rq.where(or_(RecordingRow.end < until, RecordingRow.end.is_(None)))
                aq = aq.where(ActionRow.end < until)
            recordings = facts(s, core(s, rq))
            actions = [action_from_row(r) for r in core(s, aq)]
            lq = select(LinkRow.recording_id, LinkRow.action_id).where(
                LinkRow.removed_at.is_(None), LinkRow.confidence.in_(COUNTED)
            )
            if since is not None or until is not None:
                lq = lq.join(ActionRow, ActionRow.action_id == LinkRow.action_id)
                if since is not None:
                    lq = lq.where(ActionRow.end >= since - timedelta(days=2))
                if until is not None:
                    lq = lq.where(ActionRow.end < until + timedelta(days=2))
            links = [(r, a) for r, a in core(s, lq)]
            fq = select(FlagRow).where(*_flag_period(since, until))
            flags = [flag_from_row(r) for r in s.scalars(fq)]
            cq = select(CheckoutRow)
            if since is not None:
                cq = cq.where(and_(CheckoutRow.start >= since - timedelta(days=2)))
            checkouts = [checkout_from_row(r) for r in s.scalars(cq)]
            return recordings, actions, links, flags, checkouts
