"""``legal-hold ID on|off --reason …``."""

from __future__ import annotations

import getpass
from typing import Any

from recorder_sync.apps.parsers import command


def register(sub: Any) -> None:
    p = sub.add_parser("legal-hold", help="set or release the S3 legal hold on a recording's stored copy")
    p.add_argument("id", help="recording id or SHA-256 (or a unique prefix)")
    p.add_argument("state", choices=["on", "off"])
    p.add_argument("--reason", required=True, help="why (recorded in the custody log)")
    p.add_argument("--by", default=getpass.getuser(), help="who asks for it (default: the login name)")
    p.set_defaults(func=command("hold_cmd", "cmd_hold"))
