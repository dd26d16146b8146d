"""Start-up time of short commands. Prints each figure next to its baseline; asserts nothing.

    python bench/startup_bench.py [--runs 5] [--db-url sqlite:///…|postgresql://…]

Times ``recorder-sync --help`` and ``recorder-sync status`` (an empty database at the current
schema, made first with ``db upgrade``) as whole processes, median of ``--runs``. The
baseline is the floor every command that reads the database pays: the interpreter starting
and importing SQLAlchemy. What ``status`` costs above it is ours.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = str(Path(sys.executable).with_name("recorder-sync"))


def median_seconds(cmd: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db-url", help="default: SQLite in a temporary home")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDER_SYNC_")}
        env["RECORDER_SYNC_HOME"] = home
        env["RECORDER_SYNC_DATABASE_URL"] = args.db_url or f"sqlite:///{home}/recorder-sync.db"
        subprocess.run([EXE, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
        floor = median_seconds([sys.executable, "-c", "import sqlalchemy.orm"], env, args.runs)
        bare = median_seconds([sys.executable, "-c", "pass"], env, args.runs)
        print(f"median of {args.runs} runs, database {env['RECORDER_SYNC_DATABASE_URL'].split(':')[0]}")
        print(f"{'python -c pass':<28} {bare:6.3f} s")
        print(f"{'python -c import sqlalchemy':<28} {floor:6.3f} s   (baseline)")
        for cmd in (["--help"], ["status"]):
            took = median_seconds([EXE, *cmd], env, args.runs)
            print(f"{'recorder-sync ' + ' '.join(cmd):<28} {took:6.3f} s   {took / floor:.2f}× the baseline")


if __name__ == "__main__":
    main()
