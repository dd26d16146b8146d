"""Cases, links and deadline sweeps on real SQLite and PostgreSQL, with times we choose.

Recordings are put into the catalog through its own transitions (observe, hash,
probe, verify) with the clock passed in, so upload times are exact; the CLI test
(tests/apps/test_cases_cli.py) runs the same rules on real ffmpeg media.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from recorder_sync.adapters.db.casebook import CaseBook
from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain.cases import Action, Checkout
from recorder_sync.domain.custody import EventKind, verify_chain
from recorder_sync.domain.errors import ImportRejected
from recorder_sync.domain.model import FileIdentity, Kind, ProbeResult, Sourced, StoredObject
from recorder_sync.domain.policy import DEFAULT_POLICY, DeadlineSettings
from recorder_sync.services.cases import CaseService
from recorder_sync.services.deadlines import DeadlineService, limits_for
from recorder_sync.services.reports import ReportService

SH = ZoneInfo("Asia/Shanghai")
SETTINGS = DeadlineSettings(display_tz=SH)


def sh(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH).astimezone(UTC)


class World:
    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog
        self.book = CaseBook(catalog)
        self.now = sh("2026-01-01T00:00:00")
        self.alerts: list[Mapping[str, Any]] = []
        self.cases = CaseService(self.book, DEFAULT_POLICY, SETTINGS, lambda: self.now)
        self.deadlines = DeadlineService(self.book, DEFAULT_POLICY, SETTINGS, self.alerts.append)
        self.reports = ReportService(self.book, DEFAULT_POLICY, SETTINGS)
        self.n = 0

    def recording(
        self,
        device: str,
        officer: str | None,
        start: datetime,
        end: datetime,
        ingested: datetime,
        verified: datetime | None = None,
    ) -> str:
        self.n += 1
        digest = hashlib.sha256(f"{device}{self.n}".encode()).hexdigest()
        ident = FileIdentity(size=100 + self.n, mtime_ns=self.n, inode=self.n, device=1)
        sighting = self.catalog.observe("dock", f"{device}_{self.n}.MP4", ident, ingested)
        rec, _ = self.catalog.attach_hash(
            sighting.id, sha256=digest, ident=ident, kind_hint=Kind.VIDEO, sidecar=None, now=ingested
        )
        meta = {"device": Sourced(device, "filename"), "start": Sourced(start, "sidecar")}
        meta["end"] = Sourced(end, "sidecar")
        if officer:
            meta["officer"] = Sourced(officer, "filename")
        self.catalog.record_probe(
            rec.id, ProbeResult(Kind.VIDEO, True, duration_ms=1000), meta, ingested, flag=None
        )
        if verified is not None:
            self.verify(rec.id, verified)
        return rec.id

    def verify(self, rid: str, at: datetime) -> None:
        self.catalog.record_verified(rid, StoredObject(key=rid, uri=f"file:///{rid}", size=1), at)

    def open_flags(self) -> set[tuple[str, str]]:
        return {(f.kind, f.subject) for f in self.catalog.flags(state="unresolved")}

    def sweep(self, now: datetime) -> set[tuple[str, str, str]]:
        self.now = now
        self.cases.link_new_recordings()
        result = self.deadlines.sweep(now)
        # an incremental sweep leaves exactly what a full one would
        assert self.deadlines.sweep(now, full=True).changes == (), "incremental sweep missed something"
        return {(c.change, c.kind, c.subject) for c in result.changes}


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield World(SqlCatalog(engine, station="st-test", actor="test"))
    engine.dispose()


def action(aid: str, kind: str, officers: str, start: str, end: str, case: str = "") -> Action:
    return Action(
        case or f"C-{aid}",
        aid,
        kind,
        "Unit 1",
        tuple(officers.split(";")),
        sh(start),
        sh(end),
        "P-1",
        "Party",
    )


def import_actions(world: World, tmp_path: Path, *actions: Action) -> None:
    lines = ["case_id,action_id,action_type,unit,officers,start,end,target_id,target_name,place"]
    lines += [",".join(a.as_record().values()) for a in actions]
    path = tmp_path / f"actions-{world.n}-{len(actions)}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    world.cases.import_actions(path, actor="test")


def test_midnight_and_shanghai_year_boundary(world: World, tmp_path: Path) -> None:
    # an impoundment across local midnight into the new year, filmed in full
    x = action("X", "impoundment", "007", "2026-12-31T23:50:00", "2027-01-01T00:10:00")
    # an inspection at 05:00 on 1 January in Shanghai: still 31 December in UTC
    y = action("Y", "inspection", "008", "2027-01-01T05:00:00", "2027-01-01T05:30:00")
    import_actions(world, tmp_path, x, y)
    rid = world.recording(
        "CAM7",
        "007",
        sh("2026-12-31T23:49:58"),
        sh("2027-01-01T00:10:03"),
        ingested=sh("2027-01-01T02:00:00"),
        verified=sh("2027-01-01T02:01:00"),
    )
    changes = world.sweep(sh("2027-01-03T00:00:00"))
    assert [(link.recording_id, link.action_id, link.confidence) for link in world.book.links()] == [
        (rid, "X", "auto")
    ]
    assert changes == {("raised", "footage-recommended-missing", "action:Y")}

    r2027 = world.reports.report(world.now, year=2027)
    assert r2027.total.actions == 2 and r2027.total.timeliness.recordings == 1
    assert [g.key for g in r2027.groups["month"]] == ["2027-01"]
    r2026 = world.reports.report(world.now, year=2026)
    assert r2026.total.actions == 0 and r2026.total.timeliness.recordings == 0


def test_at_risk_late_resolved_late_and_escalation(world: World, tmp_path: Path) -> None:
    end = sh("2026-03-02T10:00:00")
    rid = world.recording("CAM1", "001", end - timedelta(minutes=5), end, ingested=end + timedelta(hours=1))
    assert world.sweep(end + timedelta(hours=17)) == set()
    assert world.sweep(end + timedelta(hours=19)) == {("raised", "upload-at-risk", f"recording:{rid}")}
    assert world.sweep(end + timedelta(hours=25)) == {
        ("resolved", "upload-at-risk", f"recording:{rid}"),
        ("raised", "upload-late", f"recording:{rid}"),
    }
    # the recording turns out to belong to a seizure: the open flag is escalated
    world.now = end + timedelta(hours=26)
    import_actions(
        world, tmp_path, action("S", "seizure", "001", "2026-03-02T09:55:00", "2026-03-02T10:00:00")
    )
    assert world.sweep(end + timedelta(hours=26)) == {("escalated", "upload-late", f"recording:{rid}")}
    assert [a["change"] for a in world.alerts] == ["raised", "raised", "escalated"]
    assert world.alerts[-1]["severity"] == "critical"

    world.verify(rid, end + timedelta(hours=30))
    assert world.sweep(end + timedelta(hours=31)) == {("resolved-late", "upload-late", f"recording:{rid}")}
    states = {f.kind: f.state.value for f in world.catalog.flags()}
    assert states["upload-late"] == "resolved-late" and states["upload-at-risk"] == "resolved"
    report = world.reports.report(end + timedelta(days=2), year=2026)
    assert report.total.late_flags == 1 and report.total.timeliness.late_verified == 1
    verify_chain(world.catalog.events())


def test_ledger_attribution_ambiguity_and_manual_links(world: World, tmp_path: Path) -> None:
    # CAM2 was checked out to 002 and, overlapping by a mistake in the ledger, to 003
    world.book.upsert_checkouts(
        [
            Checkout("CAM2", "002", sh("2026-05-01T08:00:00"), sh("2026-05-01T12:00:00")),
            Checkout("CAM2", "003", sh("2026-05-01T11:00:00"), sh("2026-05-01T18:00:00")),
        ],
        sh("2026-05-01T07:00:00"),
        "test",
        "test",
    )
    a = action("A", "seizure", "002", "2026-05-01T09:00:00", "2026-05-01T09:10:00")
    b = action("B", "seizure", "003", "2026-05-01T11:30:00", "2026-05-01T11:40:00")
    import_actions(world, tmp_path, a, b)
    day = sh("2026-05-01T20:00:00")
    # no officer in the metadata: the ledger names 002 alone at 09:00, 002 and 003 at 11:30
    r1 = world.recording("CAM2", None, a.start, a.end, ingested=day, verified=day)
    r2 = world.recording("CAM2", None, b.start, b.end, ingested=day, verified=day)
    changes = world.sweep(sh("2026-05-03T00:00:00"))
    got = {(link.recording_id, link.action_id): link.confidence for link in world.book.links()}
    assert got == {(r1, "A"): "auto", (r2, "B"): "suggested"}
    assert changes == {("raised", "footage-missing", "action:B:officer:003")}

    world.now = sh("2026-05-03T01:00:00")
    world.cases.link(r2, "B", "supervisor 9", "checked the ledger: 003 wore CAM2")
    assert world.sweep(sh("2026-05-03T01:00:00")) == {("resolved", "footage-missing", "action:B:officer:003")}
    world.now = sh("2026-05-03T02:00:00")
    world.cases.unlink(r1, "A", "supervisor 9", "wrong action")
    assert world.sweep(sh("2026-05-03T02:00:00")) == {("raised", "footage-missing", "action:A:officer:002")}
    # an unlinked pair is not proposed again
    world.cases.relink([a])
    assert {(link.recording_id, link.action_id) for link in world.book.links()} == {(r2, "B")}
    events = [e.fields for e in world.catalog.events()]
    linked = [e for e in events if e["action"] in ("linked", "unlinked")]
    assert [(e["action"], e["actor"]) for e in linked][-2:] == [
        ("linked", "supervisor 9"),
        ("unlinked", "supervisor 9"),
    ]
    assert linked[-1]["reason"] == "wrong action"
    verify_chain(world.catalog.events())


def test_reimport_records_history_and_bad_files_import_nothing(world: World, tmp_path: Path) -> None:
    a = action("A", "seizure", "001", "2026-06-01T09:00:00", "2026-06-01T09:10:00")
    import_actions(world, tmp_path, a)
    moved = action("A", "seizure", "001;002", "2026-06-01T09:00:00", "2026-06-01T09:20:00")
    world.n += 1
    import_actions(world, tmp_path, moved)
    history = world.book.action_history("A")
    assert [h["version"] for h in history] == [1, 2]
    assert history[1]["record"]["officers"] == "001;002"
    bad = tmp_path / "bad.json"
    bad.write_text('[{"case_id": "C", "action_id": "Z", "action_type": "seizure"}, 5]', encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        world.cases.import_actions(bad, actor="test")
    assert len(info.value.problems) >= 5
    assert [x.action_id for x in world.cases.actions()] == ["A"]


def test_clock_evidence_corrects_times_and_is_named_in_the_flag(world: World, tmp_path: Path) -> None:
    # CAM9's clock ran 5 minutes ahead of the station's when it was docked
    docked = sh("2026-07-01T12:00:00")
    world.book.record_docking("CAM9", "dock", docked, docked + timedelta(minutes=5), "dock/clock.json")
    world.book.record_docking("CAM9", "dock", docked, docked + timedelta(minutes=5), "dock/clock.json")
    import_actions(
        world, tmp_path, action("K", "seizure", "009", "2026-07-01T10:00:00", "2026-07-01T10:10:00")
    )
    # camera times 10:05-10:13 are 10:00-10:08 on the station's clock
    world.recording(
        "CAM9",
        "009",
        sh("2026-07-01T10:05:00"),
        sh("2026-07-01T10:13:00"),
        ingested=docked + timedelta(minutes=1),
        verified=docked + timedelta(minutes=2),
    )
    assert world.sweep(sh("2026-07-03T00:00:00")) == {("raised", "coverage-gap", "action:K")}
    (gap,) = [f for f in world.catalog.flags() if f.kind == "coverage-gap"]
    assert "2026-07-01 10:08:00+08:00 to 2026-07-01 10:10:00+08:00 (2 min 0 s)" in gap.detail
    assert "camera clocks corrected" in gap.detail and "uncertain camera clocks" in gap.detail
    dockings = [e.fields for e in world.catalog.events() if e.fields["action"] == "docked"]
    assert len(dockings) == 1 and dockings[0]["details"]["clock_offset_ms"] == 300_000


def test_daemon_hook_reads_dock_clocks_links_and_sweeps(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import json
    import os

    from recorder_sync.apps import config
    from recorder_sync.apps.config import DockConfig
    from recorder_sync.apps.wiring import open_app

    settings = config.load(
        None, env={"RECORDER_SYNC_HOME": str(tmp_path), "RECORDER_SYNC_DATABASE_URL": db_url}
    )
    app = open_app(settings, actor="daemon")
    runtime = app.cases_runtime()
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "clock.json").write_text(json.dumps({"device": "CAM1", "camera_time": "2026-11-27T18:00:30"}))
    station = sh("2026-11-27T18:00:00").timestamp()
    os.utime(dock / "clock.json", (station, station))
    docks = [DockConfig("dock", dock)]
    assert runtime.read_dock_clocks(docks) == 1
    assert runtime.read_dock_clocks(docks) == 1  # recorded once: same device and time
    (dock / "clock.json").write_text("{not json")
    assert runtime.read_dock_clocks(docks) == 0
    # a year-1 camera clock would move every time it brings by two millennia: refused
    (dock / "clock.json").write_text(json.dumps({"device": "CAM1", "camera_time": "0001-01-01T00:00:00"}))
    assert runtime.read_dock_clocks(docks) == 0
    run, result = runtime.tick(sh("2026-11-28T00:00:00"))
    runtime.close()
    assert run.examined == 0 and result.full and result.changes == ()
    # a clock.json that is a link (to another file of the dock) or a pipe is not read, and said
    (dock / "clock.json").unlink()
    (dock / "other.json").write_text(json.dumps({"device": "CAM1", "camera_time": "2026-11-27T19:00:00"}))
    (dock / "clock.json").symlink_to("other.json")
    assert runtime.read_dock_clocks(docks) == 0
    (dock / "clock.json").unlink()
    os.mkfifo(dock / "clock.json")
    assert runtime.read_dock_clocks(docks) == 0  # returns: a pipe is never opened for reading
    warnings = [r.getMessage() for r in caplog.records if "clock.json" in r.getMessage()]
    assert any("symbolic link not followed" in w for w in warnings)
    assert any("not a regular file" in w for w in warnings)
    docked = [e.fields for e in app.catalog.events() if e.fields["action"] == "docked"]
    assert [d["details"]["clock_offset_ms"] for d in docked] == [30_000]


def test_camera_not_docked_until_its_footage_is_seen(world: World) -> None:
    out = Checkout("CAM8", "008", sh("2026-08-01T08:00:00"), sh("2026-08-01T18:00:00"))
    world.book.upsert_checkouts([out], sh("2026-08-01T07:00:00"), "test", "test")
    subject = "device:CAM8:checkout:20260801T000000Z"
    assert world.sweep(sh("2026-08-02T05:59:00")) == set()  # 12 h after the checkout: not yet
    assert world.sweep(sh("2026-08-02T06:00:00")) == {("raised", "camera-not-docked", subject)}
    # docked: its files are seen (hashed and probed) even before anything is stored
    rid = world.recording(
        "CAM8",
        "008",
        sh("2026-08-01T09:00:00"),
        sh("2026-08-01T09:05:00"),
        ingested=sh("2026-08-02T07:00:00"),
    )
    assert world.sweep(sh("2026-08-02T07:30:00")) == {
        ("resolved", "camera-not-docked", subject),
        ("raised", "upload-at-risk", f"recording:{rid}"),  # 09:05 + 24 h is less than 6 h away
    }
    (flag,) = [f for f in world.catalog.flags() if f.kind == "camera-not-docked"]
    assert "never docked" in flag.detail and flag.state.value == "resolved"


# --- report tallies ---------------------------------------------------------------------

FULL_TYPES = {k for k, p in DEFAULT_POLICY.items() if p.requirement.value == "full"}


def assert_same_report(
    world: World, now: datetime, years: tuple[int | None, ...] = (2025, 2026, 2027, None)
) -> None:
    """The report from the tallies equals the one computed from every row (medians to the
    histogram's resolution: 30 s when no delay reaches four days, else 30 min)."""

    def compare(fast: Any, live: Any, where: str) -> None:
        if isinstance(live, dict):
            assert isinstance(fast, dict) and fast.keys() == live.keys(), where
            for k in live:
                if k == "median_delay_s" and live[k] is not None:
                    resolution = 30 if live["worst_delay_s"] < 4 * 86400 else 1800
                    assert fast[k] is not None and abs(fast[k] - live[k]) <= resolution, f"{where}.{k}"
                elif k != "generated_at":
                    compare(fast[k], live[k], f"{where}.{k}")
        elif isinstance(live, list):
            assert isinstance(fast, list) and len(fast) == len(live), where
            for i, (f, x) in enumerate(zip(fast, live, strict=True)):
                compare(f, x, f"{where}[{i}]")
        else:
            assert fast == live, where

    for year in years:
        fast = world.reports.report(now, year=year).as_json()
        live = world.reports.report(now, year=year, live=True).as_json()
        compare(fast, live, f"report {year}")


def stored_tallies(world: World) -> list[tuple[Any, ...]]:
    from sqlalchemy import select

    from recorder_sync.adapters.db.schema import ReportActionRow, ReportRecordingRow, ReportTallyRow

    with world.catalog.transaction() as s:
        rows = [tuple(r) for r in s.execute(select(ReportTallyRow.__table__)).all()]
        rows += [tuple(r) for r in s.execute(select(ReportRecordingRow.__table__)).all()]
        rows += [tuple(r) for r in s.execute(select(ReportActionRow.__table__)).all()]
    return sorted(rows, key=repr)


def test_report_from_tallies_equals_the_live_report(world: World) -> None:
    import random

    rnd = random.Random(7)
    units, kinds = ["Unit 1", "Unit 2", "Unit 3"], ["seizure", "inspection", "other", "impoundment"]
    # actions around both new years in Shanghai (05:00 on 1 January is still 31 December in UTC)
    starts = ["2025-12-31T22:00:00", "2026-01-01T05:00:00", "2026-06-15T10:00:00", "2026-12-31T21:00:00"]
    actions = []
    for i in range(24):
        start = sh(starts[i % 4]) + timedelta(minutes=41 * (i // 4))
        officers = tuple(rnd.sample(["001", "002", "003", "004"], rnd.randint(1, 2)))
        end = start + timedelta(minutes=rnd.randint(10, 40))
        actions.append(Action(f"C{i // 3}", f"A{i}", kinds[i % 4], rnd.choice(units), officers, start, end))
    world.book.upsert_actions(actions, sh("2025-12-01T00:00:00"), "test", "test")
    recordings: list[tuple[str, datetime]] = []  # (id, end)
    for a in actions:
        for officer in a.officers:
            if rnd.random() < 0.15:
                continue  # footage missing
            ingested = a.end + timedelta(hours=rnd.choice([0.5, 3, 20, 30, 100]))
            verified = None if rnd.random() < 0.2 else ingested + timedelta(minutes=rnd.randint(1, 30))
            rid = world.recording(f"CAM{officer}", officer, a.start, a.end, ingested, verified)
            recordings.append((rid, a.end))
    # footage of no action, and footage across the local new year on a camera whose clock
    # turns out to be five minutes fast: corrected, it ends in 2026
    world.recording(
        "CAM009",
        "009",
        sh("2026-03-01T10:00:00"),
        sh("2026-03-01T10:20:00"),
        sh("2026-03-02T10:00:00"),
        sh("2026-03-02T10:05:00"),
    )
    fast_clock = world.recording(
        "CAMB",
        "005",
        sh("2027-01-01T00:00:00"),
        sh("2027-01-01T00:03:00"),
        sh("2027-01-01T01:00:00"),
        sh("2027-01-01T01:02:00"),
    )

    t1 = sh("2026-01-04T00:00:00")
    world.now = t1
    world.cases.link_new_recordings()
    assert world.book.report_aggregates(t1, 2026, None, None, SETTINGS, FULL_TYPES) is None  # no sweep yet
    before = world.reports.report(t1, year=2026)
    assert before.total.timeliness.recordings > 0 and before.total.actions > 0
    assert_same_report(world, t1)  # before any sweep: computed live

    world.deadlines.sweep(t1)  # the first sweep: full, builds the tallies
    assert world.book.report_aggregates(t1, 2026, None, None, SETTINGS, FULL_TYPES) is not None
    assert_same_report(world, t1)

    # between sweeps: a relink, an unlink, a late upload, a re-imported action and clock
    # evidence; the report brings the tallies up to date itself
    t2 = sh("2026-07-01T00:00:00")
    world.now = t2
    linked = {(link.recording_id, link.action_id) for link in world.book.links()}
    by_delay = sorted(
        (r for r in world.book.recordings_overlapping(sh("2025-12-30T00:00:00"), sh("2026-01-02T00:00:00"))),
        key=lambda r: (r.stored_verified_at - r.end) if r.stored_verified_at and r.end else timedelta(0),
    )
    worst = by_delay[-1]  # a month's worst delay is taken out of its groups
    was = {aid for rid, aid in linked if rid == worst.id}
    for aid in sorted(was):
        world.cases.unlink(worst.id, aid, "supervisor", "wrong action")
    assert worst.end is not None and was
    right = next(
        a
        for a in actions
        if abs(a.end - worst.end) < timedelta(hours=12)
        and a.unit not in {x.unit for x in actions if x.action_id in was}
    )
    world.cases.link(worst.id, right.action_id, "supervisor", "the right action")
    pending = [
        r
        for r in world.book.recordings_overlapping(sh("2025-12-01T00:00:00"), t2)
        if r.stored_verified_at is None
    ]
    assert pending
    world.verify(pending[0].id, t2 - timedelta(days=1))  # stored months late
    assert_same_report(world, t2)
    world.deadlines.sweep(t2)
    assert_same_report(world, t2)
    # an action re-imported with another unit and type moves its counted footage; a new
    # action is added to the counts
    t2 += timedelta(minutes=5)
    new = Action(
        "C-NEW", "NEW", "seizure", "Unit 4", ("001", "007"), t2 - timedelta(hours=3), t2 - timedelta(hours=2)
    )
    world.book.upsert_actions([new], t2, "test", "test")
    counted = {row[0] for row in stored_tallies(world)}
    now_linked = {(link.recording_id, link.action_id) for link in world.book.links()}
    moved = next(a for a in actions if any(p == (r, a.action_id) for r in counted for p in now_linked))
    world.book.upsert_actions(
        [dataclasses.replace(moved, unit="Unit 9", action_type="hearing")], t2, "test", "test"
    )
    world.deadlines.sweep(t2)
    assert_same_report(world, t2)

    t3 = sh("2027-01-03T00:00:00")
    world.now = t3
    world.deadlines.sweep(t3)
    assert [row[1] for row in stored_tallies(world) if row[0] == fast_clock] == ["2027-01"]
    world.book.record_docking(
        "CAMB", "dock", sh("2027-01-01T00:59:00"), sh("2027-01-01T01:04:00"), "clock.json"
    )
    for rid, _end in recordings[:3]:
        for aid in sorted(a for r, a in linked if r == rid):
            world.cases.unlink(rid, aid, "supervisor", "not this action")
    t3 += timedelta(minutes=5)
    world.deadlines.sweep(t3)
    assert_same_report(world, t3)
    # corrected by its clock evidence, the fast camera's recording ended in December 2026
    assert [row[1] for row in stored_tallies(world) if row[0] == fast_clock] == ["2026-12"]

    # what the incremental updates left is what a rebuild gives
    kept = stored_tallies(world)
    world.deadlines.sweep(t3, full=True)
    assert stored_tallies(world) == kept and kept

    # a report as of a time before the tallies is computed from the rows
    assert world.book.report_aggregates(t2, 2026, None, None, SETTINGS, FULL_TYPES) is None
    assert_same_report(world, t2, (2026,))


def test_rows_with_absurd_dates_stored_before_the_bounds_do_not_stop_the_engine(world: World) -> None:
    """A year-9999 action and recording written before imports and metadata were bounded
    (straight into the tables here): sweeps and reports still run and raise what is due."""
    far = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    demolition = action("D", "forced_demolition", "009", "2026-01-01T09:00:00", "2026-01-01T10:00:00")
    world.book.upsert_actions(
        [dataclasses.replace(demolition, action_id="F", end=far), demolition], world.now, "legacy", "test"
    )
    world.recording("CAM9", "009", sh("2026-01-01T09:00:00"), far, ingested=sh("2026-01-01T11:00:00"))
    changes = world.sweep(sh("2026-01-03T00:00:00"))
    assert ("raised", "footage-missing", "action:D:officer:009") in changes
    assert world.sweep(sh("2026-01-03T01:00:00")) == set()
    for live in (False, True):
        report = world.reports.report(sh("2026-01-03T02:00:00"), year=2026, live=live)
        assert report.total.actions == 1
        assert world.reports.report(sh("2026-01-03T02:00:00"), live=live).total.actions == 2


def late_flags(world: World) -> list[tuple[str | None, str]]:
    return sorted((f.recording_id, f.state.value) for f in world.catalog.flags() if f.kind == "upload-late")


def test_a_late_arrival_before_the_first_sweep_gets_exactly_one_late_flag(world: World) -> None:
    """One-shot ``ingest`` of a clip that ended 30 h ago, then the first ``sweep`` (full)."""
    ended = sh("2026-01-01T08:00:00")
    rid = world.recording("CAM1", "001", ended - timedelta(minutes=5), ended, ended + timedelta(hours=30))
    world.verify(rid, ended + timedelta(hours=30, minutes=5))
    on_time = world.recording(
        "CAM2", "002", ended, ended, ingested=ended + timedelta(hours=1), verified=ended + timedelta(hours=2)
    )
    changes = world.sweep(ended + timedelta(hours=31))
    assert changes == {
        ("raised", "upload-late", f"recording:{rid}"),
        ("resolved-late", "upload-late", f"recording:{rid}"),
    }
    assert late_flags(world) == [(rid, "resolved-late")]
    assert world.sweep(ended + timedelta(hours=32)) == set()
    assert late_flags(world) == [(rid, "resolved-late")]
    assert on_time not in {r for r, _ in late_flags(world)}


def test_a_late_arrival_verified_after_the_last_sweeps_time_is_still_seen(world: World) -> None:
    """The verification is written (custody log) before a sweep that runs as of an earlier
    time; the next sweep, past the verification time, must still count it late once."""
    ended = sh("2026-01-01T08:00:00")
    first = world.sweep(ended)  # the mark: a sweep before anything happened
    assert first == set()
    rid = world.recording("CAM1", "001", ended - timedelta(minutes=5), ended, ended + timedelta(hours=29))
    world.verify(rid, ended + timedelta(hours=30))
    # as of 29.5 h the recording is not verified yet: late, open
    assert world.sweep(ended + timedelta(hours=29, minutes=30)) == {
        ("raised", "upload-late", f"recording:{rid}")
    }
    # as of 31 h it is: the same flag resolves as late, no second one
    assert world.sweep(ended + timedelta(hours=31)) == {("resolved-late", "upload-late", f"recording:{rid}")}
    assert late_flags(world) == [(rid, "resolved-late")]


# --- sweeps as of the past and custody stamps (issue 7, item 11) -------------------------


def event_times(catalog: SqlCatalog) -> list[datetime]:
    return [datetime.fromisoformat(ev.fields["at"]) for ev in catalog.events()]


def test_a_sweep_as_of_a_time_before_the_last_sweep_is_a_dry_run(world: World) -> None:
    end = sh("2026-03-02T10:00:00")
    rid = world.recording("CAM1", "001", end - timedelta(minutes=5), end, ingested=end + timedelta(hours=1))
    assert world.sweep(end + timedelta(hours=25)) == {("raised", "upload-late", f"recording:{rid}")}
    flags_before, events_before, alerts_before = (
        world.catalog.flags(),
        world.catalog.events(),
        len(world.alerts),
    )
    mark = world.deadlines.last_sweep()

    past = world.deadlines.sweep(sh("2020-01-01T00:00:00"))
    assert past.dry_run and past.last_sweep == mark
    # it says what it would do: the late flag did not exist yet in 2020
    assert [(c.change, c.kind) for c in past.changes] == [("resolved-late", "upload-late")]
    assert world.catalog.flags() == flags_before
    assert world.catalog.events() == events_before
    assert len(world.alerts) == alerts_before
    assert world.deadlines.last_sweep() == mark
    assert past.as_json()["dry_run"] is True
    # the next real sweep finds nothing to raise again
    assert world.sweep(end + timedelta(hours=26)) == set()
    # dry_run=False (the daemon's clock) writes even so; dry_run=True never writes
    assert world.deadlines.sweep(end + timedelta(hours=27), dry_run=True).dry_run
    assert world.deadlines.last_sweep() == end + timedelta(hours=26)
    assert not world.deadlines.sweep(end + timedelta(hours=25), dry_run=False).dry_run
    assert world.deadlines.last_sweep() == end + timedelta(hours=25)


def test_custody_event_times_never_go_backwards_along_the_chain(world: World) -> None:
    """Sweeps as of a future time, then changes dated earlier (as a backdated ``--now``
    or a slow writer would): the events are stamped by the wall clock, in order."""
    end = sh("2026-03-02T10:00:00")
    rid = world.recording("CAM1", "001", end - timedelta(minutes=5), end, ingested=end + timedelta(hours=1))
    world.sweep(sh("2030-01-01T00:00:00"))  # raises upload-late: events dated 2030 before the fix
    world.verify(rid, end + timedelta(hours=2))
    world.deadlines.sweep(end + timedelta(hours=3), dry_run=False)
    times = event_times(world.catalog)
    assert len(times) > 5
    assert times == sorted(times)
    assert verify_chain(world.catalog.events()) == len(times)


def test_custody_stamps_stay_in_order_when_the_clock_steps_back(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    readings = iter([sh("2026-05-01T12:00:00"), sh("2026-05-01T11:00:00"), sh("2026-05-01T12:30:00")])
    catalog = SqlCatalog(engine, station="st-test", actor="test", clock=lambda: next(readings))
    for _ in range(3):
        with catalog.transaction() as s:
            catalog.append_event(s, EventKind.DOCKED, sh("2020-01-01T00:00:00"), subject="device:CAM1")
    assert event_times(catalog) == [sh("2026-05-01T12:00:00")] * 2 + [sh("2026-05-01T12:30:00")]
    engine.dispose()


def test_two_writers_build_one_chain_with_times_in_order(db_url: str) -> None:
    """Two processes' catalogs on one database append at once, each passing the time it
    read before waiting for the lock."""
    engines = [make_engine(db_url) for _ in range(2)]
    upgrade(engines[0])
    catalogs = [SqlCatalog(e, station=f"st-{n}", actor=f"writer {n}") for n, e in enumerate(engines)]
    start = threading.Barrier(2)

    def write(catalog: SqlCatalog) -> None:
        start.wait()
        for n in range(40):
            before = datetime.now(UTC) - timedelta(seconds=n % 3)  # read before the lock
            with catalog.transaction() as s:
                catalog.append_event(s, EventKind.DOCKED, before, subject=f"device:{catalog.station}")

    threads = [threading.Thread(target=write, args=(c,)) for c in catalogs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times = event_times(catalogs[0])
    assert len(times) == 80
    assert times == sorted(times)
    assert verify_chain(catalogs[0].events()) == 80
    for e in engines:
        e.dispose()


class _LoadedEarlier:
    """A repository whose sweep inputs were read before another sweep wrote its changes:
    two stations sweeping one database at the same moment."""

    def __init__(self, book: CaseBook, inputs: Any) -> None:
        self.book, self.inputs = book, inputs

    def sweep_inputs(self, *args: Any, **kwargs: Any) -> Any:
        return self.inputs

    def __getattr__(self, name: str) -> Any:
        return getattr(self.book, name)


def test_two_sweeps_at_once_record_a_late_arrival_once(world: World) -> None:
    ended = sh("2026-01-01T08:00:00")
    rid = world.recording("CAM1", "001", ended - timedelta(minutes=5), ended, ended + timedelta(hours=30))
    world.verify(rid, ended + timedelta(hours=30, minutes=5))
    now = ended + timedelta(hours=31)
    loaded = world.book.sweep_inputs(now, limits_for(DEFAULT_POLICY, SETTINGS))
    other = DeadlineService(_LoadedEarlier(world.book, loaded), DEFAULT_POLICY, SETTINGS)  # type: ignore[arg-type]
    world.deadlines.sweep(now)
    other.sweep(now)
    assert late_flags(world) == [(rid, "resolved-late")]


def test_two_stations_linking_one_pair_at_once_store_one_link(pg_url: str, tmp_path: Path) -> None:
    """Links have no unique key (removed ones stay beside the active one): two processes that
    both find a pair unlinked (a manual ``link`` and another's, or an import's linking run
    and the daemon's) stored it twice, with two ``linked`` events."""
    from pglocks import sessions_waiting_on_locks
    from sqlalchemy import text

    engines = [make_engine(pg_url) for _ in range(3)]
    upgrade(engines[0])
    world = World(SqlCatalog(engines[0], station="st-test", actor="test"))
    import_actions(
        world, tmp_path, action("L", "seizure", "001", "2026-06-01T09:00:00", "2026-06-01T09:10:00")
    )
    t = sh("2026-06-01T09:00:00")
    rid = world.recording("CAM1", None, t, t + timedelta(minutes=10), t + timedelta(hours=1))
    books = [
        CaseBook(SqlCatalog(e, station=f"st-{n}", actor=f"clerk {n}")) for n, e in enumerate(engines[1:])
    ]
    errors: list[BaseException] = []

    def link(book: CaseBook) -> None:
        try:
            book.link(rid, "L", "clerk", "seen on the footage", t + timedelta(hours=2))
        except BaseException as e:  # reported below, with the other thread's outcome
            errors.append(e)

    with engines[0].connect() as holder:
        me = {int(holder.execute(text("SELECT pg_backend_pid()")).scalar_one())}
        holder.rollback()
        with holder.begin():
            # both read that the pair is not linked, then wait to insert: the race, made certain
            holder.execute(text("LOCK TABLE links IN EXCLUSIVE MODE"))
            threads = [threading.Thread(target=link, args=(b,)) for b in books]
            for th in threads:
                th.start()
            while sessions_waiting_on_locks(pg_url, me) < 2:
                assert all(th.is_alive() for th in threads), errors
                time.sleep(0.02)
        for th in threads:
            th.join()
    assert errors == []
    active = [x for x in world.book.links(recording_ids=[rid]) if x.action_id == "L"]
    assert len(active) == 1
    linked = [e for e in world.catalog.events() if e.fields["action"] == "linked"]
    assert len(linked) == 1
    for e in engines:
        e.dispose()


def test_a_large_import_logs_one_event_per_action_in_file_order(world: World, tmp_path: Path) -> None:
    """The events go in runs (``EVENT_RUN``): across runs' edges, one each, in the file's order,
    one chain."""
    from recorder_sync.adapters.db.rows import EVENT_RUN

    day = datetime(2026, 3, 1, tzinfo=SH)
    many = [
        action(
            f"A{n:05d}",
            "inspection",
            "001",
            f"{day + timedelta(minutes=n):%Y-%m-%dT%H:%M:%S}",
            f"{day + timedelta(minutes=n + 1):%Y-%m-%dT%H:%M:%S}",
        )
        for n in reversed(range(2 * EVENT_RUN + 7))
    ]
    import_actions(world, tmp_path, *many)
    events = [e.fields for e in world.catalog.events() if e.fields["action"] == "action-imported"]
    assert [e["subject"] for e in events] == [f"action:{a.action_id}" for a in many]
    assert verify_chain(world.catalog.events()) == len(world.catalog.events())
