"""The outbox worker: claims due texts and calls, sends them, records what happened.

Each job is sent once, across crashes. A worker claims a batch under a short lease that it
renews while it holds the batch, so a dead worker's jobs are free again within seconds. Before a
job's request goes out its start is committed; the provider's id is committed as soon as the
answer comes. Both are group commits: one transaction carries every start and outcome queued
since the last (see `Journal`). A job re-claimed from a dead worker with no start recorded was
never sent and goes at once; one with a start but no id may have been taken, and is looked up
at the provider (to, from, since its start, every page), matching the body and counting
identical texts against the jobs that may own them (see `taken_before`). A delivery receipt
names its job (`?job=ID` on the callback URL), so even a receipt that arrives before the worker
recorded the send settles the job.
"""

import asyncio
import logging
import math
import os
import random
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
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
Sessions = Callable[[], AsyncSession]

CLOCK_SKEW = timedelta(minutes=2)
"""How far clocks (ours, the other workers', the provider's) may disagree."""


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


def callback_url(base: str | None, *, job_id: int) -> str | None:
    """The status callback URL of one job: the receipts URL naming the job."""
    if base is None:
        return None
    return f"{base}{'&' if '?' in base else '?'}job={job_id}"


def claim_name() -> str:
    """A new claim's name: this host and process (to see who holds a job) and a random tail."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


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


Key = tuple[str, str, str | None]
"""What the provider can tell jobs apart by: channel, phone and (for texts) body."""


def key_of(job: OutboxMessage) -> Key:
    """A job's key: a call's script is not in the provider's list, so calls go by phone only."""
    return (job.channel, job.to, None if job.channel == "voice" else job.body)


async def taken_before(
    sessions: Sessions, sender: SmsSender, jobs: Sequence[OutboxMessage], *, batch: set[int]
) -> dict[int, Outcome]:
    """Which of these maybe-sent jobs the provider took already, and those it cannot tell.
    `batch` is every job of their claim: none of its others has been sent yet.

    One lookup per phone and body. A message found may be another job's: one whose id is
    recorded, or one whose send started and is not recorded yet (in flight at another worker,
    or itself maybe-sent). What is left is counted out to these jobs, oldest first; the rest
    were not taken and are sent. A failed lookup leaves its jobs unsent for a later try.
    """
    groups: defaultdict[Key, list[OutboxMessage]] = defaultdict(list)
    for job in sorted(jobs, key=lambda j: j.id):
        groups[key_of(job)].append(job)
    found: dict[Key, list[SendResult]] = {}
    out: dict[int, Outcome] = {}
    for key, group in groups.items():
        channel: Channel = "voice" if key[0] == "voice" else "sms"
        since = min(j.send_started_at or j.created_at for j in group)
        try:
            found[key] = await sender.lookup(channel=channel, to=key[1], body=key[2], since=since)
        except SendError as exc:
            out |= dict.fromkeys((j.id for j in group), exc)
    if not any(found.values()):
        return out
    since = min(j.send_started_at or j.created_at for j in jobs) - 2 * CLOCK_SKEW
    async with sessions() as session:
        others = await session.execute(
            select(
                OutboxMessage.channel,
                OutboxMessage.to,
                OutboxMessage.body,
                OutboxMessage.provider_sid,
            ).where(
                OutboxMessage.to.in_({key[1] for key in found}),
                OutboxMessage.send_started_at >= since,
                OutboxMessage.id.not_in(batch),
            )
        )
    recorded: set[str] = set()
    unrecorded: defaultdict[Key, int] = defaultdict(int)
    for channel_, to, body, sid in others:
        key = (channel_, to, None if channel_ == "voice" else body)
        if sid is None:
            unrecorded[key] += 1
        else:
            recorded.add(sid)
    for key, results in found.items():
        free = [r for r in results if r.sid not in recorded]
        free = free[: max(len(free) - unrecorded[key], 0)]
        for job, result in zip(groups[key], free, strict=False):
            log.info("outbox job %s was taken before (%s): not sent again", job.id, result.sid)
            out[job.id] = result
    return out


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
        sessions: Sessions,
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
                    self.failed += await record(
                        session, outcomes, claim=self._claim, policy=self._policy, now=now
                    )
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
            failed.append(job)
            log.warning("%s %s to %s failed: %s", job.channel, job.id, job.to, outcome)
    return failed


