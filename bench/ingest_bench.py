"""Ingest benchmarks: each prints our figure next to its baseline. Not a test: nothing asserts on time.

    python bench/ingest_bench.py hash   [--size-gib 2]   hashing stage vs `openssl dgst -sha256`
    python bench/ingest_bench.py ingest [--size-gib 2] [--pairs 5]   whole ingest into the vault vs
                                                     `cp` + `sync FILE` + `openssl dgst` of the copy
    python bench/ingest_bench.py rss    [--sizes 0.25,1,4]  peak RSS of `recorder-sync ingest` per file size
    python bench/ingest_bench.py small  [--files 1000]   files per second and the database's share
    python bench/ingest_bench.py all

Files are made in --dir (default: a folder under the system temp dir) and are read once
before timing so that both sides hash from the page cache.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from recorder_sync.adapters import keys
from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.dockfs import DockFolder
from recorder_sync.adapters.probe import FfprobeProber
from recorder_sync.adapters.vault import Vault
from recorder_sync.domain.model import ReleasePolicy
from recorder_sync.domain.naming import BUILTIN_PROFILES
from recorder_sync.domain.ports import ObjectStore
from recorder_sync.io.hashing import sha256_file
from recorder_sync.services.ingest import Dock, IngestService

GIB = 1 << 30
EXE = str(Path(sys.executable).with_name("recorder-sync"))


def make_file(path: Path, size: int) -> Path:
    if not path.exists() or path.stat().st_size != size:
        block = os.urandom(1 << 20)
        with open(path, "wb") as f:
            for _ in range(size >> 20):
                f.write(block)
            f.write(block[: size & ((1 << 20) - 1)])
    with open(path, "rb") as f:  # warm the page cache
        while f.read(8 << 20):
            pass
    return path


def best_of(n: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def row(label: str, ours: float, base: float, size: int, aim: str) -> None:
    mbps = lambda t: size / t / 1e6  # noqa: E731
    print(
        f"{label:<34} ours {ours:7.2f} s ({mbps(ours):6.0f} MB/s)   baseline {base:7.2f} s "
        f"({mbps(base):6.0f} MB/s)   ratio {ours / base:5.2f}×   aim {aim}"
    )


def bench_hash(work: Path, size_gib: float) -> None:
    f = make_file(work / "big.bin", int(size_gib * GIB))
    size = f.stat().st_size

    def ours() -> None:
        with open(f, "rb", buffering=0) as fh:
            sha256_file(fh)

    t_ours = best_of(3, ours)
    t_ssl = best_of(3, lambda: sh("openssl", "dgst", "-sha256", str(f)))
    print(f"hashing {size / GIB:.1f} GiB cached file (best of 3); speed ratio = openssl time / ours:")
    row("sha256_file vs openssl dgst", t_ours, t_ssl, size, "openssl/ours ≥ 1.0")
    print(f"{'':<34} speed ratio {t_ssl / t_ours:.2f}× of openssl")


class Timed:
    """Wraps an adapter and adds up the seconds spent in it."""

    def __init__(self, inner: Any, totals: dict[str, float], name: str) -> None:
        self._inner, self._totals, self._name = inner, totals, name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if not callable(value):
            return value

        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return value(*a, **kw)
            finally:
                self._totals[self._name] = self._totals.get(self._name, 0.0) + time.perf_counter() - t

        return timed


def service(
    work: Path,
    dock_dir: Path | dict[str, Path],
    totals: dict[str, float],
    db_url: str | None = None,
    store: ObjectStore | None = None,
) -> IngestService:
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    engine = make_engine(db_url or f"sqlite:///{home / 'db.sqlite'}")
    upgrade(engine)
    docks = dock_dir if isinstance(dock_dir, dict) else {"d": dock_dir}
    return IngestService(
        catalog=Timed(SqlCatalog(engine, station="bench", actor="bench"), totals, "database"),  # type: ignore[arg-type]
        store=Timed(store or Vault(home / "vault"), totals, "store+verify"),  # type: ignore[arg-type]
        signer=keys.load_or_create(home / "keys" / "station.key"),
        prober=Timed(FfprobeProber(), totals, "ffprobe"),  # type: ignore[arg-type]
        docks={
            name: Dock(
                DockFolder(name, path),
                tuple(BUILTIN_PROFILES.values()),
                ZoneInfo("Asia/Shanghai"),
                timedelta(0),
            )
            for name, path in docks.items()
        },
        station="bench",
        release_policy=ReleasePolicy.KEEP,
        clock=lambda: datetime.now(UTC),
        software="bench",
    )


def drain(svc: IngestService) -> None:
    for name in svc.docks:
        svc.scan(name)
    while svc.run_once().progressed:
        pass


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its waited-for children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measured(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``fn``. On a machine others load too, the CPU seconds
    compare better than the wall: a share of the cores comes and goes."""
    t, c = time.perf_counter(), cpu_seconds()
    fn()
    return time.perf_counter() - t, cpu_seconds() - c


