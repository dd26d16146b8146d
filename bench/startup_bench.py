"""Start-up time of short commands. Prints each figure next to its baseline; asserts nothing.

    python bench/startup_bench.py [--runs 5] [--db-url sqlite:///…|postgresql://…]

Times ``recorder-sync --help`` and ``recorder-sync status`` (an empty database at the current
schema, made first with ``db upgrade``) as whole processes, median of ``--runs``. The
baseline is the floor every command that reads the database pays: the interpreter starting
and importing SQLAlchemy. What ``status`` costs above it is ours.

The commands run in turn, round after round, so that a machine busy with other work slows
them alike. They run with their bytecode cached (in a temporary ``PYTHONPYCACHEPREFIX``,
after a warm-up run), as an installed package has it, even where ``PYTHONDONTWRITEBYTECODE``
is set: otherwise every run would compile our modules from source.
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


def median_seconds(cmds: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, float]:
    """Each command's median, the commands taking turns (after one warm-up run each)."""
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for round_ in range(runs + 1):
        for name, cmd in cmds.items():
            start = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db-url", help="default: SQLite in a temporary home")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RECORDER_SYNC_", "PYTHONDONTWRITE"))}
        env["RECORDER_SYNC_HOME"] = home
        env["RECORDER_SYNC_DATABASE_URL"] = args.db_url or f"sqlite:///{home}/recorder-sync.db"
        env["PYTHONPYCACHEPREFIX"] = str(Path(home) / "pycache")
        subprocess.run([EXE, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
        took = median_seconds(
            {
                "python -c pass": [sys.executable, "-c", "pass"],
                "python -c import sqlalchemy.orm": [sys.executable, "-c", "import sqlalchemy.orm"],
                "recorder-sync --help": [EXE, "--help"],
                "recorder-sync status": [EXE, "status"],
            },
            env,
            args.runs,
        )
        baseline = "python -c import sqlalchemy.orm"
        print(f"median of {args.runs} runs, database {env['RECORDER_SYNC_DATABASE_URL'].split(':')[0]}")
        for name, seconds in took.items():
            ratio = f"{seconds / took[baseline]:.2f}× the baseline" if name.startswith("recorder") else ""
            print(f"{name:<32} {seconds:6.3f} s   {'(baseline)' if name == baseline else ratio}")


if __name__ == "__main__":
    main()
