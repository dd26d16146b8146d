"""Engines for the two tiers: SQLite (WAL) embedded, PostgreSQL shared. Migrations via Alembic.

Alembic runs only where a schema is created or upgraded (``db upgrade``, the daemon's start,
a database with no tables at all); every other command only reads the schema's revision,
without importing Alembic, and refuses one that is not current.
"""

from __future__ import annotations

import re
import sqlite3
import urllib.parse
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from recorder_sync.adapters.private import make_private_dirs, touch_private_file
from recorder_sync.domain.errors import DatabaseUnavailable, SchemaMismatch, UsageError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")

READING = "recorder_sync_reading"
"""An execution option: the transaction only reads (SQLite: a deferred ``BEGIN``)."""


_MADE: weakref.WeakSet[Engine] = weakref.WeakSet()


def make_engine(url: str) -> Engine:
    return _made(_engine(url))


def make_readonly_engine(url: str) -> Engine:
    """An engine that cannot write (``recorder-audit``): SQLite opened ``mode=ro`` (a missing
    file is not created), PostgreSQL sessions with ``default_transaction_read_only``."""
    return _made(_readonly_engine(url))


def close_engines() -> None:
    """Close the pooled connections of every engine made in this process (at a command's
    end): SQLite then folds its write-ahead log back and removes the -wal and -shm files,
    and PostgreSQL sees a clean goodbye, now rather than whenever the interpreter's last
    collection happens to free the engine. An engine stays usable: it connects again."""
    for engine in list(_MADE):
        engine.dispose()


def _made(engine: Engine) -> Engine:
    _MADE.add(engine)
    return engine


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        _create_private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's 'begin' hook issue BEGIN IMMEDIATE: a writer takes the lock
            # up front instead of failing to upgrade a read lock halfway through.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # READING: a transaction that only reads (and fills temporary tables) takes no
            # lock, so it runs beside a writer (WAL) instead of waiting for its commit
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READING) else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


def _readonly_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = make_url(url).database
        if not database or database == ":memory:" or database.startswith("file:"):
            raise UsageError(f"{url}: recorder-audit reads an existing SQLite file")
        path = Path(database).absolute()
        if not path.is_file():
            raise DatabaseUnavailable(f"{path}: no such database file")
        # a URI, so that SQLite itself refuses every write
        uri = "file:" + urllib.parse.quote(str(path)) + "?mode=ro"
        engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, timeout=60))

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA busy_timeout=60000")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(
        url, pool_pre_ping=True, connect_args={"options": "-c default_transaction_read_only=on"}
    )


def _create_private_sqlite_file(url: str) -> None:
    """Create a missing SQLite file (and its folders) before SQLite does, 0600 / 0700:
    SQLite would make it 0644 under the usual umask, and it gives the -wal and -shm
    files the database file's mode, so this one file decides all three."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists():
        return
    try:
        make_private_dirs(path.parent)
        touch_private_file(path)
    except OSError as e:
        raise DatabaseUnavailable(f"cannot create {path}: {e.strerror or e}") from e


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # Alembic costs ~0.2 s of start-up: only where it migrates

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as e:
        raise DatabaseUnavailable(f"{engine.url.render_as_string()}: {e.orig}") from e


_REVISION = re.compile(r"^(down_)?revision\s*(?::[^=]*)?=\s*['\"]?([^'\"\s]*)['\"]?\s*$", re.MULTILINE)


def revisions() -> tuple[str, ...]:
    """The migrations this code ships, oldest first, read from the version files' text so
    that a command that does not migrate never imports Alembic (a test holds this to
    Alembic's own reading of the same files)."""
    parent: dict[str, str | None] = {}
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = {bool(m[1]): m[2] for m in _REVISION.finditer(script.read_text(encoding="utf-8"))}
        if found.get(False):
            parent[found[False]] = found.get(True) if found.get(True) not in ("", "None") else None
    chain: list[str] = []
    children = {p: r for r, p in parent.items()}
    at = children.get(None)
    while at is not None:
        chain.append(at)
        at = children.get(at)
    return tuple(chain)


def open_schema(engine: Engine, *, upgrade_old: bool, create_empty: bool = True) -> None:
    """Make sure the schema is the one this code was written for.

    A database with no tables at all gets the schema (creating is not upgrading: there is
    nothing to lose, and ``ingest DIR`` on a fresh home must work with no set-up). An old
    schema is upgraded only when ``upgrade_old`` (``db upgrade``, the daemon's start);
    anywhere else it is refused, as is a schema newer than this code.  ``create_empty=False``
    (a reader that must not write) refuses an empty database instead of creating the schema.
    """
    shown = engine.url.render_as_string()
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            found = (
                conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if "alembic_version" in tables
                else None
            )
            conn.rollback()
    except OperationalError as e:
        raise DatabaseUnavailable(f"{shown}: {e.orig}") from e
    known = revisions()
    if found == known[-1]:
        return
    if (not tables and create_empty) or (tables and upgrade_old and (found is None or found in known)):
        upgrade(engine)
        return
    if "alembic_version" not in tables:
        raise UsageError(f"database {shown} has no recorder-sync schema; run: recorder-sync db upgrade")
    if found in known or found is None:
        raise SchemaMismatch(
            shown,
            found or "none",
            known[-1],
            "it is older than this recorder-sync; run: recorder-sync db upgrade",
        )
    raise SchemaMismatch(
        shown, found, known[-1], "it is newer than this recorder-sync; install the version that wrote it"
    )
