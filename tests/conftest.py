"""Shared fixtures: real databases (SQLite and PostgreSQL), real sample media, isolated homes.

Every test that takes ``db_url`` runs once on SQLite and once on PostgreSQL. The
PostgreSQL server comes from ``RECORDER_SYNC_TEST_PG_URL`` or is started with the
project's own ``scripts/pg-server-start``; it is never skipped.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from s3server import exported, s3_server_fixture  # noqa: E402  (session fixture "s3_server": a real Ceph RGW)
from softhsm import softhsm_conf, token  # noqa: E402  (fixtures: a real SoftHSM2 token per test)
from tsaserver import tsa_server_fixture  # noqa: E402  (fixture "tsa_server": a real RFC 3161 TSA)

# defined here once: a session fixture imported into two test modules would be two session
# fixtures, two SoftHSM folders, each setting SOFTHSM2_CONF for the whole process
__all__ = ["s3_server_fixture", "softhsm_conf", "token", "tsa_server_fixture"]

BACKENDS = [b for b in os.environ.get("RECORDER_SYNC_TEST_DBS", "sqlite,postgresql").split(",") if b]


def _start(script: str) -> dict[str, str]:
    out = subprocess.run(
        [str(ROOT / "scripts" / script)], check=True, capture_output=True, text=True, timeout=300
    )
    return exported(out.stdout)


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    url = os.environ.get("RECORDER_SYNC_TEST_PG_URL")
    if not url:
        url = _start("pg-server-start")["DATABASE_URL"]
    return url


@contextmanager
def pg_database(base: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server at ``base``, dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database, for the tests that are about PostgreSQL only."""
    with pg_database(pg_server_url) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    with pg_database(request.getfixturevalue("pg_server_url")) as url:
        yield url


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated RECORDER_SYNC_HOME with no other RECORDER_SYNC_* settings leaking in."""
    for key in list(os.environ):
        if key.startswith("RECORDER_SYNC_") and not key.startswith("RECORDER_SYNC_TEST"):
            monkeypatch.delenv(key)
    h = tmp_path / "home"
    monkeypatch.setenv("RECORDER_SYNC_HOME", str(h))
    return h


def leaked_threads(before: Collection[threading.Thread]) -> list[threading.Thread]:
    """Threads alive now that were not alive in ``before``."""
    gc.collect()  # what only a reference cycle kept running (an executor, say) goes first
    return [t for t in threading.enumerate() if t not in before and t.is_alive()]


@pytest.fixture(autouse=True)
def _no_thread_leaks() -> Iterator[None]:
    """A test ends with the threads it started ended (joined), or it fails: a leaked thread
    (a watcher, an alert sender, an upload pool) would go on touching the next test's files
    and ports. No grace period: code that stops a thread must also wait for it.

    Session fixtures (the S3 server) are set up before this fixture, so their threads are
    in ``before`` and never counted."""
    before = set(threading.enumerate())
    yield
    leaked = leaked_threads(before)
    if leaked:
        pytest.fail(f"the test leaked {len(leaked)} thread(s): {[t.name for t in leaked]}", pytrace=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long end-to-end runs (``slow``) go first, the order among each kind kept: with the
    tests spread over worker processes, a long test started last would keep one worker busy
    while the others stand idle, and that tail sets the length of the whole run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
