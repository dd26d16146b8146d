"""The full sweep's bulk SQL against the per-row Python it replaces, on real SQLite and
PostgreSQL: a generated year (fixed seed) with the awkward cases (camera clocks corrected,
recordings of several actions, times missing or reversed, delays to the microsecond and
negative, months cut in zones whose offset changes at midnight) gives the same report
contributions and tallies, and the same flags, either way."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from recorder_sync.adapters.db import report_tallies, sweep_sets
from recorder_sync.adapters.db.bulk_sql import working_memory
from recorder_sync.adapters.db.casebook import CaseBook
from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.db.schema import (
    ActionOfficerRow,
    ActionRow,
    CheckoutRow,
    DockingRow,
    LinkRow,
    RecordingRow,
    ReportActionRow,
    ReportRecordingRow,
    ReportTallyRow,
)
from recorder_sync.adapters.db.sweep_repo import SweepRepo
from recorder_sync.domain.errors import DatabaseUnavailable
from recorder_sync.domain.model import StoredObject
from recorder_sync.domain.policy import DEFAULT_POLICY, DeadlineSettings, full_action_types
from recorder_sync.services.deadlines import DeadlineService

NOW = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)
SH = ZoneInfo("Asia/Shanghai")
ZONES = ["Asia/Shanghai", "America/Sao_Paulo", "Europe/London", "America/Havana"]
TYPES = ["seizure", "impoundment", "forced_demolition", "inspection", "evidence_collection", "hearing", "odd"]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def populate(engine: Engine, seed: int, n_actions: int = 120) -> None:
    """A small year with every awkward case the bulk path must leave to Python or get right."""
    rnd = random.Random(seed)
    officers = ["001", "002", "003", "004", "", "ü05"]
    start_of_year = datetime(2016, 1, 1, tzinfo=UTC)  # Sao Paulo and Havana still changed clocks then
    actions: list[dict[str, Any]] = []
    crews: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    recordings: list[dict[str, Any]] = []
    checkouts: dict[tuple[str, datetime], dict[str, Any]] = {}
    boundaries = [
        datetime(2016 + y, m, 1, tzinfo=ZoneInfo(z)).astimezone(UTC)
        for y in range(3)
        for m in (1, 2, 3, 10, 11, 12)
        for z in ZONES
    ]

    def when() -> datetime:
        if rnd.random() < 0.4:  # near a month boundary of one of the zones, to the microsecond
            return rnd.choice(boundaries) + timedelta(microseconds=rnd.randint(-4_000_000_000, 4_000_000_000))
        return start_of_year + timedelta(seconds=rnd.random() * 3 * 366 * 86400)

    for a in range(n_actions):
        start = when()
        end = start + timedelta(minutes=rnd.randint(5, 90), microseconds=rnd.randint(0, 999_999))
        crew = rnd.sample(["001", "002", "003", "004", "ü05"], rnd.randint(1, 3))
        aid = f"A{a:04d}"
        actions.append(
            {
                "action_id": aid,
                "case_id": f"C{a // 3:04d}",
                "action_type": rnd.choice(TYPES),
                "unit": rnd.choice(["Unit 1", "Unit 2", "Ünit 3"]),
                "officers_json": json.dumps(crew + ([crew[0]] if rnd.random() < 0.05 else [])),
                "start": start,
                "end": end,
                "target_id": "",
                "target_name": "",
                "place": "",
                "version": 1,
                "imported_at": end,
                "updated_at": end,
            }
        )
        crews.extend({"action_id": aid, "officer": o} for o in crew)
        for o in crew:
            day = start.replace(hour=0, minute=0, second=0, microsecond=0)
            checkouts.setdefault(
                (f"CAM{o}", day),
                {"device": f"CAM{o}", "officer": o, "start": day, "end": day + timedelta(hours=23),
                 "imported_at": day, "updated_at": day},
            )  # fmt: skip
        footage = 0 if rnd.random() < 0.1 else rnd.randint(1, 5)
        length = (end - start) / max(1, footage)
        for k in range(footage):
            rid = f"R{a:04d}{k}"
            o = crew[k % len(crew)] if rnd.random() < 0.9 else rnd.choice(officers)
            r_start: datetime | None = start + length * k - timedelta(seconds=rnd.choice([0, 0, 0, 200]))
            r_end: datetime | None = r_start + length if r_start else None
            roll = rnd.random()
            if roll < 0.05:
                r_start, r_end = r_end, r_start  # reversed
            elif roll < 0.1:
                r_start = None
            elif roll < 0.15:
                r_end = None
            elif roll < 0.18:
                r_start = r_end = None
            anchor = r_end or r_start or end
            ingested = anchor + timedelta(
                hours=rnd.choice([-1, 1, 3, 20, 30, 100]), microseconds=rnd.randint(0, 999)
            )
            verified = None if rnd.random() < 0.1 else ingested + timedelta(minutes=rnd.randint(-90, 3000))
            recordings.append(
                {
                    "id": rid, "sha256": f"{a:04d}{k}".ljust(64, "0"), "size": 1, "kind": "video",
                    "state": "released" if verified else "signed", "station": "t", "dock": "d",
                    "original_name": rid, "ingested_at": ingested,
                    "device": f"CAM{o}" if rnd.random() < 0.95 else None, "officer": o or None,
                    "start": r_start, "end": r_end, "important": False, "metadata_json": "{}",
                    "media_json": "{}", "verified_at": verified, "stored_at": verified, "attempts": 0,
                    "updated_at": verified or ingested,
                }
            )  # fmt: skip
            linked = [aid] + ([f"A{rnd.randrange(n_actions + 3):04d}"] if rnd.random() < 0.15 else [])
            for target in linked:
                links.append(
                    {
                        "recording_id": rid, "action_id": target, "basis": "officer",
                        "confidence": rnd.choice(["auto", "auto", "manual", "confirmed", "suggested"]),
                        "officer": o, "created_by": "t", "reason": "t", "created_at": ingested,
                        "removed_at": ingested if rnd.random() < 0.05 else None,
                    }
                )  # fmt: skip
    # cameras that never came back, or not since their last checkout
    for day in (datetime(2016, 3, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)):
        for device, officer in (("CAM-LOST", "004"), ("CAM001", "001"), ("CAM003", "003")):
            end = day + timedelta(hours=9)
            checkouts[(device, day)] = {
                "device": device, "officer": officer, "start": day, "end": end, "imported_at": day,
                "updated_at": day,
            }  # fmt: skip
    dockings = [
        {"device": "CAM003", "dock": "d", "docked_at": start_of_year + timedelta(days=d), "camera_time": None,
         "clock_offset_ms": off, "source": "clock.json"}
        for d, off in ((10, 300_000), (400, -2_000), (800, 90_000))
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(ActionRow), actions)
        conn.execute(insert(ActionOfficerRow), [dict(t) for t in {tuple(c.items()) for c in crews}])
        conn.execute(insert(RecordingRow), recordings)
        conn.execute(insert(LinkRow), links)
        conn.execute(insert(CheckoutRow), list(checkouts.values()))
        conn.execute(insert(DockingRow), dockings)


def stored(catalog: SqlCatalog) -> list[tuple[Any, ...]]:
    with catalog.transaction() as s:
        rows: list[tuple[Any, ...]] = []
        for table in (ReportTallyRow, ReportRecordingRow, ReportActionRow):
            rows += [(table.__tablename__, *r) for r in s.execute(select(table.__table__)).all()]
    return sorted(rows, key=repr)


@pytest.mark.parametrize("zone", ZONES)
def test_bulk_report_tallies_equal_the_per_row_ones(engine: Engine, zone: str) -> None:
    populate(engine, seed=len(zone))
    catalog = SqlCatalog(engine, station="t", actor="t")
    settings = DeadlineSettings(display_tz=ZoneInfo(zone))
    cut = report_tallies.TallyCut(
        settings.display_tz, settings.upload_deadline, full_action_types(DEFAULT_POLICY)
    )
    by_row = []
    for bulk in (False, True):
        with catalog.transaction() as s:
            report_tallies._rebuild(s, NOW, cut, bulk=bulk)
        by_row.append(stored(catalog))
    assert by_row[0] and by_row[1] == by_row[0]


def changes(svc: DeadlineService, now: datetime) -> list[tuple[Any, ...]]:
    result = svc.sweep(now, full=True, dry_run=True)
    return sorted((c.change, c.kind, c.subject, c.severity, c.detail, c.due) for c in result.changes)


REBUILD = report_tallies._rebuild
"""The tallies rebuilt from every row (the real one, whatever a test patches)."""


def count_rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The times the report tallies are rebuilt from every row at, from now on."""
    rebuilds: list[datetime] = []

    def counted(s: Any, now: datetime, cut: report_tallies.TallyCut, *, bulk: bool = True) -> None:
        rebuilds.append(now)
        REBUILD(s, now, cut, bulk=bulk)

    monkeypatch.setattr(report_tallies, "_rebuild", counted)
    return rebuilds


