"""The inputs of the report's access figures: the access, export and search events of a
period as the custody log holds them, the roster, and the links of what was accessed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from recorder_sync.adapters.db.replay_repo import ReplayRepo
from recorder_sync.adapters.db.rows import CatalogBound
from recorder_sync.adapters.db.schema import CustodyEventRow
from recorder_sync.adapters.db.users_repo import RosterRepo
from recorder_sync.domain.access_figures import AccessInputs
from recorder_sync.domain.custody import CustodyEvent, EventKind

_KINDS = (EventKind.ACCESSED.value, EventKind.EXPORTED.value, EventKind.SEARCHED.value)


class AccessFigureRepo(CatalogBound):
    """Implements ``domain.ports.AccessSource``."""

    def access_inputs(self, since: datetime | None, until: datetime | None) -> AccessInputs:
        with self.catalog.transaction() as s:
            q = (
                select(CustodyEventRow)
                .where(CustodyEventRow.action.in_(_KINDS))
                .order_by(CustodyEventRow.seq)
            )
            if since is not None:
                q = q.where(CustodyEventRow.at >= since)
            if until is not None:
                q = q.where(CustodyEventRow.at <= until)
            events = [CustodyEvent(r.seq, r.body, r.leaf_hash).fields for r in s.scalars(q)]
        accessed = [
            str(r["id"])
            for e in events
            if e["action"] != EventKind.SEARCHED.value
            for r in (e.get("details") or {}).get("recordings", ())
        ]
        links, actions = ReplayRepo(self.catalog).linked_actions(accessed)
        return AccessInputs(events, RosterRepo(self.catalog).roster(), links, actions)
