"""The small interfaces the services depend on; adapters implement them.

Adapters wrap foreign errors in ours (``recorder_sync.domain.errors``):
a store raises ``IntegrityFailure`` when the stored bytes are wrong, and
``StorageUnavailable`` when it could not look (never the other way round).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from recorder_sync.domain.model import (
    FileIdentity,
    Flag,
    Kind,
    ProbeResult,
    Recording,
    Sighting,
    SightingState,
    Sourced,
    StoredObject,
)

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware (UTC)."""

Progress = Callable[[int], None]
"""Called with the number of bytes just processed."""


class ObjectStore(Protocol):
    """Content-addressed, write-once object storage (local vault or S3).

    Keys are produced by ``domain.layout`` from the SHA-256; writing a key that
    already holds the same bytes is a no-op.
    """

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        size: int,
        sha256: str,
        metadata: Mapping[str, str],
        retention_class: str | None = None,
        progress: Progress | None = None,
    ) -> StoredObject:
        """Store ``size`` bytes from ``stream``; hash them on the way and raise
        ``SourceChanged`` (storing nothing) when they do not hash to ``sha256``."""
        ...

    def put_bytes(self, key: str, data: bytes, metadata: Mapping[str, str]) -> StoredObject: ...

    def stat(self, key: str) -> StoredObject | None:
        """The stored object, or None when the key does not exist."""
        ...

    def verify(self, key: str, sha256: str, size: int, progress: Progress | None = None) -> StoredObject:
        """Re-read the stored object and recompute its SHA-256.

        Raises ``IntegrityFailure`` when it differs, ``StorageUnavailable`` when
        the store could not be read."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A reader of the stored bytes (replay, export, audit)."""
        ...

    def get_bytes(self, key: str) -> bytes: ...


class Signer(Protocol):
    key_id: str

    def sign(self, data: bytes) -> bytes: ...

    def public_key_pem(self) -> bytes: ...


class Prober(Protocol):
    def probe(self, path: Path) -> ProbeResult:
        """Never raises for bad media: returns ``readable=False`` with the reason."""
        ...


class DockReader(Protocol):
    """Read-only-until-release access to one dock, confined to its folder.

    Never follows a symbolic link, never accepts a path that leaves the dock."""

    name: str

    def walk(self) -> Iterator[tuple[str, FileIdentity | None, str | None]]:
        """Every entry below the dock: (relpath, identity, None) for regular files,
        (relpath, None, reason) for entries refused (links, devices, …)."""
        ...

    def stat(self, relpath: str) -> FileIdentity | None:
        """None when the file is gone; raises UnsafePath for a link or non-regular file."""
        ...

    def open(self, relpath: str) -> tuple[BinaryIO, FileIdentity]: ...

    def read_small(self, relpath: str, limit: int) -> bytes | None:
        """A small regular file's bytes (sidecars), None when absent or too large."""
        ...

    def local_path(self, relpath: str) -> Path:
        """For tools that need a path (ffprobe); checked by ``stat`` first."""
        ...

    def remove(self, relpath: str, expected: FileIdentity) -> bool:
        """Delete the file only if it is still exactly ``expected``; False when it changed."""
        ...


class Catalog(Protocol):
    """The persisted state machine and custody log (implemented on SQLAlchemy).

    Each transition method records the new state and its custody event atomically
    and is a no-op when the state was already reached."""

    station: str

    def observe(self, dock: str, relpath: str, ident: FileIdentity, now: datetime) -> Sighting: ...
    def reject(self, dock: str, relpath: str, reason: str, now: datetime) -> bool: ...
    def sighting(self, sighting_id: int) -> Sighting: ...
    def pending_sightings(self, dock: str | None = None) -> list[Sighting]: ...
    def sightings_of(self, recording_id: str) -> list[Sighting]: ...
    def sighting_changed(self, sighting_id: int, ident: FileIdentity, now: datetime, error: str) -> None: ...
    def mark_stable(self, sighting_id: int, now: datetime) -> None: ...
    def mark_gone(self, sighting_id: int, now: datetime) -> None: ...
    def attach_hash(
        self,
        sighting_id: int,
        *,
        sha256: str,
        ident: FileIdentity,
        kind_hint: Kind,
        sidecar: str | None,
        now: datetime,
    ) -> tuple[Recording, bool]: ...
    def release(self, sighting_id: int, outcome: SightingState, now: datetime, reason: str) -> None: ...
    def pending_recordings(self, now: datetime | None = None) -> list[Recording]: ...
    def recording(self, ref: str) -> Recording: ...
    def record_probe(
        self, recording_id: str, probe: ProbeResult, metadata: Mapping[str, Sourced], now: datetime
    ) -> Recording: ...
    def record_signature(
        self,
        recording_id: str,
        manifest: bytes,
        signature: bytes,
        key_id: str,
        public_pem: bytes,
        now: datetime,
    ) -> None: ...
    def record_stored(self, recording_id: str, stored: StoredObject, now: datetime) -> None: ...
    def record_verified(self, recording_id: str, stored: StoredObject, now: datetime) -> None: ...
    def recording_error(
        self,
        recording_id: str,
        error: str,
        now: datetime,
        retry_at: datetime | None,
        flag: Flag | None = None,
    ) -> int: ...
    def raise_flag(self, flag: Flag, now: datetime) -> None: ...
