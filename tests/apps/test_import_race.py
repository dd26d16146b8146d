"""Two ``cases import`` / ``ledger import`` processes with the same file at the same moment,
on PostgreSQL (SQLite's write lock serialises them already): each action or checkout is
imported once, and the one that comes second finds nothing to do."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from clirunner import EXE, env_for, run, run_json
from pglocks import sessions_waiting_on_locks
from sqlalchemy import create_engine, text

ACTIONS = """case_id,action_id,action_type,unit,officers,start,end,target_id,target_name,place
C-1,A-1,seizure,Unit 3,031245;031246,2026-11-27T08:30:00+08:00,2026-11-27T09:10:00+08:00,,,
C-1,A-2,inspection,Unit 3,031245,2026-11-27T10:00:00+08:00,2026-11-27T10:30:00+08:00,,,
"""
LEDGER = """device,officer,start,end
CAM1,031245,2026-11-27T07:00:00+08:00,2026-11-27T18:00:00+08:00
CAM2,031246,2026-11-27T07:00:00+08:00,
"""


@pytest.mark.parametrize(
    ("command", "content", "table", "listing", "event"),
    [
        ("cases", ACTIONS, "actions", ["case", "list"], "action-imported"),
        ("ledger", LEDGER, "checkouts", ["ledger", "list"], "checkout-imported"),
    ],
)
def test_the_same_import_twice_at_once_imports_each_row_once(
    tmp_path: Path, pg_url: str, command: str, content: str, table: str, listing: list[str], event: str
) -> None:
    env = env_for(tmp_path / "home", pg_url)
    assert run(env, "db", "upgrade").returncode == 0
    path = tmp_path / f"{command}.csv"
    path.write_text(content, encoding="utf-8")
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as holder:
            me = {int(holder.execute(text("SELECT pg_backend_pid()")).scalar_one())}
            holder.rollback()
            # Both imports read what exists, then wait for the table this transaction holds:
            # the moment at which each would otherwise insert what the other inserts too.
            with holder.begin():
                holder.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
                procs = [
                    subprocess.Popen(
                        [EXE, command, "import", str(path)],
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                    for _ in range(2)
                ]
                deadline = time.monotonic() + 120
                while sessions_waiting_on_locks(pg_url, me) < 2:
                    assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
                    assert time.monotonic() < deadline, "the two imports never both waited"
                    time.sleep(0.05)
            outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, (out, err)
        # one imported the rows, the other found them already there
        assert sorted("0 added, 0 updated, 2 unchanged" in out for out, _ in outs) == [False, True], outs
        assert len(run_json(env, *listing)) == 2
        with engine.connect() as c:
            events = c.execute(text("SELECT action, count(*) FROM custody_events GROUP BY action")).all()
            assert dict(events)[event] == 2
            if command == "cases":
                versions = c.execute(text("SELECT action_id, version FROM action_history")).all()
                assert sorted(versions) == [("A-1", 1), ("A-2", 1)]
    finally:
        engine.dispose()
