"""Probes started ahead of the pipeline's probe step, a few at a time on a small pool.

ffprobe costs a process start (about 70 ms) for every file, most of a small file's time.
The ingest pass starts the probes of a claimed batch of recordings together, and each
recording's probe step takes its result when it comes to it: one file's ffprobe runs
while other recordings are signed, stored, verified and committed.

A result is used once, by the recording it was started for, in that recording's probe
step, which records it: the custody events keep their order (hashed, then probed), and
a file that no prober can read is probed once like any other, its answer ("unreadable")
used as it is. A probe that has not begun when its step comes is run by the step itself
instead of waiting behind the others. The pool lives for one batch (``close``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

PROBE_THREADS = 2
"""ffprobe is a process of its own: two at a time keep both cores of a docking PC busy
beside the pipeline's thread without queueing for the CPU."""


class ProbeAhead(Generic[K, V]):
    """Work started for keys (a recording's id), each result taken once by its key."""

    def __init__(self, threads: int = PROBE_THREADS) -> None:
        self.threads = max(0, threads)
        self._pool: ThreadPoolExecutor | None = None  # made on first use
        self._started: dict[K, Future[V]] = {}
        self._lock = threading.Lock()

    def start(self, jobs: Iterable[tuple[K, Callable[[], V]]]) -> None:
        """Begin each key's work unless begun already (none at all with ``threads`` < 1)."""
        if not self.threads:
            return
        with self._lock:
            for key, work in jobs:
                if key not in self._started:
                    if self._pool is None:
                        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="probe")
                    self._started[key] = self._pool.submit(work)

    def take(self, key: K, work: Callable[[], V]) -> V:
        """The result of the work started for ``key`` (or its exception), once; ``work``
        is done here and now when none was started, or when it has not begun yet rather
        than waited for behind the others."""
        with self._lock:
            future = self._started.pop(key, None)
        if future is None or future.cancel():
            return work()
        return future.result()

    def close(self) -> None:
        """End the batch: work not taken is let go (cancelled if not begun: the items may
        have moved on meanwhile, and are probed afresh if they come back), and the pool's
        threads are joined, so that none outlives the pass that started it."""
        with self._lock:
            started, self._started = self._started, {}
            pool, self._pool = self._pool, None
        for future in started.values():
            future.cancel()
        if pool is not None:
            pool.shutdown(wait=True)
