"""Each outbox job is sent once across crashes: a dead worker's batch is looked up only where a
send started, identical texts are counted, a live worker keeps its batch, a lost claim sends
nothing. Real SQLite and PostgreSQL, the real twilio library against the fake Twilio."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from groups.models import Community
from notifier.models import PENDING, SENDING, SENT, OutboxMessage
from notifier.outbox import OutboxWorker
from notifier.policy import OutboxPolicy
from notifier.sms.twilio import TwilioSender
from storage.db import create_engine, create_sessionmaker, utcnow
from tests.fake_twilio import FakeTwilio

FROM = "+15005550006"
POLICE = "+8613900000004"


@dataclass
class Outbox:
    """A database with one community, its sessions, and a sender aimed at the fake."""

    sessions: Any
    community_id: int
    sender: TwilioSender

    async def add(self, *bodies: str, **fields: Any) -> list[int]:
        """Queue one text to the police office per body; their ids."""
        async with self.sessions() as session:
            jobs = [
                OutboxMessage(community_id=self.community_id, to=POLICE, body=b, **fields)
                for b in bodies
            ]
            session.add_all(jobs)
            await session.commit()
            return [job.id for job in jobs]

    async def jobs(self) -> list[OutboxMessage]:
        """Every job, by id."""
        async with self.sessions() as session:
            return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    def worker(self, **policy: Any) -> OutboxWorker:
        """A worker on this outbox and sender."""
        return OutboxWorker(self.sessions, self.sender, policy=OutboxPolicy(**policy))


@pytest.fixture
async def outbox(db_url: str, fake_twilio: FakeTwilio) -> AsyncIterator[Outbox]:
    """An outbox on a fresh database (SQLite, then PostgreSQL), texting through the fake."""
    engine = create_engine(db_url)
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        community = Community(name="丰乐社区")
        session.add(community)
        await session.commit()
        community_id = community.id
    sender = TwilioSender(
        fake_twilio.account_sid,
        fake_twilio.auth_token,
        from_=FROM,
        api_url=fake_twilio.url,
        lookup_page_size=10,
    )
    try:
        yield Outbox(sessions, community_id, sender)
    finally:
        await sender.close()
        await engine.dispose()


async def _set(session: AsyncSession, ids: list[int], **values: Any) -> None:
    await session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(**values))


async def test_a_dead_workers_batch_is_looked_up_where_sends_started_and_none_goes_twice(
    outbox: Outbox, fake_twilio: FakeTwilio
) -> None:
    now = utcnow()
    # Earlier the same day: a genuine text with the body "B11-1-301 求助", recorded.
    [earlier] = await outbox.add("B11-1-301 求助")
    taken = await outbox.sender.send(to=POLICE, body="B11-1-301 求助")
    # Then 60 other texts to the police office, each recorded on its own job.
    busy = await outbox.add(*(f"B12-{i} 求助" for i in range(60)))
    sids = [(await outbox.sender.send(to=POLICE, body=f"B12-{i} 求助")).sid for i in range(60)]
    # The dead worker's batch: three sends reached Twilio (one of them a second "B11-1-301"),
    # two started and never got there, five never started.
    reached = await outbox.add("B11-1-301 求助", "B21-1-1 求助", "B21-1-2 求助")
    for body in ("B11-1-301 求助", "B21-1-1 求助", "B21-1-2 求助"):
        await outbox.sender.send(to=POLICE, body=body)
    lost = await outbox.add("B11-1-301 求助", "B21-1-3 求助")
    unstarted = await outbox.add(*(f"B31-1-{i} 求助" for i in range(5)))
    async with outbox.sessions() as session:
        await _set(session, [earlier], status=SENT, provider_sid=taken.sid, send_started_at=now)
        for job_id, sid in zip(busy, sids, strict=True):
            await _set(session, [job_id], status=SENT, provider_sid=sid, send_started_at=now)
        dead = {"status": SENDING, "lease_until": now - timedelta(seconds=1), "claimed_by": "x"}
        await _set(session, reached + lost, send_started_at=now, **dead)
        await _set(session, unstarted, **dead)
        await session.commit()
    before = len(fake_twilio.requests)

    assert await outbox.worker().drain_once() == 10

    jobs = {job.id: job for job in await outbox.jobs()}
    assert all(job.status == SENT for job in jobs.values())
    sent = Counter(m["body"] for m in fake_twilio.messages)
    assert sent == Counter(job.body for job in jobs.values())  # one text per job
    assert len({job.provider_sid for job in jobs.values()}) == len(jobs)
    assert {m["sid"] for m in fake_twilio.messages} == {job.provider_sid for job in jobs.values()}
    lookups = [r for r in fake_twilio.requests[before:] if r["method"] == "GET"]
    # One lookup per started phone and body (four), each reading all 66 texts, ten a page.
    assert len(lookups) == 4 * 7
    texted = [r for r in fake_twilio.requests[before:] if r["method"] == "POST"]
    assert sorted(r["form"]["Body"] for r in texted) == sorted(
        ["B11-1-301 求助", "B21-1-3 求助", *(f"B31-1-{i} 求助" for i in range(5))]
    )


async def test_a_live_worker_keeps_its_batch_past_the_lease_while_it_sends(
    outbox: Outbox, fake_twilio: FakeTwilio
) -> None:
    await outbox.add(*(f"B11-1-{i} 求助" for i in range(4)))
    fake_twilio.answer_after = 0.4  # four sends one at a time: 1.6 s, four leases of 0.4 s
    slow = outbox.worker(lease_seconds=0.4, concurrency=1)
    other = outbox.worker(lease_seconds=0.4)

    holding = asyncio.create_task(slow.drain_once())
    while not fake_twilio.messages:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    taken_over = []
    while not holding.done():
        taken_over.append(await other.drain_once())
        await asyncio.sleep(0.05)

    assert await holding == 4
    assert set(taken_over) == {0}
    assert len(taken_over) > 5
    assert len(fake_twilio.messages) == 4
    assert all(job.status == SENT for job in await outbox.jobs())


async def test_a_worker_whose_claim_was_taken_over_sends_and_records_nothing_more(
    outbox: Outbox, fake_twilio: FakeTwilio
) -> None:
    await outbox.add("B11-1-1 求助", "B11-1-2 求助", "B11-1-3 求助")
    fake_twilio.answer_after = 0.5
    worker = outbox.worker(lease_seconds=0.6, concurrency=1)

    holding = asyncio.create_task(worker.drain_once())
    while not fake_twilio.messages:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    async with outbox.sessions() as session:  # another worker's claim, as after a stall
        await session.execute(update(OutboxMessage).values(claimed_by="another"))
        await session.commit()
    assert await holding == 3

    assert len(fake_twilio.messages) == 1
    jobs = await outbox.jobs()
    assert [job.status for job in jobs] == [SENDING] * 3
    assert {job.claimed_by for job in jobs} == {"another"}
    assert all(job.provider_sid is None for job in jobs)


async def test_a_send_refused_outright_is_not_looked_up_after_a_crash(
    outbox: Outbox, fake_twilio: FakeTwilio
) -> None:
    [job_id] = await outbox.add("B11-1-1 求助")
    fake_twilio.fail_next(status=503)
    assert await outbox.worker(backoff_seconds=0).drain_once() == 1
    [job] = await outbox.jobs()
    assert (job.maybe_sent, job.send_started_at) == (False, None)

    async with outbox.sessions() as session:  # the next worker dies before it starts the send
        dead = {"status": SENDING, "lease_until": utcnow() - timedelta(seconds=1)}
        await _set(session, [job_id], **dead)
        await session.commit()
    assert await outbox.worker().drain_once() == 1

    assert [r["method"] for r in fake_twilio.requests] == ["POST", "POST"]
    [job] = await outbox.jobs()
    assert job.status == SENT
    assert job.provider_sid == fake_twilio.messages[0]["sid"]


async def test_a_call_a_dead_worker_placed_is_not_placed_again(
    outbox: Outbox, fake_twilio: FakeTwilio
) -> None:
    await outbox.sender.call(to=POLICE, twiml="<Response><Say>求助</Say></Response>")
    [placed, unplaced] = await outbox.add("B11-1-301 求助", "B11-1-302 求助", channel="voice")
    async with outbox.sessions() as session:
        dead = {"status": SENDING, "lease_until": utcnow() - timedelta(seconds=1)}
        await _set(session, [placed], send_started_at=utcnow(), **dead)
        await _set(session, [unplaced], **dead)
        await session.commit()
    worker = OutboxWorker(
        outbox.sessions, outbox.sender, render_call=lambda job: f"<Response>{job.body}</Response>"
    )

    assert await worker.drain_once() == 2

    calls = fake_twilio.calls
    assert len(calls) == 2
    jobs = {job.id: job for job in await outbox.jobs()}
    assert jobs[placed].provider_sid == calls[0]["sid"]
    assert jobs[unplaced].provider_sid == calls[1]["sid"]
    assert calls[1]["twiml"] == "<Response>B11-1-302 求助</Response>"


async def test_a_stopping_worker_hands_back_what_it_has_not_begun_and_another_sends_it_at_once(
    outbox: Outbox, fake_twilio: FakeTwilio
) -> None:
    await outbox.add(*(f"B11-1-{i} 求助" for i in range(6)))
    fake_twilio.answer_after = 0.3  # one send at a time, each answered 0.3 s after
    stopping = outbox.worker(lease_seconds=60, concurrency=1, poll_seconds=60)
    stopping.start()
    while not fake_twilio.messages:  # noqa: ASYNC110
        await asyncio.sleep(0.01)

    await stopping.stop()  # after the send in flight; a minute's lease is not waited out

    jobs = await outbox.jobs()
    assert [job.status for job in jobs] == [SENT] + [PENDING] * 5
    assert all(job.send_started_at is None and job.attempts == 0 for job in jobs[1:])
    assert all(job.next_attempt_at <= utcnow() for job in jobs[1:])
    assert await outbox.worker().drain_once() == 5
    assert all(job.status == SENT for job in await outbox.jobs())
    assert Counter(m["body"] for m in fake_twilio.messages) == Counter(j.body for j in jobs)


async def test_a_send_cut_off_by_the_stop_grace_ends_its_lease_and_is_not_sent_twice(
    outbox: Outbox, fake_twilio: FakeTwilio
) -> None:
    await outbox.add("B11-1-1 求助", "B11-1-2 求助", "B11-1-3 求助")
    fake_twilio.answer_after = 3.0  # Twilio takes the text at once and answers too late
    stopping = outbox.worker(lease_seconds=60, concurrency=1, poll_seconds=60)
    stopping.start()
    while not fake_twilio.messages:  # noqa: ASYNC110
        await asyncio.sleep(0.01)

    await stopping.stop(grace_seconds=0.2)

    cut, *rest = await outbox.jobs()
    assert cut.status == SENDING
    assert cut.send_started_at is not None
    assert cut.lease_until is not None
    assert cut.lease_until <= utcnow()
    assert [job.status for job in rest] == [PENDING, PENDING]
    fake_twilio.answer_after = 0.0
    assert await outbox.worker().drain_once() == 3  # the cut one looked up, not sent again
    assert all(job.status == SENT for job in await outbox.jobs())
    assert sorted(m["body"] for m in fake_twilio.messages) == [
        "B11-1-1 求助",
        "B11-1-2 求助",
        "B11-1-3 求助",
    ]
