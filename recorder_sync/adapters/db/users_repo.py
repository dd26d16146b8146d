"""The replay roster (``domain.roster``): imports, each change a custody event, and look-ups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from recorder_sync.adapters.db.rows import CatalogBound
from recorder_sync.adapters.db.schema import RosterRow
from recorder_sync.domain.cases import ImportOutcome
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.roster import Role, RosterEntry
from recorder_sync.domain.subjects import user_subject


def _entry(row: RosterRow) -> RosterEntry:
    return RosterEntry(row.user, Role(row.role), row.officer, row.unit)


class RosterRepo(CatalogBound):
    """Implements ``domain.ports.Roster``."""

    def upsert_roster(
        self, entries: Sequence[RosterEntry], now: datetime, source: str, actor: str
    ) -> ImportOutcome:
        """All or nothing: one transaction. Unchanged entries write nothing."""
        added: list[str] = []
        changed: list[str] = []
        unchanged = 0
        with self.catalog.transaction() as s:
            existing = {r.user: r for r in s.scalars(select(RosterRow))}
            for entry in entries:
                row = existing.get(entry.user)
                if row is not None and _entry(row) == entry:
                    unchanged += 1
                    continue
                record = entry.as_record()
                details: dict[str, object] = {"record": record, "source": source}
                if row is None:
                    row = RosterRow(user=entry.user, imported_at=now)
                    s.add(row)
                    added.append(entry.user)
                else:
                    before = _entry(row).as_record()
                    details["changed"] = sorted(k for k in record if record[k] != before[k])
                    changed.append(entry.user)
                row.officer, row.role, row.unit, row.updated_at = (
                    entry.officer,
                    entry.role.value,
                    entry.unit,
                    now,
                )
                s.flush()
                self.catalog.append_event(
                    s,
                    EventKind.ROSTER_IMPORTED,
                    now,
                    subject=user_subject(entry.user),
                    details=details,
                    actor=actor,
                )
        return ImportOutcome(tuple(added), tuple(changed), unchanged)

    def roster(self) -> list[RosterEntry]:
        with self.catalog.transaction() as s:
            return [_entry(r) for r in s.scalars(select(RosterRow).order_by(RosterRow.user))]
