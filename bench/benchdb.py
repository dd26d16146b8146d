"""The throwaway databases a benchmark runs on: a SQLite file in a temporary folder, or a fresh
database on the PostgreSQL server of ``--pg-url`` (dropped afterwards)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text


def each_database(dbs: str, pg_url: str | None, run: Callable[[str], None], prefix: str) -> None:
    """``run(url)`` once per name in ``dbs`` (comma-separated: sqlite, postgresql)."""
    for db in dbs.split(","):
        if db == "sqlite":
            with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
                run(f"sqlite:///{Path(tmp) / 'bench.db'}")
        elif db == "postgresql":
            if not pg_url:
                print('postgresql: no --pg-url or $DATABASE_URL (eval "$(scripts/pg-server-start)")')
                continue
            admin = create_engine(
                pg_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
            )
            dbname = "bench_" + uuid.uuid4().hex[:8]
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{dbname}"'))
            try:
                run(pg_url.rsplit("/", 1)[0] + "/" + dbname)
            finally:
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
                admin.dispose()
        else:
            raise SystemExit(f"unknown --db {db!r}")
