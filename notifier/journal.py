"""The journal of one claimed batch: what was started and what came back, in group commits.

Before a job's request goes out its start is committed; the provider's id is committed as soon
as the answer comes. Both are group commits: one transaction carries every start and outcome
queued since the last, and renews the batch's lease while it is held. `record` stores the
outcomes: sent, to be retried after a backoff, or failed for good.
"""

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.models import FAILED, PENDING, SENDING, SENT, OutboxMessage, moves_forward
from notifier.policy import OutboxPolicy, backoff
from notifier.push.base import without_secrets
from notifier.sms.base import Outcome, SendResult

log = logging.getLogger(__name__)


class Journal:
    """One batch's bookkeeping as group commits: each transaction writes every send start and
    outcome queued since the last, and renews the batch's lease when a third of it has passed.

    A start is committed before its request goes out (`start` waits for it); an outcome is
    queued and the sender moves on (`finish`). Only jobs the claim still holds are written.
    A write of starts also marks the next `concurrency` jobs of the batch started, so that
    senders which come back together find theirs committed already: after a crash the jobs
    looked up are at most those in flight and that many more, never the whole batch. Such a
    mark is trusted without asking the database only within half a lease of the write that
    renewed the job's lease (no other worker can have taken it over since); later, the start
    is written again, and refused if the claim was lost.
    """

    def __init__(
        self,
        sessions: Callable[[], AsyncSession],
        *,
        claim: str,
        jobs: Sequence[OutboxMessage],
        marked_at: float,
        policy: OutboxPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        """`jobs` in the order the senders take them, the first `concurrency` marked started by
        the claim that began at `marked_at` (monotonic)."""
        self._sessions = sessions
        self._claim = claim
        self._policy = policy
        self._clock = clock
        self._open = {job.id for job in jobs}
        self._order = [job.id for job in jobs]
        self._secrets = {job.id: job.body for job in jobs if job.channel == "push"}
        """Pushes whose stored payload may hold an answer token, to drop once they are done."""
        self._position = {job_id: at for at, job_id in enumerate(self._order)}
        self._marked = dict.fromkeys(self._order[: policy.concurrency], marked_at)
        """Jobs marked started, with when (monotonic) their lease was last renewed."""
        self._starts: dict[int, asyncio.Future[bool]] = {}
        self._outcomes: dict[int, Outcome] = {}
        self._wanted = asyncio.Event()
        self._first_outcome = 0.0
        self._closing = False
        self._renewed = marked_at
        self.failed: list[OutboxMessage] = []
        """The jobs that failed for good."""

    async def start(self, job_id: int) -> bool:
        """Commit that this job's send begins; False when the claim no longer holds it."""
        renewed = max(self._marked.get(job_id, -math.inf), self._renewed)
        if job_id in self._marked and time.monotonic() - renewed < self._policy.lease_seconds / 2:
            return True
        started: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._starts[job_id] = started
        self._wanted.set()
        return await started

    def finish(self, job_id: int, outcome: Outcome) -> None:
        """Queue the job's outcome for the next commit."""
        if not self._outcomes:
            self._first_outcome = time.monotonic()
            self._wanted.set()  # the writer's deadline may be sooner now
        self._outcomes[job_id] = outcome

    def close(self) -> None:
        """No more starts or outcomes: write what is queued, then `run` returns."""
        self._closing = True
        self._wanted.set()

    async def run(self) -> None:
        """Write until closed and written: starts at once, outcomes within `record_seconds`
        (with the next start if one comes sooner), the lease every third of it."""
        while True:
            if self._closing and not (self._starts or self._outcomes):
                return
            due = self._renewed + self._policy.lease_seconds / 3
            if self._outcomes:
                due = min(due, self._first_outcome + self._policy.record_seconds)
            wait = due - time.monotonic()
            if self._starts or self._closing or wait <= 0:
                await self._write()
                continue
            self._wanted.clear()
            try:
                async with asyncio.timeout(wait):
                    await self._wanted.wait()
            except TimeoutError:
                pass

    async def _renew(self, session: AsyncSession, *, lease_until: datetime) -> None:
        """Extend the lease of the jobs still in hand; one not renewed is another claim's now,
        and its mark is no longer trusted."""
        if not self._open:
            return
        renewed = await session.scalars(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(self._open),
                OutboxMessage.claimed_by == self._claim,
                OutboxMessage.status == SENDING,
            )
            .values(lease_until=lease_until)
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        )
        for job_id in self._open - set(renewed):
            self._open.discard(job_id)
            self._marked.pop(job_id, None)

    def _ahead(self, starts: dict[int, asyncio.Future[bool]]) -> set[int]:
        """The jobs asked for and the next `concurrency` after the last of them."""
        last = max(self._position[job_id] for job_id in starts)
        ahead = self._order[last + 1 : last + 1 + self._policy.concurrency]
        return starts.keys() | set(ahead)

    async def _forget_secrets(
        self,
        session: AsyncSession,
        outcomes: dict[int, Outcome],
        failed: list[OutboxMessage],
    ) -> None:
        """Drop the answer token from each push that has gone or failed for good: the stored
        job keeps what was shown, not what answers for someone (one statement)."""
        done = {i for i, o in outcomes.items() if isinstance(o, SendResult)}
        done |= {job.id for job in failed}
        kept = [
            {"job_id": i, "body": body}
            for i in done & self._secrets.keys()
            if (body := without_secrets(self._secrets.pop(i))) is not None
        ]
        if kept:
            table = OutboxMessage.metadata.tables[OutboxMessage.__tablename__]
            await session.execute(
                update(table)
                .where(table.c.id == bindparam("job_id"), table.c.claimed_by == self._claim)
                .values(body=bindparam("body")),
                kept,
            )

    async def _write(self) -> None:
        starts, self._starts = self._starts, {}
        outcomes, self._outcomes = self._outcomes, {}
        began = time.monotonic()
        now = self._clock()
        lease_until = now + timedelta(seconds=self._policy.lease_seconds)
        held = (OutboxMessage.claimed_by == self._claim, OutboxMessage.status == SENDING)
        granted: set[int] = set()
        try:
            async with self._sessions() as session, session.begin():
                if starts:
                    granted = set(
                        await session.scalars(
                            update(OutboxMessage)
                            .where(OutboxMessage.id.in_(self._ahead(starts)), *held)
                            .values(
                                send_started_at=func.coalesce(OutboxMessage.send_started_at, now),
                                lease_until=lease_until,
                            )
                            .returning(OutboxMessage.id)
                            .execution_options(synchronize_session=False)
                        )
                    )
                if outcomes:
                    failed = await record(
                        session, outcomes, claim=self._claim, policy=self._policy, now=now
                    )
                    self.failed += failed
                    await self._forget_secrets(session, outcomes, failed)
                self._open -= outcomes.keys() | (starts.keys() - granted)
                if began - self._renewed >= self._policy.lease_seconds / 3:
                    await self._renew(session, lease_until=lease_until)
                    self._renewed = began
        except Exception as exc:
            for started in starts.values():
                started.set_exception(exc)
            raise
        self._marked |= dict.fromkeys(granted, began)
        for job_id, started in starts.items():
            if job_id not in granted:
                log.warning("outbox job %s: claim %s lost before its send", job_id, self._claim)
            started.set_result(job_id in granted)


