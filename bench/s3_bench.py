"""S3 benchmarks against a real RGW, each figure next to its baseline. Not a test.

eval "$(scripts/s3-server-start)"       # or any endpoint: S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY
python bench/s3_bench.py one   [--size-gib 1]   ingest+upload vs bare fput_object, same RGW
python bench/s3_bench.py docks [--docks 25 --files 4 --file-mib 40]   many docks at once: throughput, peak RSS
python bench/s3_bench.py all
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from ingest_bench import GIB, drain, make_file, run_measured, service
from minio import Minio

from recorder_sync.adapters.s3store import S3Settings, S3Store

MiB = 1 << 20
EXE = str(Path(sys.executable).with_name("recorder-sync"))


def settings(bucket: str, verify: str = "full") -> S3Settings:
    return S3Settings(
        endpoint=os.environ["S3_ENDPOINT"],
        bucket=bucket,
        access_key=os.environ["S3_ACCESS_KEY"],
        secret_key=os.environ["S3_SECRET_KEY"],
        create_bucket=True,
        retention_days={"bench": 1},
        default_retention_class="bench",
        verify=verify,
    )


def store(bucket: str, verify: str = "full") -> S3Store:
    s = S3Store(settings(bucket, verify), lambda: datetime.now(UTC))
    s.open_bucket()
    return s


def bench_one(work: Path, size_gib: float) -> None:
    dock = work / "s3-one"
    dock.mkdir(exist_ok=True)
    f = make_file(dock / "DSJ-S3BENCH_000001_20261127083015_0001.MP4", int(size_gib * GIB))
    size = f.stat().st_size
    st = settings("bench-settings")
    client = Minio(st.host, access_key=st.access_key, secret_key=st.secret_key, secure=st.secure)
    bare_bucket = f"bench-bare-{uuid.uuid4().hex[:8]}"
    client.make_bucket(bare_bucket, object_lock=True)

    def timed(fn: object) -> float:
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        return time.perf_counter() - t

    def bare_put() -> float:
        return timed(
            lambda: client.fput_object(
                bare_bucket,
                f"bare-{uuid.uuid4().hex[:8]}",
                str(f),
                part_size=st.part_size,
                num_parallel_uploads=st.parallel_uploads,
            )
        )

    # the baseline runs before and after ours: a fresh cluster is slower at first, so a
    # fixed order would favour whichever runs last; the faster of the two is the baseline
    results: dict[str, float] = {"bare": bare_put()}
    for verify in ("stat", "full"):
        results[verify] = timed(
            lambda v=verify: drain(service(work, dock, {}, store=store(f"bench-{uuid.uuid4().hex[:8]}", v)))
        )  # type: ignore[misc]
    results["bare"] = min(results["bare"], bare_put())
    bare = results["bare"]
    print(f"ingest + upload of a {size / GIB:.2f} GiB cached file to {os.environ['S3_ENDPOINT']} (one run):")
    print(
        f"  bare minio fput_object ({st.part_size // MiB} MiB parts × {st.parallel_uploads}, best of 2): "
        f"{bare:6.2f} s "
        f"({size / bare / 1e6:5.0f} MB/s)"
    )
    for verify, aim in (("stat", "≤ 1.10×"), ("full", "≤ 1.35×")):
        t = results[verify]
        print(
            f"  recorder_sync, verify={verify:<4} (then {'re-read' if verify == 'full' else 'stat only'}): "
            f"{t:6.2f} s   ratio {t / bare:4.2f}× bare   aim {aim}"
        )
    shutil.rmtree(dock, ignore_errors=True)
    shutil.rmtree(work / "home", ignore_errors=True)


def bench_docks(work: Path, docks: int, files: int, file_mib: int) -> None:
    root = work / "s3-docks"
    shutil.rmtree(root, ignore_errors=True)
    rng_block = os.urandom(MiB)
    for d in range(docks):
        folder = root / f"dock{d:02d}"
        folder.mkdir(parents=True)
        for i in range(files):
            with open(folder / f"DSJ-D{d:02d}_0312{d:02d}_20261127{8 + i:02d}0000_{i:04d}.MP4", "wb") as f:
                f.write(os.urandom(16))  # distinct content per file
                for _ in range(file_mib):
                    f.write(rng_block)
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    # single stream: one dock's files, same file size, through the same daemon
    single = root / "dock00"
    env = {
        **os.environ,
        "RECORDER_SYNC_RELEASE_POLICY": "keep",
        "RECORDER_SYNC_S3_ENDPOINT": os.environ["S3_ENDPOINT"],
        "RECORDER_SYNC_S3_ACCESS_KEY": os.environ["S3_ACCESS_KEY"],
        "RECORDER_SYNC_S3_SECRET_KEY": os.environ["S3_SECRET_KEY"],
    }

    def ingest(paths: list[Path], tag: str) -> tuple[float, float]:
        env["RECORDER_SYNC_HOME"] = str(work / f"s3-home-{tag}")
        env["RECORDER_SYNC_S3_BUCKET"] = f"bench-{tag}-{uuid.uuid4().hex[:8]}"
        result = run_measured([EXE, "ingest", "-q", "--stable-seconds", "0", *map(str, paths)], env)
        shutil.rmtree(work / f"s3-home-{tag}", ignore_errors=True)
        return result

    single_bytes = sum(p.stat().st_size for p in single.iterdir())
    t1, rss1 = ingest([single], "single")
    tn, rssn = ingest(sorted(root.iterdir()), "many")
    r1, rn = single_bytes / t1 / 1e6, total / tn / 1e6
    print(
        f"{docks} docks × {files} files × {file_mib} MiB ({total / GIB:.2f} GiB), one `recorder-sync ingest`:"
    )
    print(
        f"  single dock: {r1:6.1f} MB/s (peak RSS {rss1:.0f} MB)   all docks: {rn:6.1f} MB/s "
        f"(peak RSS {rssn:.0f} MB)   ratio {rn / r1:4.2f}× (aim ≥ 0.9×), RSS aim ≤ 250 MB"
    )
    shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["one", "docks", "all"])
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "recorder-sync-bench")
    p.add_argument("--size-gib", type=float, default=1.0)
    p.add_argument("--docks", type=int, default=25)
    p.add_argument("--files", type=int, default=4)
    p.add_argument("--file-mib", type=int, default=40)
    a = p.parse_args()
    if "S3_ENDPOINT" not in os.environ:
        sys.exit('no S3 endpoint: eval "$(scripts/s3-server-start)" first')
    a.dir.mkdir(parents=True, exist_ok=True)
    print(f"# {os.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    if a.what in ("one", "all"):
        bench_one(a.dir, a.size_gib)
    if a.what in ("docks", "all"):
        bench_docks(a.dir, a.docks, a.files, a.file_mib)
    print(f"# bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
