"""What a scrape of /metrics reads at that moment from one app's parts (docs/operate.md,
"Metrics"): its sockets, its bus, its outbox, SQLite's checkpoint, its connection pools.

Counters and histograms live beside what they count, process-wide, in prometheus_client's
default registry. These readings are of one app, so each scrape renders them from a registry
of its own beside the default one: several apps in one process (the tests) never share them.
"""

from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from notifier.hub import Hub
from notifier.metrics import Backlog, hub_families, outbox_families
from server.runtime.checkpoint import Checkpointer


class _Read(Collector):
    """Gauges read already, handed to one scrape's registry."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        """The gauges."""
        return iter(self._families)


def render(
    *,
    hub: Hub,
    bus: str,
    outbox: Sequence[Backlog] | None,
    checkpointer: Checkpointer | None,
    pools: dict[str, AsyncEngine],
) -> bytes:
    """The text exposition of the process's metrics and this app's readings; `outbox` is None
    when the database could not be read."""
    families: list[Metric] = [
        *hub_families(sockets=hub.sockets(), bus=bus, bus_error=hub.bus.error),
        *_database(outbox),
        *_checkpoint(checkpointer),
        *_pools(pools),
    ]
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Read(families))
    return generate_latest(REGISTRY) + generate_latest(scrape)


def _database(outbox: Sequence[Backlog] | None) -> Iterable[Metric]:
    up = GaugeMetricFamily(
        "tenwatch_database_up", "1 when this scrape could read the database (the outbox), else 0."
    )
    up.add_metric([], 0 if outbox is None else 1)
    return [up, *outbox_families(outbox or ())]


def _checkpoint(checkpointer: Checkpointer | None) -> Iterable[Metric]:
    if checkpointer is None:  # PostgreSQL, or SQLite checkpointing on its own
        return []
    logged, copied = checkpointer.frames
    frames = GaugeMetricFamily(
        "tenwatch_sqlite_wal_frames", "Frames in SQLite's write-ahead log at the last checkpoint."
    )
    frames.add_metric([], logged)
    lag = GaugeMetricFamily(
        "tenwatch_sqlite_checkpoint_lag_frames",
        "Frames of SQLite's log not yet copied into the database at the last checkpoint.",
    )
    lag.add_metric([], max(0, logged - copied))
    return [frames, lag]


def _pools(pools: dict[str, AsyncEngine]) -> Iterable[Metric]:
    connections = GaugeMetricFamily(
        "tenwatch_db_pool_connections",
        "Database connections by pool and state (in_use, idle), and the pool's size.",
        labels=["pool", "state"],
    )
    for name, engine in pools.items():
        pool = engine.sync_engine.pool
        if isinstance(pool, QueuePool):
            connections.add_metric([name, "in_use"], pool.checkedout())
            connections.add_metric([name, "idle"], pool.checkedin())
            connections.add_metric([name, "size"], pool.size())
    return [connections]
