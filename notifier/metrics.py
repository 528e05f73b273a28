"""The delivery side's metrics (docs/operate.md, "Metrics"): what the outbox's sends came to,
how long a press took to reach this process's sockets, and the readings taken at scrape time
(sockets by kind, the bus, the outbox's backlog).

Counters and histograms are process-wide, in prometheus_client's default registry: one
process is one scrape target. Labels are bounded: a channel, a kind, a provider's error code,
never a phone, a household or an alarm.
"""

import asyncio
from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.models import PENDING, SENDING, OutboxMessage
from notifier.sms.base import Outcome, SendResult

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds, for the press's histograms: a press is answered in tens of milliseconds, and one
still waiting after ten seconds is answered 503 (TENWATCH_PRESS_WAIT_SECONDS)."""

SENDS = Counter(
    "tenwatch_sends",
    "Outbox sends by channel, result (sent, retryable, refused) and the provider's error code.",
    ["channel", "result", "code"],
)
PRESS_TO_SOCKET = Histogram(
    "tenwatch_press_to_socket_seconds",
    "From a press's arrival to the hub's write of its raised event to the last local socket.",
    buckets=LATENCY_BUCKETS,
)

_CODE_LENGTH = 16  # Twilio's codes are five digits, a push service's an HTTP status


def sent(channel: str, outcome: Outcome) -> None:
    """Count one send's outcome (the outbox, as it queues the outcome for its journal)."""
    if isinstance(outcome, SendResult):
        SENDS.labels(channel, "sent", "").inc()
        return
    code = outcome.code or "none"
    if len(code) > _CODE_LENGTH or not code.replace("_", "").isalnum():
        code = "other"
    SENDS.labels(channel, "retryable" if outcome.transient else "refused", code).inc()


class Arrivals:
    """When the presses whose raised events this process's sockets are owed arrived (loop
    time, by event id): the hub observes PRESS_TO_SOCKET once per such event's fan-out, a
    dictionary look-up for every other. Bounded: a press whose event never fans out here (its
    commit failed, its community's sockets left) is forgotten once `limit` newer ones wait."""

    __slots__ = ("_limit", "_waiting")

    def __init__(self, *, limit: int = 1024) -> None:
        self._waiting: dict[int, float] = {}
        self._limit = limit

    def expect(self, event_id: int, arrived: float) -> None:
        """A press that arrived at `arrived` (loop time) recorded this raised event."""
        waiting = self._waiting
        if len(waiting) >= self._limit:
            del waiting[next(iter(waiting))]
        waiting[event_id] = arrived

    def fanned_out(self, event_id: int) -> None:
        """The hub handed this event to every local socket of its channels: once their writers
        have run (the next turn of the loop), observe the press's time to them."""
        if self._waiting:
            arrived = self._waiting.pop(event_id, None)
            if arrived is not None:
                loop = asyncio.get_running_loop()
                loop.call_soon(lambda: PRESS_TO_SOCKET.observe(loop.time() - arrived))


@dataclass(frozen=True, slots=True)
class Backlog:
    """The outbox of one channel as a scrape reads it."""

    channel: str
    pending: int
    sending: int
    oldest_due_seconds: float
    """How long the oldest job that is due has waited (0 when none is due)."""


async def backlog(session: AsyncSession, *, now: datetime) -> list[Backlog]:
    """The outbox's depth by channel and status, and the age of its oldest due job, in one
    query (the claim's own index, `ix_outbox_due`, holds the rows it counts)."""
    due = func.min(OutboxMessage.next_attempt_at).filter(
        OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now
    )
    rows = await session.execute(
        select(
            OutboxMessage.channel,
            func.count().filter(OutboxMessage.status == PENDING),
            func.count().filter(OutboxMessage.status == SENDING),
            due,
        )
        .where(OutboxMessage.status.in_((PENDING, SENDING)))
        .group_by(OutboxMessage.channel)
    )
    return [
        Backlog(
            channel=channel,
            pending=pending,
            sending=sending,
            oldest_due_seconds=max(0.0, (now - _aware(oldest, now)).total_seconds())
            if oldest is not None
            else 0.0,
        )
        for channel, pending, sending, oldest in rows
    ]


def _aware(at: datetime, now: datetime) -> datetime:
    """An aggregate's timestamp (SQLite's min() comes back without its zone) in now's zone."""
    return at if at.tzinfo is not None else at.replace(tzinfo=now.tzinfo)


def outbox_families(found: Sequence[Backlog]) -> Iterable[Metric]:
    """The outbox's backlog as gauges."""
    depth = GaugeMetricFamily(
        "tenwatch_outbox_jobs",
        "Outbox jobs waiting or in hand, by channel and status.",
        labels=["channel", "status"],
    )
    oldest = GaugeMetricFamily(
        "tenwatch_outbox_oldest_due_seconds",
        "How long the oldest due outbox job of a channel has waited (0: none is due).",
        labels=["channel"],
    )
    for row in found:
        depth.add_metric([row.channel, PENDING], row.pending)
        depth.add_metric([row.channel, SENDING], row.sending)
        oldest.add_metric([row.channel], row.oldest_due_seconds)
    return depth, oldest


def hub_families(*, sockets: Tally[str], bus: str, bus_error: str | None) -> Iterable[Metric]:
    """This process's sockets by kind (group, grid, board) and its bus's state as gauges."""
    held = GaugeMetricFamily(
        "tenwatch_sockets", "Sockets this process holds, by kind.", labels=["kind"]
    )
    for kind in ("group", "grid", "board"):
        held.add_metric([kind], sockets.get(kind, 0))
    for kind, count in sorted(sockets.items()):
        if kind not in ("group", "grid", "board"):
            held.add_metric([kind], count)
    up = GaugeMetricFamily(
        "tenwatch_bus_up",
        "1 while the event bus works, 0 while it is degraded (this process's sockets only).",
        labels=["backend"],
    )
    up.add_metric([bus], 0 if bus_error is not None else 1)
    return held, up
