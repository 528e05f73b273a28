"""The outbox worker: claims due texts and calls, sends them, records what happened.

Each job is sent once where that can be known: the provider's id is recorded, a job whose last
attempt got no answer (a crash mid-send, a timeout) is looked up at the provider before it is
sent again, and a delivery receipt names its job (`?job=ID` on the callback URL), so even a
receipt that arrives before the worker recorded the send settles the job.
"""

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.models import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    UNDELIVERED,
    OutboxMessage,
    moves_forward,
)
from notifier.sms.base import Channel, SendError, SendResult, SmsSender
from notifier.worker import Worker
from storage.db import utcnow

log = logging.getLogger(__name__)

Outcome = SendResult | SendError
Changed = Callable[[Sequence[OutboxMessage]], Awaitable[None]]
RenderCall = Callable[[OutboxMessage], str]


@dataclass(frozen=True, slots=True)
class OutboxPolicy:
    """How the worker paces itself and retries."""

    poll_seconds: float = 1.0
    batch_size: int = 50
    lease_seconds: float = 60.0
    concurrency: int = 8
    max_attempts: int = 5
    backoff_seconds: float = 2.0
    status_callback: str | None = None
    """The receipts URL; each job's own is this with `?job=ID`."""
    rate_per_second: float = 0.0
    """Sends per second through this sender (0: no limit); lookups are not counted."""
    rate_burst: int = 10
    """Sends that may go at once before the rate applies."""


def backoff(*, attempts: int, base: float) -> timedelta:
    """Exponential backoff with full jitter after the given number of attempts."""
    return timedelta(seconds=random.uniform(0, base * 2 ** max(attempts - 1, 0)))


def callback_url(base: str | None, *, job_id: int) -> str | None:
    """The status callback URL of one job: the receipts URL naming the job."""
    if base is None:
        return None
    return f"{base}{'&' if '?' in base else '?'}job={job_id}"


class RateLimiter:
    """A token bucket: `rate` acquisitions a second on average, `burst` at once; FIFO waiters."""

    def __init__(self, *, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = max(burst, 1)
        self._tokens = float(self._burst)
        self._at = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now

    async def acquire(self) -> None:
        """Wait for a token (at once when the rate is 0: no limit)."""
        if self._rate <= 0:
            return
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self._rate)
                self._refill()
            self._tokens -= 1


async def apply_receipt(
    session: AsyncSession, *, job_id: int, sid: str, status: str, error_code: str | None = None
) -> OutboxMessage | None:
    """Record a delivery receipt on its job, only ever forward; the job if this was news.

    A receipt for a job whose send is not recorded yet (the worker crashed, or is slower than
    the provider) records the provider's id: the job is then never sent again.
    """
    job = await session.get(OutboxMessage, job_id, with_for_update=True)
    if job is None or (job.provider_sid is not None and job.provider_sid != sid):
        return None
    if job.provider_sid is None:
        job.provider_sid = sid
    if not moves_forward(channel=job.channel, current=job.delivery_status, new=status):
        return None
    job.delivery_status = status
    if status in UNDELIVERED:
        job.error_code = error_code or job.error_code
        job.error = f"{status}" + (f" (Twilio error {error_code})" if error_code else "")
    return job


