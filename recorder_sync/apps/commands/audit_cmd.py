"""``recorder-audit verify``: parse, run the checks, report (one line per problem, or JSON);
``proof``, ``check-proof``, ``bundle`` and ``verify-bundle``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import platformdirs
from sqlalchemy import Engine

from recorder_sync.adapters.audit_state import StateFolder
from recorder_sync.adapters.db.audit_repo import EvidenceRecordsReader
from recorder_sync.adapters.db.derived_repo import DerivedRecordsReader
from recorder_sync.adapters.db.engine import make_readonly_engine, open_schema
from recorder_sync.adapters.db.log_repo import LogRepo
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.vault import Vault
from recorder_sync.apps import output
from recorder_sync.apps.config import Settings
from recorder_sync.apps.wiring import utcnow
from recorder_sync.domain.audit import AuditResult
from recorder_sync.domain.checkpoint import TlogProof
from recorder_sync.domain.errors import CouldNotCheck, DatabaseUnavailable, UsageError
from recorder_sync.domain.evidence_audit import Level
from recorder_sync.domain.ports import EvidenceReader, Progress
from recorder_sync.domain.times import parse_strict
from recorder_sync.domain.trust import TrustAnchors
from recorder_sync.services.derived_audit import DerivedAudit
from recorder_sync.services.evidence_audit import EvidenceAudit
from recorder_sync.services.log_audit import audit_log, check_proof, make_proof
from recorder_sync.services.timestamp_audit import audit_timestamps


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
        engine = readonly_engine(settings)
    except DatabaseUnavailable as e:
        result.could_not_check("database", "catalog", str(e))
        return report(result, args.json)

    # the store is opened once (S3: a bucket probe); when it cannot be, every check that
    # needs it says so, and the manifests are still checked against the database
    store: EvidenceReader | CouldNotCheck
    try:
        store = evidence_reader(settings)
    except CouldNotCheck as e:
        store = e

    def open_store() -> EvidenceReader:
        if isinstance(store, CouldNotCheck):
            raise store
        return store

    # the log first: checkpoints against the trust anchors' log keys, every event re-hashed,
    # the tree rebuilt, and the last checkpoint this auditor verified (``state``)
    if isinstance(store, CouldNotCheck):
        result.could_not_check("log", "store", str(store))
    else:
        log = audited_log(engine, settings)
        audit_log(log, store, trust, StateFolder(state), result)
        audit_timestamps(log, store, trust, result)

    audit = EvidenceAudit(
        records=EvidenceRecordsReader(engine),
        open_store=open_store,
        trust=trust,
        clock=utcnow,
        meter=_meter if level != Level.METADATA and sys.stderr.isatty() else None,
    )
    audit.run(result, level, sample=args.sample, since=since)
    # derived material last: a source that did not verify above makes its derived files' problem
    derived = DerivedAudit(
        records=DerivedRecordsReader(engine), open_store=open_store, trust=trust, clock=utcnow
    )
    derived.run(result, level, sample=args.sample)
    return report(result, args.json)


_REHASHED = {Level.METADATA.value: "nothing", Level.FULL.value: "every object"}


def readonly_engine(settings: Settings) -> Engine:
    """The station's database as the auditor opens it: read-only, never migrated or created."""
    engine = make_readonly_engine(settings.database_url)
    open_schema(engine, upgrade_old=False, create_empty=False)
    return engine


def audited_log(engine: Engine, settings: Settings) -> LogRepo:
    """The custody log as the auditor reads it, through the read-only engine."""
    return LogRepo(SqlCatalog(engine, station=settings.station_id, actor="recorder-audit"))


