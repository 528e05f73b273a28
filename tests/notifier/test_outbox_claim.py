"""The outbox worker claims a dead worker's jobs first, then due jobs, earliest due first."""

import io
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from groups.models import Community
from notifier.models import PENDING, SENDING, SENT, OutboxMessage
from notifier.outbox import OutboxWorker
from notifier.policy import OutboxPolicy
from notifier.sms.console import ConsoleSender
from storage.db import create_engine, create_sessionmaker, utcnow


async def test_a_batch_takes_stale_jobs_then_the_earliest_due(db_url: str) -> None:
    engine = create_engine(db_url)
    sessions = create_sessionmaker(engine)
    now = utcnow()
    try:
        async with sessions() as session:
            community = Community(name="东湖社区")
            session.add(community)
            await session.flush()
            jobs: dict[str, dict[str, Any]] = {
                "due a minute ago": {"next_attempt_at": now - timedelta(minutes=1)},
                "due five minutes ago": {"next_attempt_at": now - timedelta(minutes=5)},
                "its worker died": {"status": SENDING, "lease_until": now - timedelta(seconds=1)},
                "due in an hour": {"next_attempt_at": now + timedelta(hours=1)},
            }
            phone = "+8613800000001"
            for body, fields in jobs.items():
                session.add(OutboxMessage(community_id=community.id, to=phone, body=body, **fields))
            await session.commit()

        sender = ConsoleSender(stream=io.StringIO())
        worker = OutboxWorker(sessions, sender, policy=OutboxPolicy(batch_size=2))
        sent = [await worker.drain_once() for _ in range(3)]
        assert sent == [2, 1, 0]
        assert [m.body for m in sender.messages] == [
            "its worker died",
            "due five minutes ago",
            "due a minute ago",
        ]
        async with sessions() as session:
            stored = {m.body: m for m in await session.scalars(select(OutboxMessage))}
        assert stored["due in an hour"].status == PENDING
        assert {stored[b].status for b in list(jobs)[:3]} == {SENT}
    finally:
        await engine.dispose()