@pytest.mark.parametrize("seed", [1, 2])
def test_a_full_sweep_on_the_sets_the_database_finds_equals_one_on_every_row(
    engine: Engine, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(engine, seed=seed, n_actions=150)
    catalog = SqlCatalog(engine, station="t", actor="t")
    settings = DeadlineSettings(
        display_tz=ZoneInfo("Asia/Shanghai"), coverage_tolerance=timedelta(seconds=30)
    )
    svc = DeadlineService(CaseBook(catalog), DEFAULT_POLICY, settings)
    for now in (datetime(2017, 6, 1, tzinfo=UTC), NOW):
        monkeypatch.setattr(SweepRepo, "bulk_full", False)
        every_row = changes(svc, now)
        monkeypatch.setattr(SweepRepo, "bulk_full", True)
        assert every_row and changes(svc, now) == every_row
        svc.sweep(now)  # written: the next time compares what resolves and escalates too
    assert svc.sweep(NOW, full=True).changes == ()


def test_a_full_sweep_refreshes_the_tallies_and_other_settings_rebuild_them(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(engine, seed=3)
    catalog = SqlCatalog(engine, station="t", actor="t")
    book = CaseBook(catalog)
    svc = DeadlineService(book, DEFAULT_POLICY, DeadlineSettings(display_tz=SH))
    rebuilds = count_rebuilds(monkeypatch)
    svc.sweep(NOW)
    assert rebuilds == [NOW]  # none yet: built
    # a recording verified since, through the custody log, as the daemon records it
    later = NOW + timedelta(hours=2)
    with catalog.transaction() as s:
        pending = s.scalars(select(RecordingRow.id).where(RecordingRow.verified_at.is_(None))).first()
    assert pending is not None
    catalog.record_verified(pending, StoredObject(key=pending, uri="file:///x", size=1), later)
    assert svc.sweep(later, full=True).full
    assert rebuilds == [NOW]  # full, but cut alike: refreshed, not rebuilt
    refreshed = stored(catalog)
    cut = report_tallies.TallyCut(SH, DeadlineSettings().upload_deadline, full_action_types(DEFAULT_POLICY))
    with catalog.transaction() as s:
        REBUILD(s, later, cut)
    assert refreshed == stored(catalog)  # what a rebuild from every row writes
    assert any(r[0] == "report_recordings" and r[1] == pending for r in refreshed)
    # the zone the months are cut in changes: rebuilt
    other = DeadlineService(book, DEFAULT_POLICY, DeadlineSettings(display_tz=ZoneInfo("Europe/London")))
    other.sweep(later + timedelta(minutes=5))
    assert rebuilds == [NOW, later + timedelta(minutes=5)]


def test_a_sweep_reads_the_ledger_only_of_footage_its_officer_numbers_do_not_attribute(
    engine: Engine,
) -> None:
    def action(aid: str, crew: list[str]) -> dict[str, Any]:
        start = datetime(2026, 12, 1, 9, tzinfo=UTC)
        return {
            "action_id": aid, "case_id": "C1", "action_type": "seizure", "unit": "U",
            "officers_json": json.dumps(crew), "start": start, "end": start + timedelta(hours=1),
            "target_id": "", "target_name": "", "place": "", "version": 1, "imported_at": start,
            "updated_at": start,
        }  # fmt: skip

    def recording(rid: str, officer: str | None, device: str) -> dict[str, Any]:
        start = datetime(2026, 12, 1, 9, tzinfo=UTC)
        return {
            "id": rid, "sha256": rid.ljust(64, "0"), "size": 1, "kind": "video", "state": "released",
            "station": "t", "dock": "d", "original_name": rid, "ingested_at": start + timedelta(hours=2),
            "device": device, "officer": officer, "start": start, "end": start + timedelta(hours=1),
            "important": False, "metadata_json": "{}", "media_json": "{}",
            "verified_at": start + timedelta(hours=3), "stored_at": start + timedelta(hours=3),
            "attempts": 0, "updated_at": start,
        }  # fmt: skip

    def link(rid: str, aid: str) -> dict[str, Any]:
        return {
            "recording_id": rid, "action_id": aid, "basis": "officer", "confidence": "auto",
            "officer": None, "created_by": "t", "reason": "t", "created_at": NOW - timedelta(days=5),
        }  # fmt: skip

    ledger = [
        {"device": device, "officer": officer, "start": day, "end": day + timedelta(hours=20),
         "imported_at": day, "updated_at": day}
        for device, officer in (("CAM-1", "001"), ("CAM-2", "002"))
        for day in (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=d) for d in range(31))
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(ActionRow), [action("A1", ["001"]), action("A2", ["002"])])
        conn.execute(
            insert(ActionOfficerRow),
            [{"action_id": "A1", "officer": "001"}, {"action_id": "A2", "officer": "002"}],
        )
        # A1's footage names its officer; A2's does not: only the ledger says who made it
        conn.execute(insert(RecordingRow), [recording("R1", "001", "CAM-1"), recording("R2", None, "CAM-2")])
        conn.execute(insert(LinkRow), [link("R1", "A1"), link("R2", "A2")])
        conn.execute(insert(CheckoutRow), ledger)
    catalog = SqlCatalog(engine, station="t", actor="t")
    svc = DeadlineService(CaseBook(catalog), DEFAULT_POLICY, DeadlineSettings(display_tz=SH))
    inputs = SweepRepo(catalog).sweep_inputs(NOW, svc.limits, full=True)
    # A2 is in play, and A1 with it (a case-file flag needs every action of the case)
    assert {a.action_id for a in inputs.actions} == {"A1", "A2"}
    assert {c.device for c in inputs.checkouts} == {"CAM-2"}
    # and it is enough: the footage is attributed, nothing is missing
    assert [c for c in svc.sweep(NOW).changes if c.kind == "footage-missing"] == []


def test_statements_over_whole_tables_get_working_memory_only_while_they_run(engine: Engine) -> None:
    catalog = SqlCatalog(engine, station="t", actor="t")
    setting = "PRAGMA cache_size" if engine.dialect.name == "sqlite" else "SHOW work_mem"
    with catalog.transaction() as s:
        before = s.execute(text(setting)).scalar_one()
        with working_memory(s, 64):
            inside = s.execute(text(setting)).scalar_one()
        after = s.execute(text(setting)).scalar_one()
    with catalog.transaction() as s:
        later = s.execute(text(setting)).scalar_one()
    if engine.dialect.name == "sqlite":
        assert (inside, after, later) == (-64 * 1024, before, before)  # a connection setting: put back
    else:
        assert (inside, later) == ("64MB", before)  # for the transaction only


def test_a_full_sweep_that_fails_midway_leaves_no_temporary_table_and_the_next_one_runs(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(engine, seed=5, n_actions=40)
    catalog = SqlCatalog(engine, station="t", actor="t")
    svc = DeadlineService(CaseBook(catalog), DEFAULT_POLICY, DeadlineSettings(display_tz=SH))
    ids = sweep_sets._ids

    def failing(s: Any, sql: str, params: dict[str, Any]) -> set[str]:
        if "f.odd = 1" in sql:
            s.execute(text("SELECT no_such_column FROM sweep_footage"))  # a database error
        return ids(s, sql, params)

    monkeypatch.setattr(sweep_sets, "_ids", failing)
    # the error itself, not a later one ("current transaction is aborted")
    with pytest.raises((DatabaseUnavailable, DBAPIError), match="no_such_column"):
        svc.sweep(NOW)
    monkeypatch.setattr(sweep_sets, "_ids", ids)
    assert svc.sweep(NOW).changes  # the pooled connection holds no leftover table
    assert svc.sweep(NOW + timedelta(hours=1), full=True).full


def test_the_first_sweep_rebuilds_the_tallies_while_its_inputs_load(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rebuild (a transaction that writes) and the loading (one that reads) overlap: the
    loading waits until the rebuild has begun, the rebuild until the loading has ended.  Run
    one after the other, as before, the loading would wait for a rebuild that never begins.
    On both databases: SQLite's loading takes no lock."""
    populate(engine, seed=6, n_actions=60)
    catalog = SqlCatalog(engine, station="t", actor="t")
    book = CaseBook(catalog)
    svc = DeadlineService(book, DEFAULT_POLICY, DeadlineSettings(display_tz=SH))
    rebuilding, loaded = threading.Event(), threading.Event()
    rebuild, load = report_tallies._rebuild, SweepRepo.sweep_inputs

    def rebuild_after_loading(
        s: Any, now: datetime, cut: report_tallies.TallyCut, *, bulk: bool = True
    ) -> None:
        rebuilding.set()
        assert loaded.wait(timeout=120), "the loading did not run while the tallies were rebuilt"
        rebuild(s, now, cut, bulk=bulk)

    def load_while_rebuilding(self: SweepRepo, *args: Any, **kwargs: Any) -> Any:
        assert rebuilding.wait(timeout=120), "the tallies were not being rebuilt while the inputs loaded"
        try:
            return load(self, *args, **kwargs)
        finally:
            loaded.set()

    monkeypatch.setattr(report_tallies, "_rebuild", rebuild_after_loading)
    monkeypatch.setattr(SweepRepo, "sweep_inputs", load_while_rebuilding)
    result = svc.sweep(NOW)
    monkeypatch.undo()
    assert result.full and result.changes
    # the same flags and tallies as a sweep that did one thing after the other
    beside = stored(catalog), changes(svc, NOW)
    cut = report_tallies.TallyCut(SH, DeadlineSettings().upload_deadline, full_action_types(DEFAULT_POLICY))
    with catalog.transaction() as s:
        rebuild(s, NOW, cut)
    assert beside[0] and beside == (stored(catalog), changes(svc, NOW))


def test_tallies_rebuilt_by_a_sweep_that_then_fails_stay_right_and_are_kept(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tallies commit on their own, before the sweep writes its flags (where they are
    rebuilt beside the loading; forced on SQLite here): derived data, valid as of the time
    and log position of their mark whether or not the sweep completes."""
    populate(engine, seed=7, n_actions=60)
    catalog = SqlCatalog(engine, station="t", actor="t")
    book = CaseBook(catalog)
    svc = DeadlineService(book, DEFAULT_POLICY, DeadlineSettings(display_tz=SH))

    def failing(*args: Any, **kwargs: Any) -> bool:
        raise DatabaseUnavailable("gone while writing the flags")

    monkeypatch.setattr(SweepRepo, "apply_sweep", failing)
    with pytest.raises(DatabaseUnavailable, match="writing the flags"):
        svc.sweep(NOW)
    monkeypatch.undo()
    kept = stored(catalog)
    assert kept and svc.last_sweep() is None  # no flag written, the tallies are there
    rebuilds = count_rebuilds(monkeypatch)
    later = NOW + timedelta(hours=1)
    assert svc.sweep(later).changes
    assert rebuilds == []  # brought up to date from the kept ones, not rebuilt
    refreshed = stored(catalog)
    cut = report_tallies.TallyCut(SH, DeadlineSettings().upload_deadline, full_action_types(DEFAULT_POLICY))
    with catalog.transaction() as s:
        REBUILD(s, later, cut)
    assert refreshed == stored(catalog)


def test_tallies_are_left_alone_by_a_dry_run_and_by_a_sweep_older_than_the_last(engine: Engine) -> None:
    populate(engine, seed=8, n_actions=40)
    catalog = SqlCatalog(engine, station="t", actor="t")
    book = CaseBook(catalog)
    svc = DeadlineService(book, DEFAULT_POLICY, DeadlineSettings(display_tz=SH))
    svc.sweep(NOW, dry_run=True)
    assert stored(catalog) == []  # a dry run writes nothing, tallies included
    svc.sweep(NOW)
    written = stored(catalog)
    with catalog.transaction() as s:
        s.execute(delete(ReportTallyRow))  # what a rebuild as of an earlier time would bring back
    earlier = NOW - timedelta(days=30)
    assert svc.sweep(earlier).dry_run  # as of the past: a dry run
    book.prepare_report(earlier, svc.limits)  # as apply_sweep: nothing, a later sweep was written
    assert stored(catalog) == [r for r in written if r[0] != "report_tallies"]
