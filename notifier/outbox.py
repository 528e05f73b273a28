"""The outbox worker: claims due SMS jobs, sends them, records what happened."""

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from groups.db import utcnow
from notifier.models import FAILED, PENDING, SENDING, SENT, OutboxMessage
from notifier.sms.base import SendError, SendResult, SmsSender

log = logging.getLogger(__name__)

Outcome = SendResult | SendError
Changed = Callable[[Sequence[OutboxMessage]], Awaitable[None]]


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


def backoff(*, attempts: int, base: float) -> timedelta:
    """Exponential backoff with full jitter after the given number of attempts."""
    return timedelta(seconds=random.uniform(0, base * 2 ** max(attempts - 1, 0)))


class OutboxWorker:
    """Sends the outbox through one sender; woken at once by a new alarm, else it polls."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: SmsSender,
        *,
        policy: OutboxPolicy | None = None,
        on_change: Changed | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._policy = policy or OutboxPolicy()
        self._on_change = on_change
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.error: str | None = None

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        """Run the worker in the background."""
        self._task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self) -> None:
        """Stop the worker; a job being sent stays claimed until its lease runs out."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                while await self.drain_once():
                    pass
                self.error = None
            except Exception as exc:
                self.error = f"outbox worker: {exc}"
                log.exception("outbox worker failed; it will try again")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._policy.poll_seconds):
                    await self._wake.wait()
            self._wake.clear()

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
        changed = await self._record(outcomes)
        if self._on_change is not None and changed:
            await self._on_change(changed)
        return len(jobs)

    async def _claim(self) -> list[OutboxMessage]:
        now = self._clock()
        async with self._sessions() as session, session.begin():
            jobs = list(
                await session.scalars(
                    select(OutboxMessage)
                    .where(
                        or_(
                            and_(
                                OutboxMessage.status == PENDING,
                                OutboxMessage.next_attempt_at <= now,
                            ),
                            and_(OutboxMessage.status == SENDING, OutboxMessage.lease_until < now),
                        )
                    )
                    .order_by(OutboxMessage.id)
                    .limit(self._policy.batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            for job in jobs:
                job.status = SENDING
                job.attempts += 1
                job.lease_until = now + timedelta(seconds=self._policy.lease_seconds)
        return jobs

    async def _send_from(self, jobs: Iterator[OutboxMessage], out: dict[int, Outcome]) -> None:
        for job in jobs:
            if job.expires_at is not None and job.expires_at < self._clock():
                out[job.id] = SendError("expired before it could be sent", transient=False)
                continue
            try:
                out[job.id] = await self._sender.send(
                    to=job.to, body=job.body, status_callback=self._policy.status_callback
                )
            except SendError as exc:
                out[job.id] = exc

    async def _record(self, outcomes: dict[int, Outcome]) -> list[OutboxMessage]:
        now = self._clock()
        async with self._sessions() as session, session.begin():
            jobs = list(
                await session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(outcomes)))
            )
            for job in jobs:
                outcome = outcomes[job.id]
                job.lease_until = None
                if isinstance(outcome, SendResult):
                    job.status, job.provider_sid, job.sent_at = SENT, outcome.sid, now
                    job.delivery_status = outcome.status
                    job.error = job.error_code = None
                    continue
                job.error, job.error_code = str(outcome), outcome.code
                if outcome.transient and job.attempts < self._policy.max_attempts:
                    job.status = PENDING
                    job.next_attempt_at = now + backoff(
                        attempts=job.attempts, base=self._policy.backoff_seconds
                    )
                else:
                    job.status = FAILED
                    log.warning("SMS %s to %s failed: %s", job.id, job.to, outcome)
        return jobs
