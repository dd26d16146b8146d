"""Cases, ledger, links, deadline sweep and reports: ``cases``, ``case``, ``ledger``, ``link``,
``unlink``, ``links``, ``sweep``, ``report``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recorder_sync.apps.parsers import command
from recorder_sync.domain.cases import ACTION_COLUMNS


def register(sub: Any) -> None:
    p = sub.add_parser("cases", help="enforcement actions from the case-management system")
    csub = p.add_subparsers(dest="cases_command", required=True, metavar="ACTION")
    q = csub.add_parser("import", help="import actions from CSV or JSON (all or nothing)")
    q.add_argument("file", type=Path)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=command("cases_cmd", "cmd_cases_import"))

    p = sub.add_parser("case", help="one enforcement action or case")
    csub = p.add_subparsers(dest="case_command", required=True, metavar="ACTION")
    q = csub.add_parser("add", help="add (or update) one action by hand")
    for column in ACTION_COLUMNS:
        required = column in ("case_id", "action_id", "action_type", "unit", "officers", "start", "end")
        q.add_argument(f"--{column.replace('_', '-')}", dest=column, required=required)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=command("cases_cmd", "cmd_case_add"))
    q = csub.add_parser("show", help="a case (by case id or action id): actions, links, history")
    q.add_argument("id")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=command("cases_cmd", "cmd_case_show"))
    q = csub.add_parser("list", help="actions")
    _query_args(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=command("cases_cmd", "cmd_case_list"))

    p = sub.add_parser("ledger", help="device checkout ledger")
    lsub = p.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    q = lsub.add_parser("import", help="import checkouts from CSV or JSON (all or nothing)")
    q.add_argument("file", type=Path)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=command("cases_cmd", "cmd_ledger_import"))
    q = lsub.add_parser("list", help="checkouts")
    q.add_argument("--device")
    q.add_argument("--officer")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=command("cases_cmd", "cmd_ledger_list"))

    for name, func, verb in (("link", "cmd_link", "link (or confirm)"), ("unlink", "cmd_unlink", "unlink")):
        q = sub.add_parser(name, help=f"{verb} a recording and an action, with who and why")
        q.add_argument("recording")
        q.add_argument("action")
        q.add_argument("--by", required=True, help="who (name or officer number)")
        q.add_argument("--reason", required=True, help="why")
        q.add_argument("--json", action="store_true")
        q.set_defaults(func=command("cases_cmd", func))

    q = sub.add_parser("links", help="recording ↔ action links")
    _query_args(q)
    q.add_argument("--action")
    q.add_argument("--all", action="store_true", help="include removed links")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=command("cases_cmd", "cmd_links"))

    q = sub.add_parser("sweep", help="run the deadline engine once (raise, resolve, escalate flags)")
    q.add_argument("--now", help="as of this ISO 8601 time with offset (default: now)")
    q.add_argument("--full", action="store_true", help="re-evaluate everything, not only what changed")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=command("cases_cmd", "cmd_sweep"))

    q = sub.add_parser("report", help="upload timeliness, missing footage, gaps; per unit/officer/type/month")
    q.add_argument("--year", type=int)
    q.add_argument("--now", help="as of this ISO 8601 time with offset (default: now)")
    fmt = q.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    q.set_defaults(func=command("cases_cmd", "cmd_report"))


def _query_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--case")
    q.add_argument("--officer")
    q.add_argument("--device")
    q.add_argument("--target", help="party id or name")