class OutboxWorker(Worker):
    """Sends the outbox through one sender; woken at once by a new alarm, else it polls."""

    name = "outbox worker"

    def __init__(
        self,
        sessions: Callable[[], AsyncSession],
        sender: SmsSender,
        *,
        policy: OutboxPolicy | None = None,
        on_failed: Changed | None = None,
        render_call: RenderCall | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._policy = policy or OutboxPolicy()
        super().__init__(poll_seconds=self._policy.poll_seconds)
        self._sessions = sessions
        self._sender = sender
        self._on_failed = on_failed
        self._render_call = render_call
        self._clock = clock
        self._limiter = RateLimiter(
            rate=self._policy.rate_per_second, burst=self._policy.rate_burst
        )

    async def step(self) -> int:
        """One batch of the outbox."""
        return await self.drain_once()

    async def drain_once(self) -> int:
        """Claim one batch of due jobs, send them and record the outcomes; returns the count."""
        jobs = await self._claim()
        if not jobs:
            return 0
        outcomes: dict[int, Outcome] = {}
        pending = iter(jobs)
        await asyncio.gather(
            *(self._send_from(pending, outcomes) for _ in range(self._policy.concurrency))
        )
        failed = await self._record(outcomes)
        if self._on_failed is not None and failed:
            await self._on_failed(failed)
        return len(jobs)

    async def _claim(self) -> list[OutboxMessage]:
        now = self._clock()
        size = self._policy.batch_size
        async with self._sessions() as session, session.begin():
            # Two queries, each in the order of its index: one query with an OR of both, ordered
            # by id, sorted every due job first, holding the one connection while it sorted a
            # backlog of tens of thousands.
            stale = await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status == SENDING, OutboxMessage.lease_until < now)
                .order_by(OutboxMessage.id)
                .limit(size)
                .with_for_update(skip_locked=True)
            )
            jobs = list(stale)
            if len(jobs) < size:
                due = await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now)
                    .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                    .limit(size - len(jobs))
                    .with_for_update(skip_locked=True)
                )
                jobs += due
            for job in jobs:
                if job.status == SENDING:
                    # Its worker died mid-send: the provider may have it already.
                    job.maybe_sent = True
                job.status = SENDING
                job.attempts += 1
                job.lease_until = now + timedelta(seconds=self._policy.lease_seconds)
        return jobs

    async def _send_from(self, jobs: Iterator[OutboxMessage], out: dict[int, Outcome]) -> None:
        for job in jobs:
            try:
                out[job.id] = await self._send_one(job)
            except SendError as exc:
                out[job.id] = exc

    async def _send_one(self, job: OutboxMessage) -> SendResult:
        """Send one job, unless it turns out to be sent already; raise SendError if not taken."""
        if job.provider_sid is not None:
            # A delivery receipt named this job: the provider took it.
            return SendResult(sid=job.provider_sid, status=job.delivery_status or "queued")
        if job.maybe_sent:
            channel: Channel = "voice" if job.channel == "voice" else "sms"
            found = await self._sender.lookup(
                channel=channel, to=job.to, body=job.body, since=job.created_at
            )
            if found is not None:
                log.info("outbox job %s was taken before (%s): not sent again", job.id, found.sid)
                return found
        now = self._clock()
        if job.expires_at is not None and job.expires_at < now:
            raise SendError("expired before it could be sent", transient=False)
        status_callback = callback_url(self._policy.status_callback, job_id=job.id)
        await self._limiter.acquire()
        if job.channel == "voice":
            if self._render_call is None:
                raise SendError("this worker cannot place calls", transient=False)
            return await self._sender.call(
                to=job.to, twiml=self._render_call(job), status_callback=status_callback
            )
        valid_for = (
            int((job.expires_at - now).total_seconds()) if job.expires_at is not None else None
        )
        return await self._sender.send(
            to=job.to, body=job.body, status_callback=status_callback, valid_for=valid_for
        )

    async def _record(self, outcomes: dict[int, Outcome]) -> list[OutboxMessage]:
        """Store each outcome; returns the jobs that failed for good."""
        now = self._clock()
        failed: list[OutboxMessage] = []
        async with self._sessions() as session, session.begin():
            jobs = list(
                await session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(outcomes)))
            )
            for job in jobs:
                outcome = outcomes[job.id]
                job.lease_until = None
                if isinstance(outcome, SendResult):
                    job.status, job.provider_sid, job.sent_at = SENT, outcome.sid, now
                    job.maybe_sent = False
                    if moves_forward(
                        channel=job.channel, current=job.delivery_status, new=outcome.status
                    ):
                        job.delivery_status = outcome.status
                    job.error = job.error_code = None
                    continue
                job.error, job.error_code = str(outcome), outcome.code
                job.maybe_sent = job.maybe_sent or outcome.maybe_sent
                if outcome.transient and job.attempts < self._policy.max_attempts:
                    job.status = PENDING
                    job.next_attempt_at = now + backoff(
                        attempts=job.attempts, base=self._policy.backoff_seconds
                    )
                else:
                    job.status = FAILED
                    failed.append(job)
                    log.warning("%s %s to %s failed: %s", job.channel, job.id, job.to, outcome)
        return failed