def cmd_proof(args: argparse.Namespace, settings: Settings) -> int:
    """A C2SP tlog-proof of the recording's ``signed`` event to the latest published
    checkpoint (checked against ``--trust`` before it is handed out), and the event's bytes."""
    trust = load_trust(args.trust)
    engine = readonly_engine(settings)
    catalog = SqlCatalog(engine, station=settings.station_id, actor="recorder-audit")
    rec = catalog.recording(args.recording)
    proof = make_proof(LogRepo(catalog), evidence_reader(settings), trust, rec.id)
    event = TlogProof.parse(proof).extra or b""
    args.out.write_bytes(proof)
    event_out = args.out.with_name(args.out.name + ".event.json")
    event_out.write_bytes(event)
    print(f"wrote {args.out} (proof) and {event_out} (the signed event of {rec.id}, as logged)")
    return 0


def cmd_check_proof(args: argparse.Namespace, settings: Settings) -> int:
    """Check a proof with the trust anchors alone: no database, no store."""
    del settings
    trust = load_trust(args.trust)
    try:
        proof, event = args.proof.read_bytes(), args.event.read_bytes()
    except OSError as e:
        raise UsageError(f"{e.filename}: {e.strerror or e}") from None
    checkpoint = check_proof(proof, trust, event)
    print(f"verified: the event is leaf {TlogProof.parse(proof).index} of {checkpoint.origin}, "
          f"in its signed checkpoint of {checkpoint.size} events")  # fmt: skip
    return 0


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


def cmd_bundle(args: argparse.Namespace, settings: Settings) -> int:
    """An evidence bundle: read through the read-only engine; the ``exported`` event alone
    goes through a read-write one, opened only when everything is gathered."""
    from recorder_sync.adapters.bundle_out import FolderTarget, TarTarget
    from recorder_sync.adapters.db.bundle_repo import BundleRepo
    from recorder_sync.adapters.db.engine import make_engine
    from recorder_sync.apps.commands.replay_cmd import actor
    from recorder_sync.services.bundles import BundleService, Selection
    from recorder_sync.standalone import verify_bundle

    trust = load_trust(args.trust)
    # the TSA's chain for a recipient: given, or the roots the auditor already trusts
    tsa_chain = b"".join(trust.tsa_roots) or None
    if args.tsa_certs is not None:
        try:
            tsa_chain = args.tsa_certs.read_bytes()
        except OSError as e:
            raise UsageError(f"--tsa-certs {args.tsa_certs}: {e.strerror or e}") from None
    who = actor()
    engine = readonly_engine(settings)
    catalog = SqlCatalog(engine, station=settings.station_id, actor=who)

    def access_log() -> SqlCatalog:
        return SqlCatalog(make_engine(settings.database_url), station=settings.station_id, actor=who)

    service = BundleService(
        source=BundleRepo(catalog),
        log=LogRepo(catalog),
        store=evidence_reader(settings),
        trust=trust,
        clock=utcnow,
        actor=who,
        open_access_log=access_log,
        standalone=Path(verify_bundle.__file__).read_bytes(),
        tsa_chain=tsa_chain,
    )
    selection = Selection(args.case, args.action, tuple(args.recording or ()))
    target = TarTarget(args.out) if args.tar else FolderTarget(args.out)
    made = service.build(selection, args.reason, target)
    gaps = [r for r in made.recordings if r.missing is not None]
    print(
        f"wrote {made.path}: {len(made.recordings) - len(gaps)} recording(s), {made.events} custody "
        f"events proven to the checkpoint of {made.checkpoint_size}; logged as custody event "
        f"{made.event_seq} (SHA256SUMS sha256 {made.sums_sha256})"
    )
    for r in gaps:
        print(output.printable(f"not included: {r.id}: {r.missing}"), file=sys.stderr)
    return 0


def cmd_verify_bundle(args: argparse.Namespace, settings: Settings) -> int:
    """The bundle's own checks, run from the package (the same code as its verify_bundle.py)."""
    del settings
    from recorder_sync.standalone import verify_bundle

    if not args.dir.is_dir():
        raise UsageError(f"{args.dir}: not a folder (unpack a .tar bundle first)")
    return verify_bundle.verify(args.dir.resolve(), lambda line: print(output.printable(line)))
