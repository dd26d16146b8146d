"""Prometheus metrics (``[metrics] listen``): the ``Metrics`` port as counters and histograms, the
database's figures as gauges computed when scraped, and the HTTP endpoint that serves them.

The gauges are read by :class:`SnapshotCollector` on the scraping thread, on its own read-only
engine: a scrape never waits for, or holds up, the ingest loop's session. Scrapes are taken one
at a time, so a burst of them costs one set of queries after another, never many at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

from recorder_sync.domain.errors import MetricsListenFailed
from recorder_sync.domain.metrics import Snapshot, age_seconds

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger(__name__)

NS = "recorder_sync"
STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class PrometheusMetrics:
    """The ``Metrics`` port (``domain.ports``), thread-safe as prometheus_client's types are."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.files = Counter(
            f"{NS}_files", "Files and recordings that finished a pipeline stage", ["stage"], registry=registry
        )
        self.bytes = Counter(
            f"{NS}_bytes", "Bytes of the files that finished a pipeline stage", ["stage"], registry=registry
        )
        self.duration = Histogram(
            f"{NS}_stage_duration_seconds",
            "Time one file or recording spent in a pipeline stage",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            f"{NS}_errors",
            "Errors, by where they came from and their kind",
            ["family", "kind"],
            registry=registry,
        )
        self.storage_ok = Gauge(
            f"{NS}_storage_last_success_timestamp_seconds",
            "When the object store last took or verified a copy (Unix time; 0: not yet)",
            registry=registry,
        )
        self.storage_failed = Gauge(
            f"{NS}_storage_last_error_timestamp_seconds",
            "When the object store last failed (Unix time; 0: not since the start)",
            registry=registry,
        )
        self.sweep = Gauge(
            f"{NS}_last_sweep_duration_seconds",
            "How long this daemon's last linking and deadline sweep took",
            registry=registry,
        )

    def stage_done(self, stage: str, nbytes: int, seconds: float) -> None:
        self.files.labels(stage).inc()
        self.bytes.labels(stage).inc(nbytes)
        self.duration.labels(stage).observe(seconds)
        if stage in ("stored", "verified"):
            self.storage_ok.set_to_current_time()

    def error(self, family: str, kind: str) -> None:
        self.errors.labels(family, kind).inc()
        if family == "storage":
            self.storage_failed.set_to_current_time()

    def sweep_done(self, seconds: float) -> None:
        self.sweep.set(seconds)


@dataclass(frozen=True)
class AlertQueue:
    length: int
    dropped: int


class SnapshotCollector(Collector):
    """The gauges read from the database, computed when scraped. A database that does not
    answer gives ``recorder_sync_database_up 0`` (and nothing else from it), not a failed scrape."""

    def __init__(
        self,
        read: Callable[[], Snapshot],
        alerts: Callable[[], AlertQueue] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.read = read
        self.alerts = alerts
        self.clock = clock
        self._one_at_a_time = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        if self.alerts is not None:
            queue = self.alerts()
            yield GaugeMetricFamily(f"{NS}_alert_queue_length", "Alerts waiting to be sent", queue.length)
            yield CounterMetricFamily(
                f"{NS}_alerts_dropped", "Alerts dropped because the queue was full", queue.dropped
            )
        started = time.monotonic()
        with self._one_at_a_time:
            try:
                snap = self.read()
            except Exception as e:  # a scrape reports the outage; the daemon's log has the detail
                log.warning("metrics: the database did not answer: %s", e)
                yield GaugeMetricFamily(f"{NS}_database_up", "Whether the database answered this scrape", 0)
                return
        now = self.clock()
        yield GaugeMetricFamily(f"{NS}_database_up", "Whether the database answered this scrape", 1)
        yield GaugeMetricFamily(
            f"{NS}_scrape_query_seconds",
            "Time the database queries of this scrape took",
            time.monotonic() - started,
        )
        yield _labelled(f"{NS}_recordings", "Recordings by state", ["state"], snap.recordings)
        yield _labelled(f"{NS}_dock_files", "Files seen on the docks, by state", ["state"], snap.dock_files)
        yield GaugeMetricFamily(f"{NS}_backlog", "Files and recordings not yet done", snap.backlog)
        yield GaugeMetricFamily(
            f"{NS}_oldest_pending_age_seconds",
            "Age of the oldest file or recording not yet done (0: none)",
            age_seconds(snap.oldest_pending, now),
        )
        flags = GaugeMetricFamily(
            f"{NS}_open_flags", "Open flags by kind and severity", labels=["kind", "severity"]
        )
        for (kind, severity), n in sorted(snap.open_flags.items()):
            flags.add_metric([kind, severity], n)
        yield flags
        yield GaugeMetricFamily(
            f"{NS}_last_sweep_timestamp_seconds",
            "As of when the last deadline sweep ran, by any daemon (Unix time; 0: never)",
            _unix(snap.last_sweep),
        )
        yield GaugeMetricFamily(f"{NS}_log_entries", "Entries in the custody log", snap.log_size)
        yield GaugeMetricFamily(
            f"{NS}_log_unpublished_entries",
            "Custody log entries no published checkpoint covers yet",
            max(0, snap.log_size - snap.checkpoint_size),
        )
        yield GaugeMetricFamily(
            f"{NS}_last_checkpoint_timestamp_seconds",
            "When the last checkpoint of the custody log was published (Unix time; 0: never)",
            _unix(snap.last_checkpoint),
        )
        if snap.checkpoints_without_timestamp is not None:
            yield GaugeMetricFamily(
                f"{NS}_checkpoints_without_timestamp",
                "Published checkpoints still waiting for their RFC 3161 token",
                snap.checkpoints_without_timestamp,
            )


def _labelled(name: str, doc: str, labels: list[str], values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, n in sorted(values.items()):
        family.add_metric([key], n)
    return family


def _unix(at: datetime | None) -> float:
    return 0.0 if at is None else at.timestamp()


def new_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # memory, CPU, open files: the daemon's own health
    return registry


class MetricsServer:
    """``/metrics`` over HTTP on ``(host, port)``, in one background thread, until :meth:`close`."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self.server: WSGIServer
        try:
            self.server, self.thread = start_http_server(port, host, registry)
        except OSError as e:
            raise MetricsListenFailed(
                f"{host}:{port}" if ":" not in host else f"[{host}]:{port}", e.strerror or str(e)
            ) from None

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