def bench_ingest(work: Path, size_gib: float, pairs: int) -> None:
    """Our whole ingest of one file by a station already set up (its database and key made
    beforehand, untimed) against a durable copy made by hand, run in turns (ours, theirs,
    theirs, ours, …) so that a load that comes and goes weighs on both; the figures are the
    medians of the pairs' ratios."""
    dock = work / "dock"
    dock.mkdir(exist_ok=True)
    f = make_file(dock / "DSJ-BENCH_000001_20261127083015_0001.MP4", int(size_gib * GIB))
    size = f.stat().st_size
    dst = work / "copy.bin"

    def ours() -> tuple[float, float]:
        svc = service(work, dock, {})
        return measured(lambda: drain(svc))

    def durable_baseline() -> None:
        # what an operator would do by hand: copy, make the copy durable, hash the copy
        dst.unlink(missing_ok=True)
        sh("cp", str(f), str(dst))
        sh("sync", str(dst))
        sh("openssl", "dgst", "-sha256", str(dst))

    def baseline() -> None:
        dst.unlink(missing_ok=True)
        sh("cp", str(f), str(dst))
        sh("openssl", "dgst", "-sha256", str(f))

    print(f"whole ingest of a {size / GIB:.1f} GiB cached file into the vault, {pairs} pairs in turns")
    print("(hash + stage, probe, sign, store, re-hash the stored copy) against")
    print("cp + sync FILE + openssl dgst -sha256 of the copy; wall and CPU seconds:")
    durable: list[tuple[tuple[float, float], tuple[float, float]]] = []
    plain: list[tuple[tuple[float, float], tuple[float, float]]] = []
    for i in range(pairs):
        if i % 2 == 0:
            us, them = ours(), measured(durable_baseline)
        else:
            them, us = measured(durable_baseline), ours()
        durable.append((us, them))
        plain.append((us, measured(baseline)))
        print(
            f"  pair {i + 1}: ours {us[0]:6.2f} s (CPU {us[1]:5.2f} s)   "
            f"cp + sync + openssl {them[0]:6.2f} s (CPU {them[1]:5.2f} s)   "
            f"{us[0] / them[0]:5.2f}× wall, {us[1] / them[1]:5.2f}× CPU"
        )
    for label, runs, aim in (
        ("ingest vs cp + sync + openssl dgst", durable, "≤ 0.9×"),
        ("ingest vs cp + openssl dgst", plain, "(not durable)"),
    ):
        t_ours = statistics.median(o[0] for o, _ in runs)
        t_base = statistics.median(b[0] for _, b in runs)
        row(label, t_ours, t_base, size, aim)
        wall = statistics.median(o[0] / b[0] for o, b in runs)
        cpu = statistics.median(o[1] / b[1] for o, b in runs)
        print(f"{'':<34} medians of the pairs' ratios: {wall:.2f}× wall, {cpu:.2f}× CPU")
    totals: dict[str, float] = {}
    svc = service(work, dock, totals)
    totals.clear()
    t = time.perf_counter()
    drain(svc)
    total = time.perf_counter() - t
    parts = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(totals.items()))
    print(
        f"{'':<34} one run {total:.2f} s: {parts}; hashing (with the copy to the vault) and "
        f"the rest {total - sum(totals.values()):.2f} s"
    )
    shutil.rmtree(work / "home", ignore_errors=True)
    dst.unlink(missing_ok=True)


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of a command: see ``run_measured_cpu``."""
    seconds, peak, _ = run_measured_cpu(cmd, env)
    return seconds, peak


def run_measured_cpu(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(seconds, peak RSS in MB, CPU seconds user + system) of a command. The peak is the
    child's own VmHWM, polled from /proc: getrusage/wait4 would also count the RSS this
    (large) process had when it forked. Its CPU time is taken from wait4, which is right."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    peak_kib = 0
    status = Path(f"/proc/{proc.pid}/status")
    while True:
        pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kib = max(peak_kib, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    elapsed = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(wait_status)
    assert proc.returncode == 0, f"{cmd[:2]} failed with {proc.returncode}"
    return elapsed, peak_kib / 1024, usage.ru_utime + usage.ru_stime


def bench_rss(work: Path, sizes: list[float]) -> None:
    print("peak RSS of `recorder-sync ingest FILE` (whole process, vault + SQLite), aim ≤ 150 MB and flat:")
    for gib in sizes:
        dock = work / f"rss-{gib}"
        dock.mkdir(exist_ok=True)
        make_file(dock / "DSJ-RSS_000001_20261127083015_0001.MP4", int(gib * GIB))
        env = {
            **os.environ,
            "RECORDER_SYNC_HOME": str(work / f"rss-home-{gib}"),
            "RECORDER_SYNC_RELEASE_POLICY": "keep",
        }
        elapsed, peak = run_measured([EXE, "ingest", "-q", str(dock), "--stable-seconds", "0"], env)
        print(f"  {gib:6.2f} GiB file: peak RSS {peak:6.1f} MB   ({elapsed:.1f} s)")
        shutil.rmtree(work / f"rss-home-{gib}", ignore_errors=True)
        shutil.rmtree(dock, ignore_errors=True)


def bench_small(work: Path, n: int, db_url: str | None) -> None:
    dock = work / "small"
    shutil.rmtree(dock, ignore_errors=True)
    dock.mkdir()
    start = datetime(2026, 11, 27, 8, 0)
    for i in range(n):
        name = f"DSJ-S{i % 7}_0312{i % 50:02d}_{(start + timedelta(seconds=5 * i)):%Y%m%d%H%M%S}_{i:04d}.MP4"
        (dock / name).write_bytes(os.urandom(4096))
    totals: dict[str, float] = {}
    svc = service(work, dock, totals, db_url)
    t = time.perf_counter()
    drain(svc)
    elapsed = time.perf_counter() - t
    db = totals.get("database", 0.0)
    print(f"{n} small files (4 KiB, unreadable as media → each probed and flagged) on {db_url or 'SQLite'}:")
    print(
        f"  {n / elapsed:7.1f} files/s ({elapsed:.1f} s); database {db:.1f} s = {100 * db / elapsed:.0f} % "
        f"of the time; ffprobe {totals.get('ffprobe', 0):.1f} s; "
        f"store+verify {totals.get('store+verify', 0):.1f} s"
    )
    # the probes run ahead on a pool of their own (services.probe_ahead): the seconds are added
    # up over its threads, and include their catalog reads, so the shares can exceed 100 %
    print("  (seconds added up over all threads: the probes run two at a time beside the pipeline)")
    shutil.rmtree(dock, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["hash", "ingest", "rss", "small", "all"])
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "recorder-sync-bench")
    p.add_argument("--size-gib", type=float, default=2.0)
    p.add_argument("--sizes", default="0.25,1,4")
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--pairs", type=int, default=5, help="for 'ingest': runs of each, in turns")
    p.add_argument("--db-url", help="for 'small': e.g. a PostgreSQL URL (default SQLite)")
    a = p.parse_args()
    a.dir.mkdir(parents=True, exist_ok=True)
    print(f"# {os.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; work dir {a.dir}")
    if a.what in ("hash", "all"):
        bench_hash(a.dir, a.size_gib)
    if a.what in ("ingest", "all"):
        bench_ingest(a.dir, a.size_gib, a.pairs)
    if a.what in ("rss", "all"):
        bench_rss(a.dir, [float(s) for s in a.sizes.split(",")])
    if a.what in ("small", "all"):
        bench_small(a.dir, a.files, a.db_url)
    print(f"# bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
