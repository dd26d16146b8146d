"""Cases, ledger, links, deadline sweep and reports.

``cases import FILE``, ``case add|show|list``, ``ledger import|list``, ``link``,
``unlink``, ``links``, ``sweep [--now ISO]``, ``report [--year Y] [--json|--csv]``.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from recorder_sync.apps.config import Settings
from recorder_sync.apps.output import emit_json, printable, table
from recorder_sync.apps.wiring import open_app, utcnow
from recorder_sync.apps.wiring_cases import CasesRuntime, cases_runtime
from recorder_sync.domain.cases import ACTION_COLUMNS, Action, Checkout, format_time, parse_time
from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.ports import ActionQuery, StoredLink
from recorder_sync.domain.reports import DIMENSIONS, GroupStats, Report


def register(sub: Any) -> None:
    p = sub.add_parser("cases", help="enforcement actions from the case-management system")
    csub = p.add_subparsers(dest="cases_command", required=True, metavar="ACTION")
    q = csub.add_parser("import", help="import actions from CSV or JSON (all or nothing)")
    q.add_argument("file", type=Path)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_cases_import)

    p = sub.add_parser("case", help="one enforcement action or case")
    csub = p.add_subparsers(dest="case_command", required=True, metavar="ACTION")
    q = csub.add_parser("add", help="add (or update) one action by hand")
    for column in ACTION_COLUMNS:
        required = column in ("case_id", "action_id", "action_type", "unit", "officers", "start", "end")
        q.add_argument(f"--{column.replace('_', '-')}", dest=column, required=required)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_case_add)
    q = csub.add_parser("show", help="a case (by case id or action id): actions, links, history")
    q.add_argument("id")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_case_show)
    q = csub.add_parser("list", help="actions")
    _query_args(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_case_list)

    p = sub.add_parser("ledger", help="device checkout ledger")
    lsub = p.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    q = lsub.add_parser("import", help="import checkouts from CSV or JSON (all or nothing)")
    q.add_argument("file", type=Path)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_ledger_import)
    q = lsub.add_parser("list", help="checkouts")
    q.add_argument("--device")
    q.add_argument("--officer")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_ledger_list)

    for name, func, verb in (("link", cmd_link, "link (or confirm)"), ("unlink", cmd_unlink, "unlink")):
        q = sub.add_parser(name, help=f"{verb} a recording and an action, with who and why")
        q.add_argument("recording")
        q.add_argument("action")
        q.add_argument("--by", required=True, help="who (name or officer number)")
        q.add_argument("--reason", required=True, help="why")
        q.add_argument("--json", action="store_true")
        q.set_defaults(func=func)

    q = sub.add_parser("links", help="recording ↔ action links")
    _query_args(q)
    q.add_argument("--action")
    q.add_argument("--all", action="store_true", help="include removed links")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_links)

    q = sub.add_parser("sweep", help="run the deadline engine once (raise, resolve, escalate flags)")
    q.add_argument("--now", help="as of this ISO 8601 time with offset (default: now)")
    q.add_argument("--full", action="store_true", help="re-evaluate everything, not only what changed")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_sweep)

    q = sub.add_parser("report", help="upload timeliness, missing footage, gaps; per unit/officer/type/month")
    q.add_argument("--year", type=int)
    q.add_argument("--now", help="as of this ISO 8601 time with offset (default: now)")
    fmt = q.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    q.set_defaults(func=cmd_report)


def _query_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--case")
    q.add_argument("--officer")
    q.add_argument("--device")
    q.add_argument("--target", help="party id or name")


def _runtime(settings: Settings, *, alerts: bool = False) -> CasesRuntime:
    app = open_app(settings, actor=f"recorder-sync cli ({_user()})")
    return cases_runtime(settings, app.catalog, alerts=alerts)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as e:
        raise UsageError(f"--now {text!r}: {e}") from None


def action_json(a: Action) -> dict[str, Any]:
    d: dict[str, Any] = dict(a.as_record())
    d["officers"] = list(a.officers)
    return d


def link_json(link: StoredLink) -> dict[str, Any]:
    return {
        "recording_id": link.recording_id,
        "action_id": link.action_id,
        "basis": link.basis,
        "confidence": link.confidence,
        "officer": link.officer,
        "created_by": link.created_by,
        "reason": link.reason,
        "created_at": format_time(link.created_at),
        "removed_at": format_time(link.removed_at) if link.removed_at else None,
        "removed_by": link.removed_by,
        "removed_reason": link.removed_reason,
    }


def checkout_json(c: Checkout) -> dict[str, Any]:
    return dict(c.as_record())


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
    table(
        [action_json(a) | {"officers": ";".join(a.officers)} for a in actions],
        ["action_id", "action_type", "unit", "officers", "start", "end", "target_name", "place"],
    )
    print("links:")
    table(
        [link_json(link) for link in links],
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
        table(rows, ["device", "officer", "start", "end"])
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
            rows,
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
        now = _time(args.now) or utcnow()
        run = rt.cases.link_new_recordings()
        result = rt.deadlines.sweep(now, full=args.full)
    finally:
        rt.close()
    if args.json:
        emit_json(result.as_json() | {"links_created": len(run.created)})
        return 0
    kind = "full" if result.full else "incremental"
    print(
        f"sweep as of {result.now.isoformat()} ({kind}, {result.seconds['total']:.3f} s): "
        f"{result.count('raised')} raised, "
        f"{result.count('resolved') + result.count('resolved-late')} resolved, "
        f"{result.count('escalated')} escalated; {len(run.created)} new link(s)"
    )
    for change in result.changes:
        print(printable(f"  {change.change:<13} {change.severity:<8} {change.kind:<28} {change.subject}"))
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    rt = _runtime(settings)
    report = rt.reports.report(_time(args.now) or utcnow(), year=args.year)
    if args.json:
        emit_json(report.as_json())
    elif args.csv:
        _report_csv(report)
    else:
        _report_table(report)
    return 0


def _row(g: GroupStats) -> dict[str, Any]:
    t = g.timeliness
    return {
        "dimension": g.dimension,
        "key": g.key,
        "recordings": t.recordings,
        "pct_within_24h": t.pct_within,
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
    "pct_within_24h",
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


def _report_csv(report: Report) -> None:
    w = csv.DictWriter(sys.stdout, fieldnames=_REPORT_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(_rows(report))


def _report_table(report: Report) -> None:
    period = f"year {report.year}" if report.year else "all time"
    print(f"report for {period} ({report.tz}), as of {report.generated_at.isoformat()}")
    table(_rows(report), _REPORT_COLUMNS)
