"""What the daemon reports to monitoring, as values: the stages it counts, the families of the
errors it counts, the figures read from the database at scrape time, and the listen address.

The services count through the ``Metrics`` port (``domain.ports``); ``NO_METRICS`` is the
default that counts nothing; ``adapters.metrics`` exports them in Prometheus' format.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime

from recorder_sync.domain.errors import (
    DatabaseUnavailable,
    IntegrityFailure,
    SourceChanged,
    SourceUnavailable,
    StorageRejected,
    StorageUnavailable,
)

STAGES = ("hashed", "probed", "signed", "stored", "verified", "released", "kept")
"""A file or recording that finished one of these steps is counted once, with its bytes."""

ERROR_FAMILIES = ("storage", "database", "dock", "other")


def error_family(e: BaseException) -> str:
    """Which part of the world an error came from: the object store, the database, a dock, or
    something else (a file's own content, a bug). A database driver's errors are told by their
    module, so that no layer above the adapters imports the driver."""
    if isinstance(e, StorageUnavailable | StorageRejected | IntegrityFailure):
        return "storage"
    module = type(e).__module__.split(".")[0]
    if isinstance(e, DatabaseUnavailable) or module in ("sqlalchemy", "psycopg", "sqlite3"):
        return "database"
    if isinstance(e, SourceChanged | SourceUnavailable | OSError):
        return "dock"
    return "other"


class NoMetrics:
    """The ``Metrics`` port that counts nothing (one-shot commands, unit tests)."""

    def stage_done(self, stage: str, nbytes: int, seconds: float) -> None:
        pass

    def error(self, family: str, kind: str) -> None:
        pass

    def sweep_done(self, seconds: float) -> None:
        pass


NO_METRICS = NoMetrics()


@dataclass(frozen=True)
class Snapshot:
    """The figures a scrape reads from the database (a handful of grouped queries)."""

    recordings: dict[str, int] = field(default_factory=dict)  # by state
    dock_files: dict[str, int] = field(default_factory=dict)  # sightings by state
    backlog: int = 0
    oldest_pending: datetime | None = None
    open_flags: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, severity) → n
    last_sweep: datetime | None = None
    log_size: int = 0
    checkpoint_size: int = 0  # the log size the last published checkpoint covers
    last_checkpoint: datetime | None = None
    checkpoints_without_timestamp: int | None = None  # None: no time-stamping configured


def age_seconds(then: datetime | None, now: datetime) -> float:
    """How long ago ``then`` was (0 for none: nothing pending is not late)."""
    return 0.0 if then is None else max(0.0, (now - then).total_seconds())


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6) → (host, port); ValueError says what is wrong.
    Only an IP address: a name would resolve at start, to whatever it points to then."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:9464, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"expected an IP address before the port (127.0.0.1, [::1]), got {text!r}") from None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"expected a port from 1 to 65535 after the address, got {text!r}")
    return str(address), int(port)