async def record(
    session: AsyncSession,
    outcomes: dict[int, Outcome],
    *,
    claim: str,
    policy: OutboxPolicy,
    now: datetime,
) -> list[OutboxMessage]:
    """Store each outcome on its job while the claim holds it; returns the jobs that failed for
    good. Texts and calls the provider has just taken are one statement for all: their status is
    its first, so a receipt's, if one came sooner, is never behind it and stays."""
    fresh = {
        job_id: outcome
        for job_id, outcome in outcomes.items()
        if isinstance(outcome, SendResult) and outcome.fresh
    }
    if fresh:
        table = OutboxMessage.metadata.tables[OutboxMessage.__tablename__]
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("job_id"), table.c.claimed_by == claim)
            .values(
                status=SENT,
                provider_sid=bindparam("sid"),
                sent_at=now,
                lease_until=None,
                maybe_sent=False,
                error=None,
                error_code=None,
                delivery_status=func.coalesce(table.c.delivery_status, bindparam("first")),
            ),
            [{"job_id": i, "sid": r.sid, "first": r.status} for i, r in fresh.items()],
        )
    failed: list[OutboxMessage] = []
    rest = outcomes.keys() - fresh.keys()
    if not rest:
        return failed
    jobs = await session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.in_(rest), OutboxMessage.claimed_by == claim)
    )
    for job in jobs:
        outcome = outcomes[job.id]
        job.lease_until = None
        if isinstance(outcome, SendResult):
            job.status, job.provider_sid, job.sent_at = SENT, outcome.sid, now
            job.maybe_sent = False
            if moves_forward(channel=job.channel, current=job.delivery_status, new=outcome.status):
                job.delivery_status = outcome.status
            job.error = job.error_code = None
            continue
        job.error, job.error_code = str(outcome), outcome.code
        job.maybe_sent = job.maybe_sent or outcome.maybe_sent
        if not job.maybe_sent:
            job.send_started_at = None  # the provider surely took nothing
        if outcome.transient and job.attempts < policy.max_attempts:
            job.status = PENDING
            job.next_attempt_at = now + backoff(attempts=job.attempts, base=policy.backoff_seconds)
        else:
            job.status = FAILED
            job.settled_at = now
            failed.append(job)
            log.warning("%s %s to %s failed: %s", job.channel, job.id, job.recipient, outcome)
    return failed
