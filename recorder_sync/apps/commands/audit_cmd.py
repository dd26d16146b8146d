"""``recorder-audit verify``: parse, run the checks, report (one line per problem, or JSON)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import platformdirs

from recorder_sync.adapters.db.audit_repo import EvidenceRecordsReader
from recorder_sync.adapters.db.engine import make_readonly_engine, open_schema
from recorder_sync.adapters.vault import Vault
from recorder_sync.apps import output
from recorder_sync.apps.config import Settings
from recorder_sync.apps.wiring import utcnow
from recorder_sync.domain.audit import AuditResult
from recorder_sync.domain.errors import DatabaseUnavailable, UsageError
from recorder_sync.domain.evidence_audit import Level
from recorder_sync.domain.ports import EvidenceReader, Progress
from recorder_sync.domain.times import parse_strict
from recorder_sync.domain.trust import TrustAnchors
from recorder_sync.services.evidence_audit import EvidenceAudit


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    trust = load_trust(args.trust)
    since = None
    if args.since:
        try:
            since = parse_strict(args.since)
        except ValueError as e:
            raise UsageError(f"--since {args.since!r}: {e}") from None
    if args.sample is not None and args.level != Level.SAMPLE.value:
        raise UsageError(
            f"--sample goes with --level sample (--level {args.level} re-hashes {_REHASHED[args.level]})"
        )
    state: Path = args.state or Path(platformdirs.user_state_dir("recorder-audit", appauthor=False))
    level = Level(args.level)
    result = AuditResult()
    try:
        engine = make_readonly_engine(settings.database_url)
        open_schema(engine, upgrade_old=False, create_empty=False)
    except DatabaseUnavailable as e:
        result.could_not_check("database", "catalog", str(e))
        return report(result, args.json)

    # ---- LOG CHECKS -------------------------------------------------------------------
    # Here the lead wires in the log half (logtree's ``audit_log(..., result=result)``):
    # the latest published checkpoint's signature and its consistency with the last one
    # this auditor verified (kept in ``state``), the chain re-hashed, and its Merkle root.
    # Until then only the evidence below is checked.
    del state
    # ------------------------------------------------------------------------------------

    audit = EvidenceAudit(
        records=EvidenceRecordsReader(engine),
        open_store=lambda: evidence_reader(settings),
        trust=trust,
        clock=utcnow,
        meter=_meter if level != Level.METADATA and sys.stderr.isatty() else None,
    )
    audit.run(result, level, sample=args.sample, since=since)
    return report(result, args.json)


_REHASHED = {Level.METADATA.value: "nothing", Level.FULL.value: "every object"}


def load_trust(path: Path) -> TrustAnchors:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"--trust {path}: {e.strerror or e}") from None
    return TrustAnchors.from_json(data, str(path))


def evidence_reader(settings: Settings) -> EvidenceReader:
    """The store, opened read-only: S3 with the auditor's credentials (its start-up check
    only reads), or the vault, which must exist (it is never created nor cleaned)."""
    if settings.s3 is not None:
        from recorder_sync.adapters.s3store import S3Store  # minio: only when S3 is configured

        # the station may trust the size and sha256 metadata (verify = "stat"); an audit re-reads
        store = S3Store(dataclasses.replace(settings.s3, verify="full"), clock=utcnow)
        store.check()
        return store
    return Vault(settings.vault_path, read_only=True)


def _meter(total: int) -> Progress:
    # an audit's many small objects add up to a long read: a meter whatever the total
    return output.ByteMeter("re-hash", "stored objects", total, min_total=1)


def report(result: AuditResult, as_json: bool) -> int:
    if as_json:
        output.emit_json(result.as_json())
        return result.exit_code
    for p in result.problems:
        print(output.printable(p.line()))
    for p in result.unchecked:
        print(output.printable(f"could not check: {p.line()}"))
    counts = ", ".join(f"{n} {what}" for what, n in sorted(result.checked.items())) or "nothing"
    verdict = {0: "everything verified", 3: f"{len(result.problems)} problem(s)", 4: "incomplete"}
    print(f"checked {counts}: {verdict[result.exit_code]}", file=sys.stderr)
    return result.exit_code
