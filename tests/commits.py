"""Counting the database commits that wrote something, for the tests of grouped commits."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


def write_commits(engine: Engine) -> list[int]:
    """A one-item list counting, from now on, the commits of transactions that wrote (a
    transaction that only read costs no synced commit)."""
    count, wrote = [0], set()

    @event.listens_for(engine, "after_cursor_execute")
    def _executed(conn: Connection, cursor: object, statement: str, *rest: object) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            wrote.add(id(conn))

    @event.listens_for(engine, "commit")
    def _committed(conn: Connection) -> None:
        if id(conn) in wrote:
            wrote.discard(id(conn))
            count[0] += 1

    @event.listens_for(engine, "rollback")
    def _rolled_back(conn: Connection) -> None:
        wrote.discard(id(conn))

    return count
