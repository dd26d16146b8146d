"""The SQL case book on a fresh database of each backend the suite runs (SQLite, PostgreSQL),
for the contracts that hold a fake case store to it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import BACKENDS, pg_database
from fakes import MemoryCaseStores

from recorder_sync.adapters.db.casebook import CaseBook
from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain.cases import Action
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.model import FileIdentity, Kind, ProbeResult, Sourced, StoredObject
from recorder_sync.domain.ports import CaseStores


@contextmanager
def case_book(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CaseBook]:
    with ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'catalog.db'}"
        else:
            url = stack.enter_context(pg_database(request.getfixturevalue("pg_server_url")))
        engine = make_engine(url)
        upgrade(engine)
        try:
            yield CaseBook(SqlCatalog(engine, station="st", actor="test"))
        finally:
            engine.dispose()


def importer(book: CaseBook, now: datetime) -> Callable[[list[Action]], None]:
    """Actions put into the book as an import at ``now`` would."""

    def add(actions: list[Action]) -> None:
        book.upsert_actions(actions, now, "contract", "test")

    return add


# --- the case stores the case service works with -------------------------------------------

CASE_EVENTS = frozenset(
    {
        EventKind.ACTION_IMPORTED,
        EventKind.CHECKOUT_IMPORTED,
        EventKind.DOCKED,
        EventKind.LINKED,
        EventKind.UNLINKED,
    }
)

Seen = tuple[str, str | None, str | None, str | None, str | None]
"""A custody event of the case stores: (kind, subject, recording id, actor, reason)."""


class Cases:
    """``CaseStores`` under contract, with the test's hand on the catalog behind them."""

    stores: CaseStores

    def add_recording(
        self,
        device: str | None,
        officer: str | None,
        start: datetime | None,
        end: datetime | None,
        *,
        ingested_at: datetime,
        kind: Kind = Kind.VIDEO,
        verified_at: datetime | None = None,
    ) -> str:
        """A recording found, hashed and probed at ``ingested_at`` (verified at
        ``verified_at``); returns its id."""
        raise NotImplementedError

    def events(self) -> list[Seen]:
        """The custody events the case stores wrote, in order."""
        raise NotImplementedError


class MemoryCases(Cases):
    def __init__(self) -> None:
        self.fake = MemoryCaseStores()
        self.stores = self.fake

    def add_recording(
        self,
        device: str | None,
        officer: str | None,
        start: datetime | None,
        end: datetime | None,
        *,
        ingested_at: datetime,
        kind: Kind = Kind.VIDEO,
        verified_at: datetime | None = None,
    ) -> str:
        return self.fake.add_recording(
            device, officer, start, end, ingested_at=ingested_at, kind=kind, verified_at=verified_at
        )

    def events(self) -> list[Seen]:
        return [
            (n.kind.value, n.subject, n.recording_id, n.actor, n.reason)
            for n in self.fake.log
            if n.kind in CASE_EVENTS
        ]


class SqlCases(Cases):
    """Recordings go in through the catalog's own transitions, as ingest puts them there."""

    def __init__(self, book: CaseBook) -> None:
        self.book = book
        self.stores = book
        self.n = 0

    def add_recording(
        self,
        device: str | None,
        officer: str | None,
        start: datetime | None,
        end: datetime | None,
        *,
        ingested_at: datetime,
        kind: Kind = Kind.VIDEO,
        verified_at: datetime | None = None,
    ) -> str:
        catalog = self.book.catalog
        self.n += 1
        ident = FileIdentity(size=100 + self.n, mtime_ns=self.n, inode=self.n, device=1)
        sighting = catalog.observe("dock", f"file_{self.n}", ident, ingested_at)
        rec, _ = catalog.attach_hash(
            sighting.id,
            sha256=hashlib.sha256(f"recording {self.n}".encode()).hexdigest(),
            ident=ident,
            kind_hint=kind,
            sidecar=None,
            now=ingested_at,
        )
        given = {"device": device, "officer": officer, "start": start, "end": end}
        meta = {key: Sourced(value, "sidecar") for key, value in given.items() if value is not None}
        catalog.record_probe(rec.id, ProbeResult(kind, True, duration_ms=1000), meta, ingested_at, flag=None)
        if verified_at is not None:
            stored = StoredObject(key=rec.id, uri=f"file:///{rec.id}", size=1)
            catalog.record_verified(rec.id, stored, verified_at)
        return rec.id

    def events(self) -> list[Seen]:
        fields: list[dict[str, Any]] = [e.fields for e in self.book.catalog.events()]
        return [
            (f["action"], f.get("subject"), f.get("recording_id"), f.get("actor"), f.get("reason"))
            for f in fields
            if f["action"] in CASE_EVENTS
        ]


@contextmanager
def case_stores(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cases]:
    if backend == "memory":
        yield MemoryCases()
        return
    with case_book(backend, request, tmp_path) as book:
        yield SqlCases(book)


CASE_BACKENDS = ["memory", *BACKENDS]
