"""Cases, ledger, links, deadline sweep and reports.

``cases import FILE``, ``case add|show|list``, ``ledger import|list``, ``link``,
``unlink``, ``links``, ``sweep [--now ISO]``, ``report [--year Y] [--json|--csv]``.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import sys
from datetime import datetime, tzinfo
from typing import Any

from recorder_sync.apps.config import Settings
from recorder_sync.apps.output import emit_json, printable, shown_times, table
from recorder_sync.apps.wiring import CasesRuntime, open_app, utcnow
from recorder_sync.domain.access_figures import FIGURES, access_total
from recorder_sync.domain.cases import ACTION_COLUMNS, Action, ActionQuery, Checkout
from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.linking import StoredLink
from recorder_sync.domain.reports import DIMENSIONS, GroupStats, Report, spreadsheet_cell
from recorder_sync.domain.timebounds import check_year
from recorder_sync.domain.times import display, parse_strict, utc_iso

# the times of a row that tables show in the station's zone (``--json`` keeps UTC)
_SPAN = ("start", "end")
_LINK_TIMES = ("created_at", "removed_at")


def _runtime(settings: Settings, *, alerts: bool = False) -> CasesRuntime:
    return open_app(settings, actor=f"recorder-sync cli ({_user()})").cases_runtime(alerts=alerts)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _time(text: str | None, option: str = "--now") -> datetime | None:
    if text is None:
        return None
    try:
        return parse_strict(text, plausible=True)
    except ValueError as e:
        raise UsageError(f"{option} {text!r}: {e}") from None


def _year(year: int | None) -> int | None:
    why = None if year is None else check_year(year)
    if why is not None:
        raise UsageError(f"--year {year}: {why}")
    return year


def action_json(a: Action) -> dict[str, Any]:
    d: dict[str, Any] = dict(a.as_record())
    d["officers"] = list(a.officers)
    d["start"], d["end"] = utc_iso(a.start), utc_iso(a.end)  # --json: one form in every command
    return d


def link_json(link: StoredLink) -> dict[str, Any]:
    return link.as_json()


def checkout_json(c: Checkout) -> dict[str, Any]:
    d: dict[str, Any] = dict(c.as_record())
    d["start"] = utc_iso(c.start)
    if c.end is not None:
        d["end"] = utc_iso(c.end)
    return d


def _import_report(args: argparse.Namespace, what: str, outcome: Any, run: Any) -> int:
    doc = {
        "added": list(outcome.added),
        "updated": list(outcome.updated),
        "unchanged": outcome.unchanged,
        "links_created": [link_json(link) for link in run.created],
    }
    if args.json:
        emit_json(doc)
    else:
        auto = sum(1 for link in run.created if link.confidence == "auto")
        print(
            f"{what}: {len(outcome.added)} added, {len(outcome.updated)} updated, "
            f"{outcome.unchanged} unchanged; "
            f"links: {auto} automatic, {len(run.created) - auto} suggested"
        )
    return 0


def cmd_cases_import(args: argparse.Namespace, settings: Settings) -> int:
    rt = _runtime(settings)
    outcome, run = rt.cases.import_actions(args.file, actor=f"cases import ({_user()})")
    return _import_report(args, "actions", outcome, run)


def cmd_ledger_import(args: argparse.Namespace, settings: Settings) -> int:
    rt = _runtime(settings)
    outcome, run = rt.cases.import_checkouts(args.file, actor=f"ledger import ({_user()})")
    return _import_report(args, "checkouts", outcome, run)


def cmd_case_add(args: argparse.Namespace, settings: Settings) -> int:
    rt = _runtime(settings)
    record = {c: getattr(args, c) for c in ACTION_COLUMNS if getattr(args, c) is not None}
    outcome, run = rt.cases.add_action(record, actor=f"case add ({_user()})")
    return _import_report(args, "actions", outcome, run)


def cmd_case_show(args: argparse.Namespace, settings: Settings) -> int:
    rt = _runtime(settings)
    actions = rt.cases.case(args.id)
    links = rt.book.links(action_ids=[a.action_id for a in actions], include_removed=True)
    doc = {
        "case_id": actions[0].case_id,
        "actions": [action_json(a) | {"history": rt.cases.history(a.action_id)} for a in actions],
        "links": [link_json(link) for link in links],
    }
    if args.json:
        emit_json(doc)
        return 0
    print(printable(f"case {doc['case_id']}"))
    zone = settings.deadlines.display_tz
    table(
        [shown_times(action_json(a) | {"officers": ";".join(a.officers)}, _SPAN, zone) for a in actions],
        ["action_id", "action_type", "unit", "officers", "start", "end", "target_name", "place"],
    )
    print("links:")
    table(
        [shown_times(link_json(link), _LINK_TIMES, zone) for link in links],
        ["recording_id", "action_id", "confidence", "basis", "officer", "created_by", "removed_at", "reason"],
    )
    return 0


def _query(args: argparse.Namespace) -> ActionQuery:
    return ActionQuery(
        case_id=args.case,
        officer=args.officer,
        device=args.device,
        target=args.target,
        action_id=getattr(args, "action", None),
    )


def cmd_case_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = [action_json(a) for a in _runtime(settings).cases.actions(_query(args))]
    if args.json:
        emit_json(rows)
    else:
        for row in rows:
            row["officers"] = ";".join(row["officers"])
            shown_times(row, _SPAN, settings.deadlines.display_tz)
        table(
            rows,
            [
                "case_id",
                "action_id",
                "action_type",
                "unit",
                "officers",
                "start",
                "end",
                "target_id",
                "target_name",
            ],
        )
    return 0


def cmd_ledger_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = [checkout_json(c) for c in _runtime(settings).cases.checkouts(args.device, args.officer)]
    if args.json:
        emit_json(rows)
    else:
        zone = settings.deadlines.display_tz
        table([shown_times(r, _SPAN, zone) for r in rows], ["device", "officer", "start", "end"])
    return 0


def cmd_link(args: argparse.Namespace, settings: Settings) -> int:
    rt = _runtime(settings)
    rec = rt.book.catalog.recording(args.recording).id
    link = rt.cases.link(rec, args.action, args.by, args.reason)
    if args.json:
        emit_json(link_json(link))
    else:
        line = f"linked {link.recording_id} ↔ {link.action_id} ({link.confidence}) by {link.created_by}"
        print(printable(line))
    return 0


def cmd_unlink(args: argparse.Namespace, settings: Settings) -> int:
    rt = _runtime(settings)
    rec = rt.book.catalog.recording(args.recording).id
    n = rt.cases.unlink(rec, args.action, args.by, args.reason)
    if args.json:
        emit_json({"removed": n})
    else:
        print(printable(f"unlinked {rec} ↔ {args.action} by {args.by}"))
    return 0


def cmd_links(args: argparse.Namespace, settings: Settings) -> int:
    rt = _runtime(settings)
    query = _query(args)
    if query == ActionQuery():
        links = rt.book.links(include_removed=args.all)
    else:
        links = rt.cases.links_for(query, include_removed=args.all)
    rows = [link_json(link) for link in links]
    if args.json:
        emit_json(rows)
    else:
        table(
            [shown_times(r, _LINK_TIMES, settings.deadlines.display_tz) for r in rows],
            [
                "recording_id",
                "action_id",
                "confidence",
                "basis",
                "officer",
                "created_by",
                "removed_at",
                "reason",
            ],
        )
    return 0


def cmd_sweep(args: argparse.Namespace, settings: Settings) -> int:
    rt = _runtime(settings, alerts=True)
    try:
        given = _time(args.now)
        last = rt.deadlines.last_sweep() if given is not None else None
        if given is not None and last is not None and given < last:
            # as of the past: list what it would do, write nothing (not even new links)
            run, result = None, rt.deadlines.sweep(given, full=args.full, dry_run=True)
        else:
            run = rt.cases.link_new_recordings()
            # a chosen --now is checked again when writing; the clock always writes
            result = rt.deadlines.sweep(given or utcnow(), full=args.full, dry_run=None if given else False)
    finally:
        rt.close()
    links = 0 if run is None else len(run.created)
    if args.json:
        emit_json(result.as_json() | {"links_created": links})
        return 0
    kind = "full" if result.full else "incremental"
    zone = settings.deadlines.display_tz
    if result.dry_run:
        last_text = display(result.last_sweep, zone) if result.last_sweep else "?"
        print(
            f"dry run: --now {display(result.now, zone)} is earlier than the last sweep ({last_text}); "
            "nothing written, no alerts sent. It would have:"
        )
    print(
        f"sweep as of {display(result.now, zone)} ({kind}, {result.seconds['total']:.3f} s): "
        f"{result.count('raised')} raised, "
        f"{result.count('resolved') + result.count('resolved-late')} resolved, "
        f"{result.count('escalated')} escalated; {links} new link(s)"
    )
    for change in result.changes:
        print(printable(f"  {change.change:<13} {change.severity:<8} {change.kind:<28} {change.subject}"))
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    rt = _runtime(settings)
    year, now = _year(args.year), _time(args.now) or utcnow()
    report = rt.reports.report(now, year=year)
    if args.json:
        emit_json(report.as_json())
    elif args.csv:
        _report_csv(report)
    else:
        _report_table(report, settings.deadlines.display_tz)
    return 0


def _row(g: GroupStats) -> dict[str, Any]:
    t = g.timeliness
    return {
        "dimension": g.dimension,
        "key": g.key,
        "recordings": t.recordings,
        "pct_within_deadline": t.pct_within,
        "median_delay_h": None if t.median_delay is None else round(t.median_delay.total_seconds() / 3600, 2),
        "worst_delay_h": None if t.worst_delay is None else round(t.worst_delay.total_seconds() / 3600, 2),
        "late": t.late,
        "late_flags": g.late_flags,
        "actions": g.actions,
        "full_actions": g.full_actions,
        "missing_footage": g.full_actions_missing_footage,
        "missing_rate_pct": g.missing_footage_rate,
        "coverage_gaps": g.actions_with_gaps,
    }


_REPORT_COLUMNS = [
    "dimension",
    "key",
    "recordings",
    "pct_within_deadline",
    "median_delay_h",
    "worst_delay_h",
    "late",
    "late_flags",
    "actions",
    "full_actions",
    "missing_footage",
    "missing_rate_pct",
    "coverage_gaps",
]


def _rows(report: Report) -> list[dict[str, Any]]:
    rows = [_row(report.total)]
    for dim in DIMENSIONS:
        rows.extend(_row(g) for g in report.groups.get(dim, ()))
    return rows


def _access_rows(report: Report) -> list[dict[str, Any]]:
    """The access figures per unit (the accessor's, from the roster), then their total."""
    units = [*report.access, access_total(report.access)]
    return [{"dimension": "total" if u is units[-1] else "unit", "key": u.unit, **u.figures()} for u in units]


def _report_csv(report: Report) -> None:
    """One table for a spreadsheet: the access figures are more columns of the total and
    unit rows (a unit that only accessed footage gets a row of its own)."""
    rows = _rows(report)
    by_key = {(r["dimension"], r["key"]): r for r in rows}
    for figures in _access_rows(report):
        row = by_key.get((figures["dimension"], figures["key"]))
        if row is None:
            rows.insert(
                max(i for i, r in enumerate(rows) if r["dimension"] in ("total", "unit")) + 1, figures
            )
        else:
            row.update(figures)
    w = csv.DictWriter(sys.stdout, fieldnames=[*_REPORT_COLUMNS, *FIGURES], lineterminator="\n")
    w.writeheader()
    w.writerows({k: spreadsheet_cell(v) for k, v in row.items()} for row in rows)


def _report_table(report: Report, zone: tzinfo) -> None:
    period = f"year {report.year}" if report.year else "all time"
    print(f"report for {period} ({report.tz}), as of {display(report.generated_at, zone)}")
    table(_rows(report), _REPORT_COLUMNS)
    print()
    print("access to footage per unit (the accessor's unit, from the roster):")
    table(_access_rows(report), ["key", *FIGURES])
