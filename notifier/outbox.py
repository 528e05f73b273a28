"""The outbox worker: claims due texts and calls, sends them, records what happened.

Each job is sent once, across crashes. A worker claims a batch under a short lease that it
renews while it holds the batch, so a dead worker's jobs are free again within seconds; a
worker that stops (a drain, docs/operate.md) hands back at once the jobs of its batch it has not
begun (`stop`), so another process sends them at its next look, not after the lease. Before a
job's request goes out its start is committed, and its outcome after (see `notifier.journal`).
A job re-claimed from a dead worker with no start recorded was never sent and goes at once; one
with a start but no id may have been taken, and is looked up at the provider first (see
`notifier.lookup`). Receipts settle jobs too (see `notifier.receipts`).
"""

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.devices.base import DeviceLink
from notifier.journal import Journal
from notifier.lookup import taken_before
from notifier.metrics import sent
from notifier.models import PENDING, PROBE, SENDING, OutboxMessage
from notifier.policy import OutboxPolicy
from notifier.push.base import PushGone, PushSender, Subscription
from notifier.push.models import PushSubscription
from notifier.rate import RateLimiter
from notifier.sms.base import Outcome, SendError, SendResult, SmsSender
from notifier.worker import Worker
from storage.db import utcnow

log = logging.getLogger(__name__)

Changed = Callable[[Sequence[OutboxMessage]], Awaitable[None]]
RenderCall = Callable[[OutboxMessage], str]


def callback_url(base: str | None, *, job_id: int) -> str | None:
    """The status callback URL of one job: the receipts URL naming the job."""
    if base is None:
        return None
    return f"{base}{'&' if '?' in base else '?'}job={job_id}"


