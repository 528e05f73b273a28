"""The connection pools, timed: how often a checkout found no idle connection and how long it
waited for one (docs/operate.md, "Metrics"). A checkout that finds one idle costs a length
check, nothing more."""

from time import perf_counter

from prometheus_client import Histogram
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

POOL_WAITS = Histogram(
    "tenwatch_db_pool_wait_seconds",
    "Checkouts that found no idle database connection, by pool, and how long each waited "
    "(for a free one, or to open one more).",
    ["pool"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0),
)


class TimedPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio queue pool, its waits observed in POOL_WAITS."""

    role = "main"
    """The pool's label: main (every write, and PostgreSQL's reads) or read (SQLite's readers)."""
    _waiting = False

    def _do_get(self) -> ConnectionPoolEntry:
        if self._waiting or self._pool.qsize() > 0:  # one idle (or timed by the outer call)
            return super()._do_get()
        self._waiting = True
        started = perf_counter()
        try:
            return super()._do_get()
        finally:
            self._waiting = False
            POOL_WAITS.labels(self.role).observe(perf_counter() - started)


class ReadPool(TimedPool):
    """The pool of SQLite's read-only connections."""

    role = "read"
