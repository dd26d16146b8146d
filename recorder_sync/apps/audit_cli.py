"""``recorder-audit``: the auditor's own command, for a person with other rights than the
station's operator: no private key, read-only access to the database and the store, and
trust anchors obtained out of band (``--trust``).

It reads the same configuration as ``recorder-sync`` (``--config``, ``RECORDER_SYNC_*``,
``RECORDER_SYNC_HOME``) and shares its ``main`` (signals, exit codes); it never writes to
the database or the store.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from recorder_sync.apps.cli import exit_with, run, script_parser
from recorder_sync.apps.parsers import command
from recorder_sync.domain.errors import EXIT_BROKEN_PIPE, EXIT_BUG, EXIT_DONE, EXIT_INTERRUPTED
from recorder_sync.domain.evidence_audit import Level

# what recorder-audit can end with; the rest of recorder-sync's codes are ingest's
_CODES = (EXIT_DONE, 2, 3, 4, EXIT_BUG, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of objects, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 object, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(
        "recorder-audit",
        "Verify recorder-sync's evidence as an auditor: with your own trust anchors, "
        "read-only, without trusting the station or its database.",
        _CODES,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verify = sub.add_parser(
        "verify",
        help="check the manifests, the stored objects and the custody log; one line per problem",
        description="Exit 0: everything verified; 3: something did not (one line per problem: "
        "check, subject, reason); 4: something could not be checked (store or database down).",
    )
    verify.add_argument(
        "--trust", type=Path, required=True, help="trust anchors (recorder-sync keys export-trust)"
    )
    verify.add_argument(
        "--level",
        choices=[lv.value for lv in Level],
        default=Level.SAMPLE.value,
        help="metadata: every object's existence, size, version and lock; sample (default): "
        "and re-hash a random sample; full: and re-hash every object",
    )
    verify.add_argument(
        "--sample",
        type=_count,
        metavar="N",
        help="how many objects --level sample re-hashes (default 1 %%, at least 10)",
    )
    verify.add_argument("--since", metavar="ISO", help="only recordings signed since then (with UTC offset)")
    verify.add_argument("--json", action="store_true", help="{ok, checked, problems, unchecked} as JSON")
    verify.add_argument(
        "--state",
        type=Path,
        metavar="DIR",
        help="this auditor's own state (the last checkpoint verified); default: the per-user state folder",
    )
    verify.set_defaults(func=command("audit_cmd", "cmd_verify"))
    trust_help = "trust anchors (recorder-sync keys export-trust)"
    proof = sub.add_parser(
        "proof",
        help="write a C2SP tlog-proof that a recording's signed event is in the signed log",
        description="Writes FILE (the proof, to the latest published checkpoint) and "
        "FILE.event.json (the event's exact bytes); check them with check-proof, anywhere.",
    )
    proof.add_argument("recording", metavar="REC", help="recording id or SHA-256 (or a unique prefix)")
    proof.add_argument("--out", type=Path, required=True, metavar="FILE")
    proof.add_argument("--trust", type=Path, required=True, help=trust_help)
    proof.set_defaults(func=command("audit_cmd", "cmd_proof"))
    check = sub.add_parser(
        "check-proof",
        help="verify a proof with the trust anchors alone (no database, no store)",
        description="Exit 0 when the event is in a log signed by a trusted log key; 3 when not.",
    )
    check.add_argument("proof", type=Path, metavar="FILE")
    check.add_argument("--event", type=Path, required=True, metavar="EVENT.json", help="the event's bytes")
    check.add_argument("--trust", type=Path, required=True, help=trust_help)
    check.set_defaults(func=command("audit_cmd", "cmd_check_proof"))
    bundle = sub.add_parser(
        "bundle",
        help="write an offline evidence bundle of a case, an action or recordings (logged as an export)",
        description="Writes the original media and sidecars, signed manifests, public keys, custody "
        "events with inclusion proofs to the latest published checkpoint, case.json, SHA256SUMS, "
        "VERIFY.md and verify_bundle.py. A stored copy that does not verify is left out and "
        "case.json says why. The one command of recorder-audit that writes the database: an "
        "'exported' custody event (who, why, which recordings, the SHA-256 of SHA256SUMS), through "
        "a read-write connection opened for it alone, before the first byte is written out. "
        "Exit 0: written; 3: a copy changed while copied (nothing is left); 6: not found.",
    )
    what = bundle.add_mutually_exclusive_group(required=True)
    what.add_argument("--case", metavar="C", help="every recording linked to the case's actions")
    what.add_argument("--action", metavar="A", help="every recording linked to the action")
    what.add_argument(
        "--recording", nargs="+", metavar="REC", help="recordings by id or SHA-256 (or a unique prefix)"
    )
    bundle.add_argument("--out", type=Path, required=True, metavar="DIR", help="a new (or empty) folder")
    bundle.add_argument("--tar", action="store_true", help="write --out as one .tar file instead of a folder")
    bundle.add_argument("--trust", type=Path, required=True, help=trust_help)
    bundle.add_argument("--reason", required=True, metavar="WHY", help="why (kept in the custody log)")
    bundle.add_argument(
        "--tsa-certs",
        type=Path,
        metavar="PEM",
        help="the time-stamping authority's certificate chain, copied beside the checkpoint's token",
    )
    bundle.set_defaults(func=command("audit_cmd", "cmd_bundle"))
    vb = sub.add_parser(
        "verify-bundle",
        help="check an evidence bundle (the same checks as its verify_bundle.py)",
        description="Exit 0 when every check verifies, 3 naming the first that does not, "
        "2 when the folder is not a bundle.",
    )
    vb.add_argument("dir", type=Path, metavar="DIR")
    vb.set_defaults(func=command("audit_cmd", "cmd_verify_bundle"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser, argv)


def console() -> NoReturn:
    """The ``recorder-audit`` console script."""
    exit_with(main())


if __name__ == "__main__":
    console()