def claim_name() -> str:
    """A new claim's name: this host and process (to see who holds a job) and a random tail."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class _Hand:
    """A claimed batch as its senders take it, job by job: what was taken (may have gone out)
    and what is left (never begun), for a stopping worker to hand back."""

    def __init__(self, jobs: Sequence[OutboxMessage]) -> None:
        self._jobs: Iterator[OutboxMessage] = iter(jobs)
        self.taken: list[OutboxMessage] = []

    def take(self) -> OutboxMessage | None:
        """The next job for a sender, None when the batch is all taken."""
        job = next(self._jobs, None)
        if job is not None:
            self.taken.append(job)
        return job

    def left(self) -> list[OutboxMessage]:
        """The jobs no sender took (it empties the batch)."""
        return list(self._jobs)


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
        push: PushSender | None = None,
        devices: DeviceLink | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._policy = policy or OutboxPolicy()
        super().__init__(poll_seconds=self._policy.poll_seconds)
        self._sessions = sessions
        self._sender = sender
        self._on_failed = on_failed
        self._render_call = render_call
        self._push = push
        self._devices = devices
        self._clock = clock
        self._limiter = RateLimiter(
            rate=self._policy.rate_per_second, burst=self._policy.rate_burst
        )
        self._hands: dict[str, _Hand] = {}
        """The batches in hand, by claim: what their senders have taken and not."""

    async def stop(self, *, grace_seconds: float = 5.0) -> None:
        """Stop after the sends in flight (the senders take no further job of the batch), and
        hand back what the batch still holds: a job never begun is due again at once, one cut
        off mid-send by the grace period has its lease ended (the next claim looks it up at the
        provider before sending it again). Another process's worker takes them at its next look."""
        await super().stop(grace_seconds=grace_seconds)
        for claim, hand in list(self._hands.items()):  # batches the grace period cut off
            await self._release(claim, untaken=hand.left(), taken=hand.taken)
        self._hands.clear()

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
        pending = self._hands[claim] = _Hand(jobs)
        try:
            await self._send_batch(jobs, pending, journal)
        except Exception:
            del self._hands[claim]  # its leases run out, as after a crash
            raise
        left = pending.left()
        if left:  # stopping: the senders took no more
            await self._release(claim, untaken=left, taken=[])
        del self._hands[claim]
        failed = [job for job in journal.failed if job.channel in ("sms", "voice")]
        if self._on_failed is not None and failed:
            await self._on_failed(failed)
        return len(jobs)

    async def _send_batch(
        self, jobs: list[OutboxMessage], pending: _Hand, journal: Journal
    ) -> None:
        """Send a claimed batch from `pending` with `concurrency` senders, journalling it."""
        async with asyncio.TaskGroup() as group:
            group.create_task(journal.run())
            # A push or a device command cannot be looked up at its service: one that may have
            # gone goes again (its notification's tag replaces the first on the phone; a siren
            # told "on" twice is on).
            maybe = [
                job
                for job in jobs
                if job.maybe_sent and job.provider_sid is None and job.channel in ("sms", "voice")
            ]
            batch = {job.id for job in jobs}
            taken = await taken_before(self._sessions, self._sender, maybe, batch=batch)
            subscriptions = await self._subscriptions(jobs)
            async with asyncio.TaskGroup() as senders:
                for _ in range(self._policy.concurrency):
                    senders.create_task(self._send_from(pending, journal, taken, subscriptions))
            journal.close()

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

    async def _release(
        self, claim: str, *, untaken: Sequence[OutboxMessage], taken: Sequence[OutboxMessage]
    ) -> None:
        """Hand back the jobs this claim still holds (one statement each kind): `untaken` were
        never begun, so they are due now as if never claimed (their start cleared unless an
        earlier attempt may have gone); `taken` may be at the provider, so only their lease
        ends. A job the claim no longer holds (recorded, or taken over) is left alone."""
        now = self._clock()
        log.info("outbox: %s hands back %d jobs", claim, len(untaken) + len(taken))
        held = (OutboxMessage.claimed_by == claim, OutboxMessage.status == SENDING)
        async with self._sessions() as session, session.begin():
            if untaken:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_([job.id for job in untaken]), *held)
                    .values(
                        status=PENDING,
                        next_attempt_at=now,
                        lease_until=None,
                        attempts=OutboxMessage.attempts - 1,
                        send_started_at=case(
                            (OutboxMessage.maybe_sent, OutboxMessage.send_started_at), else_=None
                        ),
                    )
                    .execution_options(synchronize_session=False)
                )
            if taken:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_([job.id for job in taken]), *held)
                    .values(lease_until=now)
                    .execution_options(synchronize_session=False)
                )

    async def _subscriptions(self, jobs: Sequence[OutboxMessage]) -> dict[int, Subscription]:
        """The subscriptions the batch's pushes go to, in one query."""
        wanted = {int(job.to) for job in jobs if job.channel == "push" and job.to.isdigit()}
        if not wanted:
            return {}
        async with self._sessions() as session:
            rows = await session.execute(
                select(
                    PushSubscription.id,
                    PushSubscription.endpoint,
                    PushSubscription.p256dh,
                    PushSubscription.auth,
                ).where(PushSubscription.id.in_(wanted))
            )
            return {row[0]: Subscription(*row) for row in rows}

    async def _send_from(
        self,
        jobs: _Hand,
        journal: Journal,
        taken: dict[int, Outcome],
        subscriptions: dict[int, Subscription],
    ) -> None:
        while not self._stopping and (job := jobs.take()) is not None:
            try:
                if job.channel == "push":
                    outcome: Outcome | None = await self._push_one(job, journal, subscriptions)
                elif job.channel == "device":
                    outcome = await self._command_one(job, journal)
                elif job.channel == PROBE and not job.to:
                    outcome = self._probe_one(job)
                else:
                    outcome = await self._send_one(job, journal, taken)
            except SendError as exc:
                outcome = exc
            if outcome is not None:
                sent(job.channel, outcome)
                journal.finish(job.id, outcome)
                if log.isEnabledFor(logging.INFO):
                    _log_send(job, outcome)

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

    async def _push_one(
        self, job: OutboxMessage, journal: Journal, subscriptions: dict[int, Subscription]
    ) -> SendResult | None:
        """Push one job to its subscription (its `to`); a subscription the push service says is
        gone is deleted, another failure is noted on it. None if the claim was lost."""
        if job.provider_sid is not None:
            return SendResult(sid=job.provider_sid, status=job.delivery_status or "sent")
        if self._push is None:
            raise SendError("this worker cannot push", transient=False, code="push")
        subscription = subscriptions.get(int(job.to)) if job.to.isdigit() else None
        if subscription is None:
            raise SendError("the subscription is gone", transient=False, code="gone")
        now = self._clock()
        if job.expires_at is not None and job.expires_at < now:
            raise SendError("expired before it could be sent", transient=False)
        ttl = int((job.expires_at - now).total_seconds()) if job.expires_at is not None else 0
        if not await journal.start(job.id):
            return None
        try:
            return await self._push.push(
                subscription, payload=job.body, ttl=ttl, urgency="high", topic=_topic(job)
            )
        except SendError as exc:
            await self._note_failure(subscription.id, exc, now=now)
            raise

    async def _command_one(self, job: OutboxMessage, journal: Journal) -> SendResult | None:
        """Publish one device command (its body's payload to its topic) through the device
        link, QoS 1; None if the claim was lost. Raises SendError while the broker is away."""
        if job.provider_sid is not None:
            return SendResult(sid=job.provider_sid, status="sent")
        if self._devices is None:
            raise SendError("this worker has no device link", transient=False, code="device")
        if job.expires_at is not None and job.expires_at < self._clock():
            raise SendError("expired before it could be sent", transient=False)
        command = json.loads(job.body)
        if not await journal.start(job.id):
            return None
        payload = json.dumps(command["payload"], ensure_ascii=False, separators=(",", ":"))
        await self._devices.publish(command["topic"], payload)
        return SendResult(sid=f"device-{job.id}", status="sent", fresh=True)

    def _probe_one(self, job: OutboxMessage) -> SendResult:
        """The supervision's probe with no number to text: settled here, no provider asked (it
        proves the claim and the journal; with a number it is sent as a text)."""
        if job.expires_at is not None and job.expires_at < self._clock():
            raise SendError("expired before it could be sent", transient=False)
        return SendResult(sid=f"probe-{job.id}", status="sent", fresh=True)

    async def _note_failure(self, subscription_id: int, exc: SendError, *, now: datetime) -> None:
        async with self._sessions() as session, session.begin():
            if isinstance(exc, PushGone):
                await session.execute(
                    delete(PushSubscription).where(PushSubscription.id == subscription_id)
                )
            else:
                await session.execute(
                    update(PushSubscription)
                    .where(PushSubscription.id == subscription_id)
                    .values(last_error=str(exc)[:200], failed_at=now)
                )

    def _script(self, job: OutboxMessage) -> str | None:
        """A call's TwiML (None for a text); SendError when this worker cannot place calls."""
        if job.channel != "voice":
            return None
        if self._render_call is None:
            raise SendError("this worker cannot place calls", transient=False)
        return self._render_call(job)


def _log_send(job: OutboxMessage, outcome: Outcome) -> None:
    """One `outbox send` line: the job, its alarm, its channel, the recipient masked, and what
    the provider said (its id and status, or its error code)."""
    fields: dict[str, object] = {
        "job_id": job.id,
        "alarm_id": job.alert_id,
        "channel": job.channel,
        "to": job.recipient,
        "attempt": job.attempts,
    }
    if isinstance(outcome, SendError):
        fields |= {
            "result": "retry" if outcome.transient else "refused",
            "provider_code": outcome.code,
            "http_status": outcome.status,
        }
        log.warning("outbox send", extra=fields)
    else:
        fields |= {
            "result": "taken",
            "provider_sid": outcome.sid,
            "provider_status": outcome.status,
        }
        log.info("outbox send", extra=fields)


def _topic(job: OutboxMessage) -> str | None:
    """The push's Topic: one per alarm, so an all clear replaces its alarm's push still waiting
    at the push service."""
    return f"alert-{job.alert_id}" if job.alert_id is not None else None
