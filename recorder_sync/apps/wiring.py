"""Composition: the one place that builds adapters from settings and hands them to services."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from recorder_sync import __version__
from recorder_sync.adapters import keys
from recorder_sync.adapters.db.engine import make_engine, require_schema, upgrade
from recorder_sync.adapters.db.repository import Catalog
from recorder_sync.adapters.dockfs import DockFolder
from recorder_sync.adapters.probe import FfprobeProber
from recorder_sync.adapters.vault import Vault
from recorder_sync.apps.config import DockConfig, Settings
from recorder_sync.domain.errors import StorageUnavailable
from recorder_sync.domain.ports import ObjectStore
from recorder_sync.services.ingest import Dock, IngestService, Meter, Notify

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

    def ingest_service(
        self, docks: list[DockConfig], notify: Notify | None = None, meter: Meter | None = None
    ) -> IngestService:
        signer = keys.load_or_create(self.settings.key_path)
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
        )


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


def open_app(settings: Settings, *, actor: str, migrate: bool = True) -> App:
    """Open the catalog; the embedded SQLite default is created and migrated on first use."""
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    else:
        require_schema(engine)
    return App(settings=settings, catalog=Catalog(engine, station=settings.station_id, actor=actor))
