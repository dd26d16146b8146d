"""S3 benchmarks against a real RGW, each figure next to its baseline. Not a test.

eval "$(scripts/s3-server-start)"       # or any endpoint: S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY
python bench/s3_bench.py one   [--size-gib 1]   ingest+upload vs bare fput_object, same RGW
python bench/s3_bench.py docks [--docks 25 --files 4 --file-mib 40 --size-gib 1]   many docks vs one stream
python bench/s3_bench.py count [--docks 3 --files 2 --file-mib 40]   per file: requests, commits, stage times
python bench/s3_bench.py all
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest_bench import GIB, drain, make_file, run_measured_cpu, service
from minio import Minio
from sqlalchemy import event

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


def make_docks(root: Path, docks: int, files: int, file_mib: int) -> None:
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


def bench_docks(work: Path, docks: int, files: int, file_mib: int, exe: str, stream_gib: float) -> None:
    """The docks at once against the issue's baseline, one ``stream_gib`` file through the same
    command (``verify = "full"``); one dock of the same small files is shown beside them."""
    root = work / "s3-docks"
    make_docks(root, docks, files, file_mib)
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    single = root / "dock00"
    stream = work / "s3-stream"
    stream.mkdir(exist_ok=True)
    make_file(stream / "DSJ-S3STREAM_000001_20261127083015_0001.MP4", int(stream_gib * GIB))
    env = {
        **os.environ,
        "RECORDER_SYNC_RELEASE_POLICY": "keep",
        "RECORDER_SYNC_S3_ENDPOINT": os.environ["S3_ENDPOINT"],
        "RECORDER_SYNC_S3_ACCESS_KEY": os.environ["S3_ACCESS_KEY"],
        "RECORDER_SYNC_S3_SECRET_KEY": os.environ["S3_SECRET_KEY"],
    }

    def ingest(paths: list[Path], tag: str) -> tuple[float, float, float]:
        env["RECORDER_SYNC_HOME"] = str(work / f"s3-home-{tag}")
        env["RECORDER_SYNC_S3_BUCKET"] = f"bench-{tag}-{uuid.uuid4().hex[:8]}"
        result = run_measured_cpu([exe, "ingest", "-q", "--stable-seconds", "0", *map(str, paths)], env)
        shutil.rmtree(work / f"s3-home-{tag}", ignore_errors=True)
        return result

    def rate(paths: list[Path], tag: str) -> tuple[float, float, float]:
        """MB/s, peak RSS in MB, and the daemon's CPU seconds per GiB."""
        nbytes = sum(f.stat().st_size for p in paths for f in p.iterdir())
        seconds, rss, cpu = ingest(paths, tag)
        return nbytes / seconds / 1e6, rss, cpu / (nbytes / GIB)

    # the stream runs before and after the docks, the faster counting (as in bench_one): a
    # fixed order would favour whichever runs on a warmer or quieter cluster
    r1, rss1, _ = rate([single], "single")
    rs, rsss, cs = rate([stream], "stream")
    rn, rssn, cn = rate(sorted(root.iterdir()), "many")
    rs2, _, cs2 = rate([stream], "stream")
    if rs2 > rs:
        rs, cs = rs2, cs2
    print(
        f"{docks} docks × {files} files × {file_mib} MiB ({total / GIB:.2f} GiB), one `recorder-sync ingest`:"
    )
    print(
        f"  all docks: {rn:6.1f} MB/s (peak RSS {rssn:.0f} MB)   one {stream_gib:g} GiB stream, best of 2: "
        f"{rs:6.1f} MB/s (peak RSS {rsss:.0f} MB)   one dock: {r1:6.1f} MB/s (peak RSS {rss1:.0f} MB)"
    )
    print(f"  daemon CPU: docks {cn:.2f} s per GiB, the stream {cs:.2f} s per GiB")
    print(f"  ratio {rn / rs:4.2f}× the stream (aim ≥ 0.9×), {rn / r1:4.2f}× one dock; RSS aim ≤ 250 MB")
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(stream, ignore_errors=True)


def _request_kind(method: str, key: str | None, query: dict[str, Any] | None) -> str:
    """An S3 request as 'METHOD what [object]', e.g. 'PUT part media', 'HEAD manifest'."""
    q = query or {}
    what = {
        "uploads": "create-upload" if method == "POST" else "list-uploads",
        "partNumber": "part",
        "uploadId": "complete-upload" if method == "POST" else "abort-upload",
        "retention": "retention",
        "legal-hold": "legal-hold",
        "object-lock": "lock-config",
    }
    kind = next((v for k, v in what.items() if k in q), "object")
    if key is None:
        obj = "bucket"
    elif key.endswith(".manifest.json"):
        obj = "manifest"
    elif key.endswith(".manifest.sig"):
        obj = "signature"
    else:
        obj = "media"
    return f"{method} {kind} {obj}"


