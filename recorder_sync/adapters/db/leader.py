"""The lead among daemons sharing one database (``domain.ports.Leadership``).

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on a connection of
its own, kept open while leading. The server frees it when that session ends, whichever way:
the holder stops, is killed (``kill -9`` closes its socket), or its machine drops off the
network (TCP keepalives end the session). A holder checks its connection before every
leader-only step: once the connection is lost, so is the lead, at once, even if the server has
not noticed yet (then no one leads for a while: the safe side).

SQLite: one station, one writer; still two daemons may share one database file (a failover
pair, a test). The lead is an exclusive ``flock`` on a file next to the database, which the
kernel frees when its holder dies, as the dock locks (``adapters.docklock``). An in-memory
database has a single process: it always leads.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from recorder_sync.domain.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

LEADER_KEY = int.from_bytes(hashlib.sha256(b"recorder_sync leader").digest()[:8], "big", signed=True)
"""The advisory lock's key: a constant of the project (advisory locks are per database, so
two agencies' databases on one server have a leader each)."""

_KEEPALIVE = {
    # a leader cut off from the server learns it within ~40 s instead of the kernel's hours
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
    "connect_timeout": 10,
}


class PgLeadership:
    def __init__(self, url: str) -> None:
        # its own engine without a pool: the lock lives and dies with this one connection
        self.engine: Engine = create_engine(url, poolclass=NullPool, connect_args=_KEEPALIVE)
        self._conn: Connection | None = None

    def try_lead(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1")).scalar()
                return True
            except Exception as e:  # lost: the server ends the session and frees the lock
                log.warning("the leader's database connection is lost: %s", e)
                self._drop()
                return False
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except Exception as e:
            log.debug("cannot connect to try for the lead: %s", e)
            return False
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_KEY}).scalar())
        except Exception as e:
            log.debug("cannot try for the lead: %s", e)
            conn.invalidate()
            conn.close()
            return False
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_KEY})
        except Exception as e:  # the session is gone, and the lock with it
            log.debug("releasing the lead: %s", e)
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.invalidate()
            conn.close()
        except Exception as e:
            log.debug("closing the leader's connection: %s", e)


class FileLeadership:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_lead(self) -> bool:
        if self._fd is not None:
            if self._same_file(self._fd):
                return True
            # the file was removed or replaced by hand: another process may lock the new one
            log.warning("the leader lock file %s was replaced; leading no more", self.path)
            self.release()
            return False
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise DatabaseUnavailable(f"cannot open the leader lock {self.path}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise DatabaseUnavailable(f"cannot lock {self.path}: {e.strerror}") from None
        # who leads, for a person who looks (the lock is the flock, not this text)
        me = {"pid": os.getpid(), "since": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor frees the flock

    def _same_file(self, fd: int) -> bool:
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except OSError:
            return False
        mine = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


class SoleLeadership:
    """An in-memory database: this process is the only one that sees it."""

    def try_lead(self) -> bool:
        return True

    def release(self) -> None:
        pass


def leadership_for(engine: Engine) -> PgLeadership | FileLeadership | SoleLeadership:
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return PgLeadership(url.render_as_string(hide_password=False))
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return SoleLeadership()
    return FileLeadership(Path(database).with_name(Path(database).name + ".leader"))
