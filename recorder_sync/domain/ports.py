"""The small interfaces the services depend on; adapters implement them.

Adapters wrap foreign errors in ours (``recorder_sync.domain.errors``):
a store raises ``IntegrityFailure`` when the stored bytes are wrong, and
``StorageUnavailable`` when it could not look (never the other way round).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from recorder_sync.domain.model import ProbeResult, StoredObject

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
