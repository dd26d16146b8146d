"""The device ledger (who carried which camera when) and the dockings with clock evidence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from recorder_sync.adapters.db.repository import NewEvent
from recorder_sync.adapters.db.rows import (
    EVENT_RUN,
    CatalogBound,
    checkout_from_row,
    lock_case_book,
)
from recorder_sync.adapters.db.schema import (
    CheckoutRow,
    DockingRow,
)
from recorder_sync.domain.cases import Checkout, ImportOutcome
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.subjects import (
    checkout_subject,
    device_subject,
)


class LedgerRepo(CatalogBound):
    """Implements ``CheckoutLedger``."""

    def upsert_checkouts(
        self, checkouts: Sequence[Checkout], now: datetime, source: str, actor: str
    ) -> ImportOutcome:
        added: list[str] = []
        changed: list[str] = []
        unchanged = 0
        events: list[NewEvent] = []
        with self.catalog.transaction() as s:
            lock_case_book(s)
            for checkout in checkouts:
                subject = checkout_subject(checkout.device, checkout.start)
                row = s.scalar(
                    select(CheckoutRow).where(
                        CheckoutRow.device == checkout.device, CheckoutRow.start == checkout.start
                    )
                )
                if row is not None and checkout_from_row(row) == checkout:
                    unchanged += 1
                    continue
                if row is None:
                    row = CheckoutRow(device=checkout.device, start=checkout.start, imported_at=now)
                    s.add(row)
                    added.append(subject)
                else:
                    changed.append(subject)
                row.officer, row.end, row.updated_at = checkout.officer, checkout.end, now
                s.flush()
                events.append(
                    NewEvent(
                        EventKind.CHECKOUT_IMPORTED,
                        subject=subject,
                        details={"record": checkout.as_record(), "source": source},
                        actor=actor,
                    )
                )
                if len(events) == EVENT_RUN:
                    self.catalog.append_events(s, now, events)
                    events.clear()
            self.catalog.append_events(s, now, events)  # in one run, as an actions import's
        return ImportOutcome(tuple(added), tuple(changed), unchanged)

    def record_docking(
        self, device: str, dock: str, docked_at: datetime, camera_time: datetime | None, source: str
    ) -> None:
        """Once per (device, docked_at): reading the same time file again records nothing."""
        offset = None if camera_time is None else round((camera_time - docked_at).total_seconds() * 1000)
        with self.catalog.transaction() as s:
            seen = s.scalar(
                select(DockingRow.id).where(DockingRow.device == device, DockingRow.docked_at == docked_at)
            )
            if seen is not None:
                return
            s.add(
                DockingRow(
                    device=device,
                    dock=dock,
                    docked_at=docked_at,
                    camera_time=camera_time,
                    clock_offset_ms=offset,
                    source=source,
                )
            )
            details: dict[str, Any] = {"device": device, "source": source}
            if camera_time is not None:
                details["camera_time"] = camera_time.isoformat()
                details["clock_offset_ms"] = offset
            self.catalog.append_event(
                s, EventKind.DOCKED, docked_at, subject=device_subject(device), details=details
            )

    def checkouts(self, device: str | None = None, officer: str | None = None) -> list[Checkout]:
        with self.catalog.transaction() as s:
            q = select(CheckoutRow).order_by(CheckoutRow.start, CheckoutRow.device)
            if device:
                q = q.where(CheckoutRow.device == device)
            if officer:
                q = q.where(CheckoutRow.officer == officer)
            return [checkout_from_row(r) for r in s.scalars(q)]

    def checkouts_overlapping(self, lo: datetime, hi: datetime) -> list[Checkout]:
        with self.catalog.transaction() as s:
            q = select(CheckoutRow).where(
                or_(CheckoutRow.end.is_(None), CheckoutRow.end >= lo), CheckoutRow.start <= hi
            )
            return [checkout_from_row(r) for r in s.scalars(q)]
