"""The ``Leadership`` contract, on the fake and on both real adapters: the PostgreSQL advisory
lock (the holder's session) and the lock file next to a SQLite database. Where a holder dies,
it is a real process killed with ``kill -9``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import pg_database
from fakes import FakeLeadership, LeaderSeat
from pglocks import leader_lock_holders
from sqlalchemy import create_engine, text

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.leader import FileLeadership, PgLeadership, leadership_for
from recorder_sync.domain.ports import Leadership

# a holder in a process of its own: takes the lead, says so, and holds it until killed
HOLDER = """
import sys
from sqlalchemy import create_engine
from recorder_sync.adapters.db.leader import leadership_for
lead = leadership_for(create_engine(sys.argv[1]))
print("leading" if lead.try_lead() else "refused", flush=True)
sys.stdin.read()
"""


@dataclass
class Rig:
    make: Callable[[], Leadership]
    holder: Callable[[], Callable[[], None]]
    """Start a holder elsewhere (a process); returns how to kill it, which returns once its lead is free."""
    cut: Callable[[Leadership], None]
    """Lose ``lead``'s hold from outside (its connection ended, its lock file removed)."""


def _process_holder(url: str, freed: Callable[[subprocess.Popen[str]], None]) -> Callable[[], None]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "leading"

    def kill() -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        proc.stdout.close()
        freed(proc)

    return kill


def _until(condition: Callable[[], bool], what: str) -> None:
    """The server ends a dead client's session on its own time: wait for that, not a guess."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.fixture(params=["fake", "sqlite", "postgresql"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    made: list[Leadership] = []

    def keep(lead: Leadership) -> Leadership:
        made.append(lead)
        return lead

    with ExitStack() as stack:
        if request.param == "fake":
            seat = LeaderSeat()

            def fake_holder() -> Callable[[], None]:
                other = FakeLeadership(seat)
                assert other.try_lead()
                return other.die

            def fake_cut(lead: Leadership) -> None:
                assert isinstance(lead, FakeLeadership)
                lead.cut()

            yield Rig(lambda: keep(FakeLeadership(seat)), fake_holder, fake_cut)
        elif request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'catalog.db'}"
            engine = make_engine(url)
            stack.callback(engine.dispose)

            def removed(lead: Leadership) -> None:
                assert isinstance(lead, FileLeadership)
                lead.path.unlink()

            yield Rig(
                lambda: keep(leadership_for(engine)), lambda: _process_holder(url, lambda p: None), removed
            )
        else:
            url = stack.enter_context(pg_database(request.getfixturevalue("pg_server_url")))
            sa_url = url.replace("postgresql://", "postgresql+psycopg://")
            engine = make_engine(url)
            stack.callback(engine.dispose)

            def session_gone(proc: subprocess.Popen[str]) -> None:
                _until(lambda: leader_lock_holders(sa_url) == [], "the killed holder's session never ended")

            def terminated(lead: Leadership) -> None:
                assert isinstance(lead, PgLeadership)
                (pid,) = leader_lock_holders(sa_url)
                admin = create_engine(sa_url)
                with admin.connect() as c:
                    assert c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
                admin.dispose()
                _until(lambda: leader_lock_holders(sa_url) == [], "the terminated session never ended")

            yield Rig(
                lambda: keep(leadership_for(engine)),
                lambda: _process_holder(sa_url, session_gone),
                terminated,
            )
        for lead in made:
            lead.release()
            if isinstance(lead, PgLeadership):
                lead.engine.dispose()


def test_one_leads_at_a_time_and_keeps_it_until_it_lets_go(rig: Rig) -> None:
    a, b = rig.make(), rig.make()
    assert a.try_lead() is True
    assert b.try_lead() is False
    assert a.try_lead() is True  # asked again: still the leader, and b still not
    assert b.try_lead() is False
    a.release()
    assert b.try_lead() is True
    assert a.try_lead() is False
    b.release()
    b.release()  # a second release, or one by a process that does not lead, is harmless
    a.release()
    assert a.try_lead() is True


def test_a_holder_killed_hands_the_lead_over(rig: Rig) -> None:
    kill = rig.holder()
    mine = rig.make()
    assert mine.try_lead() is False
    kill()
    assert mine.try_lead() is True


def test_a_leader_that_loses_its_hold_stops_leading_at_its_next_check(rig: Rig) -> None:
    a, b = rig.make(), rig.make()
    assert a.try_lead() is True
    rig.cut(a)
    # the lead is free for another at once; the one cut off learns it at its next check
    assert b.try_lead() is True
    assert a.try_lead() is False
    assert a.try_lead() is False  # b leads now
    b.release()
    assert a.try_lead() is True  # a comes back as a fresh contender
