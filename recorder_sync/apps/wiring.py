"""Composition: the one place that builds adapters from settings and hands them to services."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from recorder_sync import __version__
from recorder_sync.adapters.db.engine import make_engine, require_schema, upgrade
from recorder_sync.adapters.db.repository import Catalog
from recorder_sync.adapters.dockfs import DockFolder, place
from recorder_sync.adapters.docklock import DockLocks
from recorder_sync.adapters.probe import FfprobeProber
from recorder_sync.adapters.vault import Vault
from recorder_sync.apps.config import DockConfig, Settings
from recorder_sync.domain.errors import DockOverlap, StorageUnavailable, UsageError
from recorder_sync.domain.places import dock_overlaps
from recorder_sync.domain.ports import ObjectStore
from recorder_sync.services.ingest import Dock, IngestService, Meter, Notify

if TYPE_CHECKING:
    from recorder_sync.adapters.keys import FileSigner

log = logging.getLogger(__name__)
SOFTWARE = f"recorder_sync {__version__}"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    settings: Settings
    catalog: Catalog

    def store(self) -> ObjectStore:
        if self.settings.s3 is not None:
            from recorder_sync.adapters.s3store import S3Settings, S3Store

            s3 = self.settings.s3
            store = S3Store(
                S3Settings(
                    endpoint=s3.endpoint,
                    bucket=s3.bucket,
                    access_key=s3.access_key,
                    secret_key=s3.secret_key,
                    region=s3.region,
                    ca_bundle=s3.ca_bundle,
                    create_bucket=s3.create_bucket,
                    part_size=s3.part_size_mib * 1024 * 1024,
                    parallel_uploads=s3.parallel_uploads,
                    retention_days=dict(s3.retention_days),
                    default_retention_class=s3.retention_class,
                    verify=s3.verify,
                ),
                clock=utcnow,
            )
            try:
                store.open_bucket()
            except StorageUnavailable as e:
                # keep hashing and signing locally; the store opens itself on the first upload
                log.warning("%s; uploads wait and retry", e)
            return store
        return Vault(self.settings.vault_path)

    def signer(self) -> FileSigner:
        """The station key. A key is created only while the station has signed nothing:
        after that, a missing or different key stops ingest (exit 5) until an operator
        runs ``keys init --replace``."""
        from recorder_sync.adapters import keys  # cryptography: only the commands that sign
        from recorder_sync.domain.signatures import check_station_key

        path = self.settings.key_path
        found = keys.load_if_present(path)
        check_station_key(self.catalog.station_key(), found.key_id if found else None, str(path))
        return found or keys.load_or_create(path)

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
            retention_class=self.settings.s3.retention_class if self.settings.s3 else None,
            notify=notify,
            meter=meter,
            workers=self.settings.workers,
            claim_seconds=self.settings.claim_seconds,
        )


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


def open_app(settings: Settings, *, actor: str, migrate: bool = True) -> App:
    """Open the catalog; the embedded SQLite default is created and migrated on first use."""
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    else:
        require_schema(engine)
    return App(settings=settings, catalog=Catalog(engine, station=settings.station_id, actor=actor))
