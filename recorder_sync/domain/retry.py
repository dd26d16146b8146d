"""Exponential backoff with jitter for retryable failures (storage, database, busy files)."""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_BACKOFF_SECONDS = 300.0
"""The longest wait between two tries of an item that failed on its own account."""


def next_attempt(
    now: datetime, attempts: int, *, base: float = 2.0, cap: float = MAX_BACKOFF_SECONDS, jitter: float = 0.5
) -> datetime:
    """``jitter`` in [0, 1) is supplied by the caller (random in production, fixed in tests)."""
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return now + timedelta(seconds=delay * (0.5 + jitter))
