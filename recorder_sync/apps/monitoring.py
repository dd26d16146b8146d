"""``run``'s Prometheus endpoint (``[metrics] listen``): composed here so that prometheus_client is
imported only by a daemon that serves metrics."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from recorder_sync.adapters.db.engine import make_readonly_engine
from recorder_sync.adapters.db.metrics_repo import snapshot
from recorder_sync.adapters.metrics import (
    AlertQueue,
    MetricsServer,
    PrometheusMetrics,
    SnapshotCollector,
    new_registry,
)
from recorder_sync.apps.config import Settings
from recorder_sync.domain.metrics import Snapshot

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@dataclass
class Monitoring:
    metrics: PrometheusMetrics
    collector: SnapshotCollector
    server: MetricsServer

    def watch_alerts(self, queued: Callable[[], int], dropped: Callable[[], int]) -> None:
        self.collector.alerts = lambda: AlertQueue(queued(), dropped())

    def close(self) -> None:
        self.server.close()


def start_monitoring(settings: Settings, host: str, port: int) -> Monitoring:
    """Listen now (a port in use fails the start, exit 2); the database is read at each scrape,
    through an engine of its own that cannot write."""
    registry = new_registry()
    metrics = PrometheusMetrics(registry)

    @functools.cache
    def engine() -> Engine:  # made at the first scrape: the database exists by then
        return make_readonly_engine(settings.database_url)

    def read() -> Snapshot:
        return snapshot(engine(), timestamps=settings.timestamping is not None)

    collector = SnapshotCollector(read)
    registry.register(collector)
    return Monitoring(metrics, collector, MetricsServer(registry, host, port))
