"""The SQL case book on a fresh database of each backend the suite runs (SQLite, PostgreSQL),
for the contracts that hold a fake case store to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from conftest import pg_database

from recorder_sync.adapters.db.casebook import CaseBook
from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain.cases import Action


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
