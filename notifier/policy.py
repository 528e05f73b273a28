"""The outbox's policy: how the worker paces itself, holds its claims and retries.

Apart from the worker because the journal reads it too (leases, retries); `backoff` is the
retry schedule it names.
"""

import random
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class OutboxPolicy:
    """How the worker paces itself and retries."""

    poll_seconds: float = 1.0
    batch_size: int = 50
    lease_seconds: float = 5.0
    """How long a claim holds without renewal; the live worker renews it every third of this,
    so a dead worker's jobs are taken over this long after it died."""
    concurrency: int = 8
    max_attempts: int = 5
    backoff_seconds: float = 2.0
    status_callback: str | None = None
    """The receipts URL; each job's own is this with `?job=ID`."""
    rate_per_second: float = 0.0
    """Sends per second through this sender (0: no limit); lookups are not counted."""
    rate_burst: int = 10
    """Sends that may go at once before the rate applies."""
    record_seconds: float = 0.1
    """How long a send's outcome may wait to share a commit with others."""


def backoff(*, attempts: int, base: float) -> timedelta:
    """Exponential backoff with full jitter after the given number of attempts."""
    return timedelta(seconds=random.uniform(0, base * 2 ** max(attempts - 1, 0)))
