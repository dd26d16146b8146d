"""The database as ``recorder-audit`` reads it for derived material: the ``derived`` events,
and what the database holds of the recordings they name. Read-only, like ``audit_repo``."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select

from recorder_sync.adapters.db.audit_repo import EvidenceRecordsReader
from recorder_sync.adapters.db.rows import chunks
from recorder_sync.adapters.db.schema import CustodyEventRow, RecordingRow
from recorder_sync.domain.custody import CustodyEvent, EventKind
from recorder_sync.domain.derived import SourceFacts


class DerivedRecordsReader(EvidenceRecordsReader):
    def derived_events(self) -> list[CustodyEvent]:
        """Every ``derived`` event, in log order (their bodies are what is checked)."""
        with self._session() as s:
            q = select(CustodyEventRow).where(CustodyEventRow.action == EventKind.DERIVED.value)
            return [
                CustodyEvent(seq=r.seq, body=r.body, leaf_hash=r.leaf_hash)
                for r in s.scalars(q.order_by(CustodyEventRow.seq))
            ]

    def sources(self, ids: Collection[str]) -> dict[str, SourceFacts]:
        """The recordings of ``ids`` the database holds (an id it does not hold is absent)."""
        out: dict[str, SourceFacts] = {}
        with self._session() as s:
            for part in chunks(sorted(set(ids))):
                q = select(RecordingRow.id, RecordingRow.sha256, RecordingRow.manifest).where(
                    RecordingRow.id.in_(part)
                )
                for rid, sha256, manifest in s.execute(q):
                    out[rid] = SourceFacts(sha256, manifest)
        return out
