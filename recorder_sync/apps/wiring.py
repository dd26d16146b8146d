"""Composition: the one place that builds adapters from settings and hands them to services.

Every command opens the database with ``open_app``; only ``db upgrade`` and the daemon's
start upgrade an old schema. The daemon that leads among those sharing the database calls
``CasesRuntime.tick(now)`` every ``run --sweep-seconds`` from the leader's loop
(``services.leader``): it links recordings probed since the last tick, then runs one
deadline sweep.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from recorder_sync import __version__
from recorder_sync.adapters.alerts import AlertDispatcher
from recorder_sync.adapters.db.engine import make_engine, open_schema
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.dockfs import DockFolder, place
from recorder_sync.adapters.docklock import DockLocks
from recorder_sync.adapters.probe import FfprobeProber
from recorder_sync.adapters.vault import Vault
from recorder_sync.apps.config import DockConfig, Settings
from recorder_sync.domain.clock import CLOCK_FILE, parse_clock_file
from recorder_sync.domain.errors import DockOverlap, Error, StorageUnavailable, UnsafePath, UsageError
from recorder_sync.domain.places import dock_overlaps
from recorder_sync.domain.ports import LegalHolds, ObjectStore, Signer
from recorder_sync.services.ingest import Dock, IngestService, Meter, Notify

if TYPE_CHECKING:
    from recorder_sync.adapters.db.casebook import CaseBook
    from recorder_sync.adapters.keys import FileSigner
    from recorder_sync.adapters.s3store import S3Store
    from recorder_sync.services.cases import CaseService, LinkRun
    from recorder_sync.services.checkpoints import CheckpointService
    from recorder_sync.services.deadlines import DeadlineService, SweepResult
    from recorder_sync.services.reports import ReportService
    from recorder_sync.services.timestamps import TimestampService

log = logging.getLogger(__name__)
SOFTWARE = f"recorder_sync {__version__}"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    settings: Settings
    catalog: SqlCatalog

    def store(self) -> ObjectStore:
        if self.settings.s3 is not None:
            store = s3_store(self.settings)
            try:
                store.open_bucket()
            except StorageUnavailable as e:
                # keep hashing and signing locally; the store opens itself on the first upload
                log.warning("%s; uploads wait and retry", e)
            return store
        return Vault(self.settings.vault_path)

    def signer(self) -> Signer:
        """The station key. A key is created only while the station has signed nothing:
        after that, a missing or different key stops ingest (exit 5) until an operator
        runs ``keys init --replace``. With ``[keys] pkcs11_module`` it lives in a token and
        is made only by ``keys init``."""
        from recorder_sync.adapters import keys  # cryptography: only the commands that sign
        from recorder_sync.domain.signatures import check_station_key

        if self.settings.pkcs11 is not None:
            from recorder_sync.adapters import pkcs11_key

            token = self.settings.pkcs11
            signs_with = self.catalog.station_key()
            if not pkcs11_key.key_present(token):
                check_station_key(signs_with, None, f"key {token.label!r} in PKCS#11 token {token.token!r}")
                return pkcs11_key.create_key(token)  # the station has signed nothing yet
            token_key = pkcs11_key.Pkcs11Signer(token)
            check_station_key(
                signs_with, token_key.key_id, f"key {token.label!r} in PKCS#11 token {token.token!r}"
            )
            self._check_not_revoked(signs_with)
            return token_key
        path = self.settings.key_path
        found = keys.load_if_present(path)
        signs_with = self.catalog.station_key()
        check_station_key(signs_with, found.key_id if found else None, str(path))
        self._check_not_revoked(signs_with)
        return found or keys.load_or_create(path)

    def _check_not_revoked(self, signs_with: str | None) -> None:
        """A revoked key signs nothing more, even before its revocation time (at most a minute
        ahead): whatever it signed would not verify."""
        from recorder_sync.domain.errors import KeyRevoked
        from recorder_sync.domain.times import utc_iso

        revoked = self.catalog.key_revocation(signs_with) if signs_with else None
        if revoked is not None:
            raise KeyRevoked(signs_with, utc_iso(revoked[0]), revoked[1])

    def ingest_service(
        self, docks: list[DockConfig], notify: Notify | None = None, meter: Meter | None = None
    ) -> IngestService:
        check_docks(self.settings, docks)
        signer = self.signer()
        return IngestService(
            catalog=self.catalog,
            store=self.store(),
            signer=signer,
            prober=FfprobeProber(),
            docks={d.name: make_dock(self.settings, d) for d in docks},
            station=self.settings.station_id,
            release_policy=self.settings.release_policy,
            clock=utcnow,
            software=SOFTWARE,
            retention_class=self.settings.s3.default_retention_class if self.settings.s3 else None,
            notify=notify,
            meter=meter,
            workers=self.settings.workers,
            claim_seconds=self.settings.claim_seconds,
            reload_signer=self.signer,
        )

    def checkpoints(self, store: ObjectStore | None = None, *, create_key: bool = True) -> CheckpointService:
        """The log's checkpoints. Where this station signs (``[log] sign``, the default) its
        log key is read, or created like the station key on first use (``create_key``; a
        running daemon that reads its keys again only reads them)."""
        from recorder_sync.adapters import keys
        from recorder_sync.adapters.db.log_repo import LogRepo
        from recorder_sync.domain.checkpoint import NoteKey
        from recorder_sync.services.checkpoints import CheckpointService

        ls = self.settings.log
        key, sign = None, None
        cosigner: tuple[NoteKey, Callable[[bytes], bytes]] | None = None
        cosigned: Callable[[], None] | None = None
        earlier: tuple[NoteKey, ...] = ()
        if ls.sign:
            signer = keys.load_or_create(ls.key_path) if create_key else keys.load_key(ls.key_path)
            key, sign = NoteKey(ls.origin, signer.public_raw()), self._registering(signer)
            earlier = tuple(
                NoteKey(ls.origin, k.public_raw)
                for k in self.catalog.log_keys(ls.origin)
                if k.key_id != signer.key_id
            )
            previous_path = keys.previous_key_path(ls.key_path)
            previous = keys.load_if_present(previous_path)
            if previous is not None:
                # keys rotate --log: the next checkpoint is signed by both keys, then the old one goes
                cosigner = (NoteKey(ls.origin, previous.public_raw()), previous.sign)
                earlier = (*earlier, cosigner[0])
                cosigned = functools.partial(keys.destroy_key_file, previous_path)

        return CheckpointService(
            LogRepo(self.catalog),
            store or self.store(),
            ls.origin,
            key=key,
            sign=sign,
            clock=utcnow,
            retention_class=self.settings.s3.default_retention_class if self.settings.s3 else None,
            earlier_keys=earlier,
            cosigner=cosigner,
            cosigned=cosigned,
        )

    def _registering(self, signer: FileSigner) -> Callable[[bytes], bytes]:
        """``signer.sign``, which first checks in the database that the log key may sign now
        (registering the origin's first key): a log key signs nothing that ``keys
        export-trust`` would not hand to the auditors, nor after its window ended."""

        def sign(data: bytes) -> bytes:
            ls = self.settings.log
            self.catalog.register_log_key(ls.origin, signer.key_id, signer.public_raw(), utcnow())
            return signer.sign(data)

        return sign

    def timestamps(self, store: ObjectStore) -> TimestampService | None:
        """Tokens over the published checkpoints, when ``[timestamping] tsa_url`` is set."""
        ts = self.settings.timestamping
        if ts is None:
            return None
        from recorder_sync.adapters.db.log_repo import LogRepo
        from recorder_sync.adapters.tsa import TsaClient  # rfc3161-client: only where tokens are made
        from recorder_sync.domain.errors import ConfigError, TimestampInvalid
        from recorder_sync.domain.timestamps import load_roots
        from recorder_sync.services.timestamps import TimestampService

        try:
            roots = load_roots(ts.tsa_certs.read_bytes())
        except (OSError, TimestampInvalid) as e:
            raise ConfigError(self.settings.source, "timestamping.tsa_certs", str(e)) from None
        return TimestampService(
            LogRepo(self.catalog),
            store,
            self.settings.log.origin,
            TsaClient(ts.tsa_url, roots, ts.timeout_seconds),
            clock=utcnow,
            retention_class=self.settings.s3.default_retention_class if self.settings.s3 else None,
        )

    def cases_runtime(self, *, alerts: bool = True) -> CasesRuntime:
        return cases_runtime(self.settings, self.catalog, alerts=alerts)


def check_log(checkpoints: CheckpointService) -> None:
    """The start-up comparison with the published checkpoints. A store that cannot be read
    now does not keep the station from hashing and signing locally: the comparison is made
    again before every checkpoint is signed, and stops the station then if it fails."""
    from recorder_sync.domain.errors import CouldNotCheck

    try:
        checkpoints.check()
    except CouldNotCheck as e:
        log.warning("cannot compare the custody log with its published checkpoints now: %s", e)


def publish_checkpoint(
    checkpoints: Callable[[], CheckpointService], stamps: TimestampService | None = None
) -> None:
    """A checkpoint of the log as it is now, by the service ``checkpoints`` gives now (a
    daemon reads its log keys again each time: ``keys rotate --log`` while it runs). Only a
    log that does not extend the published one stops the caller (exit 3); a store that
    cannot take it now, or a key that may not sign, gets the next one. Then the tokens of the
    checkpoints that have none (``stamps``): an authority that is down only delays them to
    the next call."""
    from recorder_sync.domain.errors import LogRolledBack

    try:
        checkpoints().publish()
    except LogRolledBack:
        raise
    except Error as e:
        log.warning("no checkpoint of the custody log published this time: %s", e)
    if stamps is not None:
        stamps.run()  # logs, never raises, for an authority or a store that fails


def s3_store(settings: Settings) -> S3Store:
    from recorder_sync.adapters.s3store import S3Store  # minio: only the commands that store

    if settings.s3 is None:
        raise UsageError("no S3 store is configured ([s3] or RECORDER_SYNC_S3_ENDPOINT)")
    return S3Store(settings.s3, clock=utcnow)


def legal_holds(settings: Settings) -> LegalHolds:
    """The store's legal holds; only S3 Object Lock has them (checked before anything opens)."""
    if settings.s3 is None:
        raise UsageError(
            "legal holds are an S3 Object Lock feature; the local vault has none (configure [s3])"
        )
    return s3_store(settings)


def check_docks(settings: Settings, docks: list[DockConfig]) -> None:
    """Refuse, before any dock is read, a dock that is a link, or that is, holds or lies
    inside one of our folders or files or another dock (ingesting it would delete them)."""
    for d in docks:
        if d.path.is_symlink():
            raise UsageError(f"dock {d.name!r} at {d.path}: is a symbolic link; configure the real folder")
    ours = [
        place("the data folder (home)", settings.home),
        place("the vault", settings.vault_path),
        place("the station key", settings.key_path),
        place("the key folder", settings.key_path.parent),
        place("the log key", settings.log.key_path),
        place("the log key folder", settings.log.key_path.parent),
    ]
    if settings.database_url.startswith("sqlite:///"):
        ours.append(place("the database", Path(settings.database_url.removeprefix("sqlite:///"))))
    problems = dock_overlaps([place(f"dock {d.name!r}", d.path) for d in docks], ours)
    if problems:
        raise DockOverlap("\n".join(f"  {p}" for p in problems))


def make_dock(settings: Settings, d: DockConfig) -> Dock:
    return Dock(
        reader=DockFolder(d.name, d.path),
        profiles=(
            tuple(settings.naming_profiles.values())
            if d.naming_profile == "auto"
            else (settings.naming_profiles[d.naming_profile],)
        ),
        tz=ZoneInfo(d.timezone),
        stable_window=timedelta(seconds=d.stable_seconds),
        bounds=settings.metadata_bounds,
    )


def dock_locks(settings: Settings) -> DockLocks:
    return DockLocks(
        settings.lock_dir, station=settings.station_id, home=settings.home, source=settings.source
    )


def open_app(settings: Settings, *, actor: str, upgrade_schema: bool = False) -> App:
    """Open the catalog. A database without tables (the embedded default on first use) gets
    the schema; an old schema is upgraded only with ``upgrade_schema`` (``db upgrade``, the
    daemon's start) and refused elsewhere with the instruction to run ``db upgrade``."""
    engine = make_engine(settings.database_url)
    open_schema(engine, upgrade_old=upgrade_schema)
    return App(settings=settings, catalog=SqlCatalog(engine, station=settings.station_id, actor=actor))


# --- cases, linking, deadlines, reports and alerts ------------------------------------


@dataclass
class CasesRuntime:
    book: CaseBook
    cases: CaseService
    deadlines: DeadlineService
    reports: ReportService
    alerts: AlertDispatcher

    def tick(self, now: datetime | None = None) -> tuple[LinkRun, SweepResult]:
        """Link new recordings, then sweep as of ``now`` (default: the current time).
        Alerts are queued, never awaited: the daemon's loop is not held up."""
        run = self.cases.link_new_recordings()
        # the daemon's clock is the present: its sweeps always write
        result = self.deadlines.sweep(now or utcnow(), dry_run=False)
        return run, result

    def read_dock_clocks(self, docks: Sequence[DockConfig]) -> int:
        """Record the camera clock of each dock that holds a ``clock.json`` (call at scan
        time, before ingesting, so the docking precedes the recordings it brings)."""
        recorded = 0
        for dock in docks:
            folder = DockFolder(dock.name, dock.path)
            try:
                f, ident = folder.open(CLOCK_FILE)
            except UnsafePath as e:
                # a link, a pipe or a device named like the time file: not the camera's reading
                log.warning("dock %s: %s", dock.name, e)
                continue
            except (Error, OSError):
                continue  # no time file: the camera does not expose its clock
            with f:
                data = f.read(4096)
            station_time = datetime.fromtimestamp(ident.mtime_ns / 1e9, tz=UTC)
            reading = parse_clock_file(data, station_time, ZoneInfo(dock.timezone))
            if isinstance(reading, str):
                log.warning("dock %s: %s", dock.name, reading)
                continue
            self.book.record_docking(
                reading.device,
                dock.name,
                reading.station_time,
                reading.camera_time,
                f"{dock.name}/{CLOCK_FILE}",
            )
            recorded += 1
        return recorded

    def close(self) -> None:
        self.alerts.close()


def cases_runtime(settings: Settings, catalog: SqlCatalog, *, alerts: bool = True) -> CasesRuntime:
    """The policy and deadlines were checked when the settings were loaded."""
    # imported here: the views (status, list, show) need none of it, and start faster
    from recorder_sync.adapters.db.access_inputs import AccessFigureRepo
    from recorder_sync.adapters.db.casebook import CaseBook
    from recorder_sync.services.cases import CaseService
    from recorder_sync.services.deadlines import DeadlineService
    from recorder_sync.services.reports import ReportService

    book = CaseBook(catalog)
    dispatcher = AlertDispatcher(settings.alerts)
    return CasesRuntime(
        book=book,
        cases=CaseService(book, settings.policy, settings.deadlines, utcnow),
        deadlines=DeadlineService(book, settings.policy, settings.deadlines, dispatcher if alerts else None),
        reports=ReportService(
            book, settings.policy, settings.deadlines, AccessFigureRepo(catalog), settings.access_limits
        ),
        alerts=dispatcher,
    )
