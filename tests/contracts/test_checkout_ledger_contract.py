"""The ``CheckoutLedger`` contract, on the in-memory fake and on the SQL case book (SQLite
and PostgreSQL): a ledger line is one (device, start); what an import says it did; the
queries' filters, order and overlap (a camera still out overlaps everything after it left);
a docking is recorded once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from casebooks import CASE_BACKENDS, Cases, case_stores

from recorder_sync.domain.cases import Checkout, ImportOutcome
from recorder_sync.domain.subjects import checkout_subject, device_subject

T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture(params=CASE_BACKENDS)
def cases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cases]:
    with case_stores(request.param, request, tmp_path) as c:
        yield c


def test_an_import_says_what_it_added_changed_and_left_alone(cases: Cases) -> None:
    ledger = cases.stores
    out = Checkout("CAM1", "001", T0, None)
    other = Checkout("CAM2", "002", T0, T0 + 8 * H)
    assert ledger.upsert_checkouts([out, other], T0, "ledger.csv", "clerk 1") == ImportOutcome(
        (checkout_subject("CAM1", T0), checkout_subject("CAM2", T0)), (), 0
    )
    back = Checkout("CAM1", "001", T0, T0 + 9 * H)  # the same line, now with its return
    later = Checkout("CAM1", "003", T0 + 10 * H, None)  # another line: another start
    outcome = ledger.upsert_checkouts([back, other, later], T0 + 9 * H, "ledger.csv", "clerk 2")
    assert outcome == ImportOutcome(
        (checkout_subject("CAM1", T0 + 10 * H),), (checkout_subject("CAM1", T0),), 1
    )
    assert ledger.checkouts(device="CAM1") == [back, later]
    assert [(kind, subject, actor) for kind, subject, _, actor, _ in cases.events()] == [
        ("checkout-imported", checkout_subject("CAM1", T0), "clerk 1"),
        ("checkout-imported", checkout_subject("CAM2", T0), "clerk 1"),
        ("checkout-imported", checkout_subject("CAM1", T0), "clerk 2"),
        ("checkout-imported", checkout_subject("CAM1", T0 + 10 * H), "clerk 2"),
    ]
    before = cases.events()
    assert ledger.upsert_checkouts([back, other, later], T0 + 10 * H, "ledger.csv", "clerk 2") == (
        ImportOutcome((), (), 3)
    )
    assert cases.events() == before


def test_queries_filter_by_device_and_officer_in_start_order(cases: Cases) -> None:
    ledger = cases.stores
    lines = [
        Checkout("CAM2", "001", T0 + 2 * H, T0 + 3 * H),
        Checkout("CAM1", "002", T0 + 2 * H, T0 + 3 * H),
        Checkout("CAM1", "001", T0, T0 + H),
    ]
    ledger.upsert_checkouts(lines, T0, "ledger.csv", "clerk")
    assert ledger.checkouts() == [lines[2], lines[1], lines[0]]  # by start, then by device
    assert ledger.checkouts(device="CAM1") == [lines[2], lines[1]]
    assert ledger.checkouts(officer="001") == [lines[2], lines[0]]
    assert ledger.checkouts(device="CAM1", officer="001") == [lines[2]]
    assert ledger.checkouts(device="CAM9") == []


def test_overlap_is_inclusive_and_a_camera_still_out_overlaps_everything_after(cases: Cases) -> None:
    ledger = cases.stores
    ledger.upsert_checkouts(
        [Checkout("CAM1", "001", T0, T0 + H), Checkout("CAM2", "002", T0 + 2 * H, None)],
        T0,
        "ledger.csv",
        "clerk",
    )

    def overlapping(lo: datetime, hi: datetime) -> list[str]:
        return sorted(c.device for c in ledger.checkouts_overlapping(lo, hi))

    assert overlapping(T0 + H, T0 + H) == ["CAM1"]  # touching its end
    assert overlapping(T0 - H, T0) == ["CAM1"]
    assert overlapping(T0 + 2 * H, T0 + 2 * H) == ["CAM2"]  # touching its start
    assert overlapping(T0 + 1000 * H, T0 + 1001 * H) == ["CAM2"]  # still out
    assert overlapping(T0 - 2 * H, T0 - H) == []
    assert overlapping(T0, T0 + 5 * H) == ["CAM1", "CAM2"]


def test_a_docking_is_recorded_once_per_device_and_time(cases: Cases) -> None:
    ledger = cases.stores
    ledger.record_docking("CAM1", "dock", T0, T0 + timedelta(seconds=30), "dock/clock.json")
    ledger.record_docking("CAM1", "dock", T0, T0 + timedelta(seconds=30), "dock/clock.json")  # read again
    ledger.record_docking("CAM1", "dock", T0 + H, None, "dock")  # no clock this time: still a docking
    ledger.record_docking("CAM2", "dock", T0, None, "dock")
    assert [(kind, subject) for kind, subject, *_ in cases.events()] == [
        ("docked", device_subject("CAM1")),
        ("docked", device_subject("CAM1")),
        ("docked", device_subject("CAM2")),
    ]
