"""The rule that decides whether a dock copy may go on the strength of an earlier verification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recorder_sync.domain.release import RECHECK_AFTER, verification_holds

T = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("verified_at", "seen_since", "now", "holds"),
    [
        (T, T - 5 * SECOND, T + SECOND, True),  # the file's own pass: verified after it appeared
        (T, T, T, True),
        (T, T + SECOND, T + 2 * SECOND, False),  # docked again after the verification
        (T - timedelta(days=30), T, T + SECOND, False),  # verified long before the re-dock
        (T, T - SECOND, T + RECHECK_AFTER, True),
        (T, T - SECOND, T + RECHECK_AFTER + SECOND, False),  # e.g. a restart long after a kill -9
        (None, T, T, False),  # never verified
    ],
)
def test_verification_holds_only_when_after_the_dock_file_and_recent(
    verified_at: datetime | None, seen_since: datetime, now: datetime, holds: bool
) -> None:
    assert verification_holds(verified_at, seen_since, now) is holds