class StageTimes:
    """The ``Metrics`` port, adding up each stage's seconds (timed from the start of its step)."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()
        self.count: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def stage_done(self, stage: str, nbytes: int, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] += seconds
            self.count[stage] += 1

    def error(self, family: str, kind: str) -> None:
        print(f"  error: {family} {kind}")

    def sweep_done(self, seconds: float) -> None:
        pass


def bench_count(work: Path, docks: int, files: int, file_mib: int) -> None:
    """Per file: the S3 requests by kind, the database commits, and the time of each stage, for
    an in-process ingest of a few docks with two workers (as `run` has by default)."""
    root = work / "s3-count"
    make_docks(root, docks, files, file_mib)
    requests: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    url_open = Minio._url_open

    def counted(
        self: Minio,
        method: str,
        region: str,
        bucket_name: str | None = None,
        object_name: str | None = None,
        *a: Any,
        **kw: Any,
    ) -> Any:
        kind = _request_kind(method, object_name, kw.get("query_params"))
        with lock:
            requests[kind] += 1
        return url_open(self, method, region, bucket_name, object_name, *a, **kw)

    s3 = store(f"bench-count-{uuid.uuid4().hex[:8]}")
    svc = service(work, {p.name: p for p in sorted(root.iterdir())}, {}, store=s3)
    svc.workers = 2
    times = StageTimes()
    svc.metrics = times
    commits = collections.Counter[str]()
    wrote: set[int] = set()  # connections whose transaction wrote: its commit is synced

    def on_execute(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            wrote.add(id(conn))

    def on_commit(conn: Any) -> None:
        with lock:
            commits["all"] += 1
            commits["wrote"] += id(conn) in wrote
            wrote.discard(id(conn))

    def on_rollback(conn: Any) -> None:
        with lock:
            wrote.discard(id(conn))  # a rolled-back write must not count at the next commit

    event.listen(svc.catalog.engine, "after_cursor_execute", on_execute)
    event.listen(svc.catalog.engine, "commit", on_commit)
    event.listen(svc.catalog.engine, "rollback", on_rollback)
    Minio._url_open = counted  # type: ignore[method-assign]
    try:
        t = time.perf_counter()
        drain(svc)
        wall = time.perf_counter() - t
    finally:
        Minio._url_open = url_open  # type: ignore[method-assign]
    n = docks * files
    print(f"{n} files of {file_mib} MiB on {docks} docks, in-process, 2 workers: {wall:.2f} s")
    print(f"  S3 requests per file: {sum(requests.values()) / n:.1f}")
    for kind, count in sorted(requests.items()):
        print(f"    {kind:<32} {count / n:5.2f}")
    print(
        f"  database commits per file: {commits['wrote'] / n:.1f} that wrote (synced), "
        f"{commits['all'] / n:.1f} in all"
    )
    print("  stage seconds per file (from the start of the step that ended in it):")
    for stage, secs in sorted(times.seconds.items()):
        print(f"    {stage:<10} {secs / times.count[stage]:6.3f} s  ({times.count[stage]} done)")
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(work / "home", ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["one", "docks", "count", "all"])
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "recorder-sync-bench")
    p.add_argument("--size-gib", type=float, default=1.0)
    p.add_argument("--docks", type=int, default=25)
    p.add_argument("--files", type=int, default=4)
    p.add_argument("--file-mib", type=int, default=40)
    p.add_argument("--exe", default=EXE, help="the recorder-sync command to measure (docks)")
    a = p.parse_args()
    if "S3_ENDPOINT" not in os.environ:
        sys.exit('no S3 endpoint: eval "$(scripts/s3-server-start)" first')
    a.dir.mkdir(parents=True, exist_ok=True)
    print(f"# {os.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    if a.what in ("one", "all"):
        bench_one(a.dir, a.size_gib)
    if a.what in ("docks", "all"):
        bench_docks(a.dir, a.docks, a.files, a.file_mib, a.exe, a.size_gib)
    if a.what == "count":
        bench_count(a.dir, a.docks, a.files, a.file_mib)
    print(f"# bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
