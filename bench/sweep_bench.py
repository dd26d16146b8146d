"""Deadline sweep, status and report at scale. Prints each figure next to its aim; asserts nothing.

    python bench/sweep_bench.py [--recordings 1000000] [--actions 100000] [--db sqlite,postgresql]
                                [--pg-url postgresql://…]   (default: $DATABASE_URL)

Synthetic rows are bulk-inserted straight into the tables (a year of work: actions of
1-3 officers, about ten linked recordings each, a ledger line per officer and day, a
little footage late or still pending).  Then it times:

* the first sweep (full: no previous sweep to start from),
* incremental sweeps five minutes apart after a realistic trickle of changes
  (new recordings ingested, verified and linked, an action imported),
* a full sweep again, as ``sweep --full`` runs one (the tallies exist: not rebuilt),
* ``status`` (the catalog's counts) and ``report --year`` (aim ≤ 1 s each); the report
  is timed from the tallies the sweeps keep, then computed live from every row for
  comparison (same figures but the medians, which have the histogram's resolution).

The aims: the first (full) sweep ≤ 20 s, an incremental one ≤ 2 s.  The first sweep is
printed beside the figure measured before the full sweep worked on sets in SQL (issue 12:
969,390 recordings and 100,000 actions, on the 2-core machine), and with its CPU time
(this process's, which includes SQLite's work, and the PostgreSQL backends' when the
server runs here: the report tallies are rebuilt on a connection of their own while the
sweep loads its inputs): on a loaded machine, wall time says little.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from benchdb import each_database
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine

from recorder_sync.adapters.db.casebook import CaseBook
from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.db.schema import (
    ActionOfficerRow,
    ActionRow,
    CheckoutRow,
    LinkRow,
    RecordingRow,
)
from recorder_sync.domain.policy import DEFAULT_POLICY, DeadlineSettings
from recorder_sync.services.deadlines import DeadlineService
from recorder_sync.services.reports import ReportService

SH = ZoneInfo("Asia/Shanghai")
# the first (full) sweep of the README's synthetic year before issue 12, row by row in Python
BEFORE_FULL_S = {"sqlite": 99.4, "postgresql": 165.7}
YEAR = 2026
T = TypeVar("T")


def chunks(rows: Iterator[T], size: int = 20000) -> Iterator[list[T]]:
    batch: list[T] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def server_cpu(engine: Engine) -> dict[int, float]:
    """CPU time (user + system) used so far by each PostgreSQL backend connected to the engine's
    database, when the server runs on this machine and its /proc entries are readable (none
    otherwise; the parallel workers a plan may start are not counted)."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        out: dict[int, float] = {}
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError, ValueError):
                pass
    return out


def cpu_seconds(engine: Engine, since: tuple[float, dict[int, float]]) -> tuple[float, float]:
    """CPU time used since ``since`` (``cpu_mark()``) by this process, with all its threads
    (SQLite works inside it), and by the PostgreSQL backends of the engine's database (the
    sweep brings the report tallies up to date on a connection of its own; a backend started
    meanwhile counts from zero).  On a loaded machine wall time says little: CPU time is
    what the work costs."""
    client, servers = cpu_mark(engine)
    return client - since[0], sum(v - since[1].get(pid, 0.0) for pid, v in servers.items())


def cpu_mark(engine: Engine) -> tuple[float, dict[int, float]]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, server_cpu(engine)