class OutboxWorker(Worker):
    """Sends the outbox through one sender; woken at once by a new alarm, else it polls."""

    name = "outbox worker"

    def __init__(
        self,
        sessions: Sessions,
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
        claim = claim_name()
        claimed_at = time.monotonic()
        jobs = await self._claim(claim)
        if not jobs:
            return 0
        journal = Journal(
            self._sessions,
            claim=claim,
            jobs=jobs,
            marked_at=claimed_at,
            policy=self._policy,
            clock=self._clock,
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(journal.run())
            maybe = [job for job in jobs if job.maybe_sent and job.provider_sid is None]
            batch = {job.id for job in jobs}
            taken = await taken_before(self._sessions, self._sender, maybe, batch=batch)
            pending = iter(jobs)
            async with asyncio.TaskGroup() as senders:
                for _ in range(self._policy.concurrency):
                    senders.create_task(self._send_from(pending, journal, taken))
            journal.close()
        if self._on_failed is not None and journal.failed:
            await self._on_failed(journal.failed)
        return len(jobs)

    async def _claim(self, claim: str) -> list[OutboxMessage]:
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
            for at, job in enumerate(jobs):
                if job.status == SENDING and job.send_started_at is not None:
                    # Its worker died mid-send: the provider may have it already.
                    job.maybe_sent = True
                if at < self._policy.concurrency:
                    # The first senders' starts, in the claim's own commit (see Journal).
                    job.send_started_at = job.send_started_at or now
                job.status = SENDING
                job.attempts += 1
                job.lease_until = now + timedelta(seconds=self._policy.lease_seconds)
                job.claimed_by = claim
        return jobs

    async def _send_from(
        self, jobs: Iterator[OutboxMessage], journal: Journal, taken: dict[int, Outcome]
    ) -> None:
        for job in jobs:
            try:
                outcome: Outcome | None = await self._send_one(job, journal, taken)
            except SendError as exc:
                outcome = exc
            if outcome is not None:
                journal.finish(job.id, outcome)

    async def _send_one(
        self, job: OutboxMessage, journal: Journal, taken: dict[int, Outcome]
    ) -> SendResult | None:
        """Send one job unless it was sent already; None if its claim was lost (not sent).
        Raises SendError if the provider did not take it."""
        if job.provider_sid is not None:
            # A delivery receipt named this job: the provider took it.
            return SendResult(sid=job.provider_sid, status=job.delivery_status or "queued")
        before = taken.get(job.id)
        if isinstance(before, SendError):
            raise before
        if before is not None:
            return before
        now = self._clock()
        if job.expires_at is not None and job.expires_at < now:
            raise SendError("expired before it could be sent", transient=False)
        status_callback = callback_url(self._policy.status_callback, job_id=job.id)
        twiml = self._script(job)
        await self._limiter.acquire()
        if not await journal.start(job.id):
            return None
        if twiml is not None:
            return await self._sender.call(to=job.to, twiml=twiml, status_callback=status_callback)
        valid_for = (
            int((job.expires_at - now).total_seconds()) if job.expires_at is not None else None
        )
        return await self._sender.send(
            to=job.to, body=job.body, status_callback=status_callback, valid_for=valid_for
        )

    def _script(self, job: OutboxMessage) -> str | None:
        """A call's TwiML (None for a text); SendError when this worker cannot place calls."""
        if job.channel != "voice":
            return None
        if self._render_call is None:
            raise SendError("this worker cannot place calls", transient=False)
        return self._render_call(job)
