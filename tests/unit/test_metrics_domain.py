"""The pure parts of monitoring: which family an error belongs to, how late nothing is."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from recorder_sync.domain.errors import (
    DatabaseUnavailable,
    IntegrityFailure,
    SignatureInvalid,
    SourceUnavailable,
    StorageRejected,
    StorageUnavailable,
)
from recorder_sync.domain.metrics import ERROR_FAMILIES, age_seconds, error_family


def test_errors_are_told_apart_by_where_they_came_from() -> None:
    assert error_family(StorageUnavailable("down")) == "storage"
    assert error_family(StorageRejected("k", "AccessDenied")) == "storage"
    assert error_family(IntegrityFailure("k", "bad")) == "storage"
    assert error_family(DatabaseUnavailable("x")) == "database"
    # the driver's own, told by its module (no layer above the adapters imports the driver)
    assert error_family(sqlite3.OperationalError("database is locked")) == "database"
    assert error_family(SourceUnavailable("d/f", "gone")) == "dock"
    assert error_family(OSError(5, "Input/output error")) == "dock"
    assert error_family(SignatureInvalid("x")) == "other"
    assert error_family(RuntimeError("a bug")) == "other"
    assert {error_family(e) for e in (StorageUnavailable("x"), RuntimeError())} <= set(ERROR_FAMILIES)


def test_age_of_the_oldest_pending_item() -> None:
    now = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    assert age_seconds(None, now) == 0.0  # nothing pending is not late
    assert age_seconds(now - timedelta(minutes=5), now) == 300.0
    assert age_seconds(now + timedelta(seconds=3), now) == 0.0  # a clock step back: not negative