def populate(engine: Engine, n_recordings: int, n_actions: int, now: datetime) -> dict[str, int]:
    rnd = random.Random(4)
    start_of_year = datetime(YEAR, 1, 1, tzinfo=SH).astimezone(UTC)
    span = (now - timedelta(days=2) - start_of_year).total_seconds()
    officers = [f"{n:06d}" for n in range(max(20, n_actions // 200))]
    full_types = ["seizure", "impoundment", "forced_demolition"]
    rec_types = ["inspection", "evidence_collection", "hearing", "service"]
    per_action = max(1, n_recordings // n_actions)
    counts = {"recordings": 0, "links": 0, "late": 0, "pending": 0, "checkouts": 0}
    action_rows: list[dict[str, Any]] = []
    officer_rows: list[dict[str, Any]] = []
    link_rows: list[dict[str, Any]] = []
    checkouts: set[tuple[str, datetime]] = set()
    checkout_rows: list[dict[str, Any]] = []

    def recording_rows() -> Iterator[dict[str, Any]]:
        n = 0
        for a in range(n_actions):
            start = start_of_year + timedelta(seconds=rnd.random() * span)
            end = start + timedelta(minutes=rnd.randint(5, 90))
            crew = rnd.sample(officers, rnd.randint(1, 3))
            kind = rnd.choice(full_types) if rnd.random() < 0.3 else rnd.choice(rec_types)
            aid = f"A{a:07d}"
            action_rows.append(
                {
                    "action_id": aid,
                    "case_id": f"C{a // 3:07d}",
                    "action_type": kind,
                    "unit": f"Unit {a % 12}",
                    "officers_json": json.dumps(crew),
                    "start": start,
                    "end": end,
                    "target_id": f"P{rnd.randint(0, n_actions // 2)}",
                    "target_name": "",
                    "place": "",
                    "version": 1,
                    "imported_at": end,
                    "updated_at": end,
                }
            )
            officer_rows.extend({"action_id": aid, "officer": o} for o in crew)
            day = start.replace(hour=0, minute=0, second=0, microsecond=0)
            for o in crew:
                device = f"CAM{officers.index(o):05d}"
                if (device, day) not in checkouts:
                    checkouts.add((device, day))
                    checkout_rows.append(
                        {
                            "device": device,
                            "officer": o,
                            "start": day,
                            "end": day + timedelta(hours=23),
                            "imported_at": day,
                            "updated_at": day,
                        }
                    )
            footage = 0 if rnd.random() < 0.03 else per_action
            length = (end - start) / max(1, footage)
            for k in range(footage):
                if n >= n_recordings:
                    break
                o = crew[k % len(crew)]
                r_start = start + length * k
                r_end = r_start + length
                roll = rnd.random()
                if roll < 0.002 and now - r_end > timedelta(days=1):
                    verified = None
                    counts["pending"] += 1
                elif roll < 0.005:
                    verified = r_end + timedelta(hours=rnd.randint(25, 60))
                    counts["late"] += 1
                else:
                    verified = r_end + timedelta(hours=rnd.random() * 20)
                if verified is not None and verified > now:
                    verified = None
                ingested = (verified or r_end + timedelta(hours=1)) - timedelta(minutes=2)
                digest = hashlib.sha256(n.to_bytes(8, "big")).hexdigest()
                rid = "rec-" + digest[:16]
                n += 1
                link_rows.append(
                    {
                        "recording_id": rid,
                        "action_id": aid,
                        "basis": "officer",
                        "confidence": "auto",
                        "officer": o,
                        "created_by": "auto-link",
                        "reason": "bench",
                        "created_at": ingested,
                    }
                )
                yield {
                    "id": rid,
                    "sha256": digest,
                    "size": 50_000_000,
                    "kind": "video",
                    "state": "released" if verified else "signed",
                    "station": "bench",
                    "dock": "dock",
                    "original_name": f"{rid}.MP4",
                    "ingested_at": ingested,
                    "device": f"CAM{officers.index(o):05d}",
                    "officer": o,
                    "start": r_start,
                    "end": r_end,
                    "important": False,
                    "metadata_json": "{}",
                    "media_json": "{}",
                    "verified_at": verified,
                    "stored_at": verified,
                    "attempts": 0,
                    "updated_at": verified or ingested,
                }

    with engine.begin() as conn:
        for batch in chunks(recording_rows()):
            conn.execute(insert(RecordingRow), batch)
            counts["recordings"] += len(batch)
            if len(link_rows) >= 20000:
                conn.execute(insert(LinkRow), link_rows)
                counts["links"] += len(link_rows)
                link_rows.clear()
            print(f"\r  inserted {counts['recordings']:,} recordings", end="", file=sys.stderr, flush=True)
        if link_rows:
            conn.execute(insert(LinkRow), link_rows)
            counts["links"] += len(link_rows)
        for batch in chunks(iter(action_rows)):
            conn.execute(insert(ActionRow), batch)
        for batch in chunks(iter(officer_rows)):
            conn.execute(insert(ActionOfficerRow), batch)
        for batch in chunks(iter(checkout_rows)):
            conn.execute(insert(CheckoutRow), batch)
        counts["checkouts"] = len(checkout_rows)
    print(file=sys.stderr)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    counts["actions"] = len(action_rows)
    return counts


def trickle(catalog: SqlCatalog, book: CaseBook, now: datetime, n: int, rnd: random.Random) -> None:
    """What five minutes bring: ``n`` recordings verified, a few new links, one action."""
    from recorder_sync.domain.cases import Action
    from recorder_sync.domain.linking import Basis, Confidence, LinkProposal
    from recorder_sync.domain.model import FileIdentity, Kind, ProbeResult, Sourced, StoredObject

    new: list[str] = []
    for _ in range(n):
        k = rnd.getrandbits(60)
        ident = FileIdentity(size=1000, mtime_ns=k, inode=k, device=1)
        s = catalog.observe("dock", f"new-{k}.MP4", ident, now)
        rec, _ = catalog.attach_hash(
            s.id, sha256=hashlib.sha256(k.to_bytes(8, "big")).hexdigest(), ident=ident,
            kind_hint=Kind.VIDEO, sidecar=None, now=now,
        )  # fmt: skip
        meta = {
            "device": Sourced("CAM00001", "filename"),
            "officer": Sourced("000001", "filename"),
            "start": Sourced(now - timedelta(minutes=30), "filename"),
            "end": Sourced(now - timedelta(minutes=20), "filename"),
        }
        catalog.record_probe(rec.id, ProbeResult(Kind.VIDEO, True, duration_ms=600_000), meta, now, flag=None)
        catalog.record_verified(rec.id, StoredObject(key=rec.id, uri="file:///x", size=1000), now)
        new.append(rec.id)
    aid = f"NEW{rnd.getrandbits(32)}"
    action = Action(
        "CNEW",
        aid,
        "seizure",
        "Unit 1",
        ("000001",),
        now - timedelta(minutes=35),
        now - timedelta(minutes=15),
    )
    book.upsert_actions([action], now, "bench", "bench")
    book.apply_proposals(
        [LinkProposal(rid, aid, Basis.OFFICER, Confidence.AUTO, "000001") for rid in new], now
    )


def populated(url: str, n_recordings: int, n_actions: int) -> tuple[Engine, SqlCatalog, datetime]:
    """A fresh schema at ``url`` holding a synthetic year (said on stdout), its catalog, and the
    moment the year is looked at from."""
    engine = make_engine(url)
    upgrade(engine)
    now = datetime(YEAR, 12, 20, 12, 0, tzinfo=UTC)
    counts, seconds = timed(lambda: populate(engine, n_recordings, n_actions, now))
    said = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    print(f"[{engine.dialect.name}] populated in {seconds:.1f} s: {said}")
    return engine, SqlCatalog(engine, station="bench", actor="bench"), now


def bench(url: str, n_recordings: int, n_actions: int) -> None:
    engine, catalog, now = populated(url, n_recordings, n_actions)
    name = engine.dialect.name
    book = CaseBook(catalog)
    settings = DeadlineSettings(display_tz=SH)
    svc = DeadlineService(book, DEFAULT_POLICY, settings)
    rnd = random.Random(9)

    before = cpu_mark(engine)
    result, seconds = timed(lambda: svc.sweep(now))
    client, server = cpu_seconds(engine, before)
    print(
        f"[{name}] first sweep (full)        {seconds:7.2f} s   "
        f"(evaluated {result.evaluated['recordings']:,} recordings, {result.evaluated['actions']:,} actions; "
        f"{result.count('raised'):,} flags raised; before: {BEFORE_FULL_S.get(name, float('nan')):.1f} s "
        f"at the README's size)   aim: <= 20 s"
    )
    server_said = f", database server {server:.2f} s" if name == "postgresql" else ""
    print(f"[{name}]   its CPU time: this process {client:.2f} s (user + system){server_said}")
    for step in range(1, 4):
        now += timedelta(minutes=5)
        trickle(catalog, book, now, 50, rnd)
        result, seconds = timed(lambda: svc.sweep(now))  # noqa: B023 (called at once)
        parts = ", ".join(f"{k} {v:.2f}" for k, v in result.seconds.items())
        print(
            f"[{name}] incremental sweep #{step}     {seconds:7.2f} s   "
            f"(evaluated {result.evaluated['upload_recordings']:,} unverified/changed recordings, "
            f"{result.evaluated['actions']:,} actions with {result.evaluated['recordings']:,} linked "
            f"recordings; {len(result.changes)} changes; {parts})   aim: <= 2 s"
        )
    result, seconds = timed(lambda: svc.sweep(now, full=True))
    print(
        f"[{name}] full sweep again           {seconds:7.2f} s   "
        f"(sweep --full: every rule on the whole tables; the report tallies are brought up to "
        f"date, not rebuilt; {len(result.changes)} changes)   aim: none"
    )
    _, seconds = timed(catalog.status)
    print(f"[{name}] status                    {seconds:7.2f} s   aim: <= 1 s")
    reports = ReportService(book, DEFAULT_POLICY, settings)
    report, seconds = timed(lambda: reports.report(now, year=YEAR))
    print(
        f"[{name}] report --year {YEAR}        {seconds:7.2f} s   "
        f"({report.total.timeliness.recordings:,} recordings, "
        f"{report.total.timeliness.pct_within}% within 24 h; from the sweep's tallies)   aim: <= 1 s"
    )
    live, seconds = timed(lambda: reports.report(now, year=YEAR, live=True))
    same = _without_medians(live.as_json()) == _without_medians(report.as_json())
    print(
        f"[{name}] report --year {YEAR} (live)  {seconds:7.2f} s   "
        f"(every row loaded, as before the tallies; same figures but medians: {same})   aim: none"
    )
    engine.dispose()


def _without_medians(value: Any) -> Any:
    """A report's JSON without its medians (the tallies give them to a histogram bucket)."""
    if isinstance(value, dict):
        return {
            k: _without_medians(v) for k, v in value.items() if k not in ("median_delay_s", "generated_at")
        }
    if isinstance(value, list):
        return [_without_medians(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recordings", type=int, default=1_000_000)
    p.add_argument("--actions", type=int, default=100_000)
    p.add_argument("--db", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    p.add_argument("--pg-url", default=os.environ.get("DATABASE_URL"), help="default: $DATABASE_URL")
    args = p.parse_args(argv)
    each_database(
        args.db, args.pg_url, lambda url: bench(url, args.recordings, args.actions), prefix="sweep-bench-"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
