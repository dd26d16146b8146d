"""The cost of one metrics scrape's database queries at scale, next to ``status`` (its baseline: the
catalog's own counts, which a person runs by hand). Prints figures; asserts nothing.

    python bench/metrics_bench.py [--recordings 200000] [--actions 20000] [--db sqlite,postgresql]
                                  [--rounds 5] [--pg-url postgresql://…]   (default: $DATABASE_URL)

The rows are those of ``sweep_bench.populate`` (a year of synthetic work). The scrape's queries
(``adapters.db.metrics_repo.snapshot``) and ``status`` are timed in turns, one after the other,
so that a loaded machine slows both alike; the figure is the median of each and their ratio.
Aim: a scrape costs no more than ``status`` (≤ 1.0×), and well under a scrape interval (15 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

from benchdb import each_database
from sweep_bench import populated, timed

from recorder_sync.adapters.db.engine import make_readonly_engine
from recorder_sync.adapters.db.metrics_repo import snapshot


def bench(url: str, n_recordings: int, n_actions: int, rounds: int) -> None:
    engine, catalog, _ = populated(url, n_recordings, n_actions)
    name = engine.dialect.name
    scraper = make_readonly_engine(url)
    scrapes: list[float] = []
    statuses: list[float] = []
    for _ in range(rounds):
        snap, seconds = timed(lambda: snapshot(scraper, timestamps=True))
        scrapes.append(seconds)
        status, seconds = timed(catalog.status)
        statuses.append(seconds)
    assert snap.backlog == status["backlog"]  # the same figure, or the comparison means nothing
    scrape, baseline = statistics.median(scrapes), statistics.median(statuses)
    print(f"[{name}] scrape queries (median of {rounds})  {scrape:7.3f} s   aim: <= status, << 15 s")
    print(f"[{name}] status (baseline)               {baseline:7.3f} s")
    print(f"[{name}] ratio scrape / status           {scrape / baseline:7.2f}x")
    scraper.dispose()
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recordings", type=int, default=200_000)
    p.add_argument("--actions", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--db", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    p.add_argument("--pg-url", default=os.environ.get("DATABASE_URL"), help="default: $DATABASE_URL")
    args = p.parse_args(argv)
    each_database(
        args.db,
        args.pg_url,
        lambda url: bench(url, args.recordings, args.actions, args.rounds),
        prefix="metrics-bench-",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
