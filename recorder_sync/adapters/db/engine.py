"""Engines for the two tiers: SQLite (WAL) embedded, PostgreSQL shared. Migrations via Alembic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from recorder_sync.adapters.private import make_private_dirs, touch_private_file
from recorder_sync.domain.errors import DatabaseUnavailable, UsageError

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
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
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


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
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as e:
        raise DatabaseUnavailable(f"{engine.url.render_as_string()}: {e.orig}") from e


def require_schema(engine: Engine) -> None:
    """Fail with a clear instruction rather than a missing-table traceback."""
    try:
        tables = set(inspect(engine).get_table_names())
    except OperationalError as e:
        raise DatabaseUnavailable(f"{engine.url.render_as_string()}: {e.orig}") from e
    if "alembic_version" not in tables:
        raise UsageError(
            f"database {engine.url.render_as_string()} has no schema; run: recorder-sync db upgrade"
        )
