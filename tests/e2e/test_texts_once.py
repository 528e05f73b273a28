"""Two service processes text the police office through the fake Twilio; one is killed with
SIGKILL mid-send while hundreds of other texts go to the same number. Every job is sent exactly
once, and the dead process's jobs are sent by the survivor within seconds, not after a minute."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections import Counter

from sqlalchemy import insert

from notifier.models import SENDING, SENT, OutboxMessage
from storage.db import create_engine, create_sessionmaker, utcnow
from tests.e2e.processes import _start
from tests.fake_twilio import FakeTwilio
from tests.harness import poll_until, seed
from tests.server.phone_support import outbox_of

FROM = "+15005550006"
POLICE = "+8613900000004"  # the demo community's police office
LEASE_SECONDS = 2


async def _queue(url: str, *, community_id: int, bodies: list[str]) -> None:
    """Queue one text to the police office per body, in one transaction (as a storm does)."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            now = utcnow()
            rows = [
                {"community_id": community_id, "to": POLICE, "body": b, "created_at": now}
                for b in bodies
            ]
            await session.execute(insert(OutboxMessage), rows)
            await session.commit()
    finally:
        await engine.dispose()


def _env(url: str, redis_url: str, fake: FakeTwilio, *, via: str) -> dict[str, str]:
    settings = {
        "database_url": url,
        "redis_url": redis_url,
        "twilio_account_sid": fake.account_sid,
        "twilio_auth_token": fake.auth_token,
        "twilio_from": FROM,
        "twilio_api_url": fake.via(via),
        "public_base_url": "https://tenwatch.example.org",
        "outbox_poll_seconds": "0.05",
        "outbox_lease_seconds": str(LEASE_SECONDS),
        "sms_rate_per_second": "0",
    }
    return {**os.environ, **{f"TENWATCH_{k.upper()}": v for k, v in settings.items()}}


async def test_a_process_killed_mid_send_leaves_each_text_sent_once_and_the_rest_sent_soon(
    db_url: str, redis_url: str, fake_twilio: FakeTwilio
) -> None:
    seeded = await seed(db_url)
    fake_twilio.answer_after = 0.05  # Twilio takes each text at once and answers 50 ms later
    doomed, _ = await asyncio.to_thread(_start, _env(db_url, redis_url, fake_twilio, via="a"))
    survivor = None
    try:
        survivor, _ = await asyncio.to_thread(_start, _env(db_url, redis_url, fake_twilio, via="b"))
        # 400 alarms' texts to the police office; twenty bodies twice (a household pressing
        # again after its first alarm closed texts the same words).
        bodies = [f"警务室：B{i % 40}-1-{i} 求助，请立即出警" for i in range(380)]
        bodies += [f"警务室：B11-1-301 第{i}次求助" for i in range(20)] * 2
        await _queue(db_url, community_id=seeded.community_id, bodies=bodies)

        async def mid_send() -> bool:
            taken: int = sum(m["via"] == "a" for m in fake_twilio.messages)
            return taken >= 60

        await poll_until(mid_send, timeout=20)
        doomed.send_signal(signal.SIGKILL)
        await asyncio.to_thread(doomed.wait)
        claim = f"{socket.gethostname()[:32]}:{doomed.pid}:"
        orphans = {
            job.id: job
            for job in await outbox_of(db_url)
            if job.status == SENDING and (job.claimed_by or "").startswith(claim)
        }
        taken_by_a = Counter(m["body"] for m in fake_twilio.messages if m["via"] == "a")
        assert orphans, "the killed process held no batch"
        # Some of its sends reached Twilio and were never answered: the ones that go twice
        # unless they are looked up.
        assert any(job.send_started_at and taken_by_a[job.body] for job in orphans.values())

        async def orphans_sent() -> bool:
            jobs = await outbox_of(db_url)
            return all(job.status == SENT for job in jobs if job.id in orphans)

        await poll_until(orphans_sent, timeout=3 * LEASE_SECONDS + 5)

        async def all_sent() -> bool:
            jobs = await outbox_of(db_url)
            return all(job.status == SENT for job in jobs)

        await poll_until(all_sent, timeout=30)
    finally:
        for proc in (doomed, survivor):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                await asyncio.to_thread(proc.wait, 10)

    jobs = await outbox_of(db_url)
    assert len(jobs) == 420
    assert Counter(m["body"] for m in fake_twilio.messages) == Counter(bodies)
    assert len(fake_twilio.messages) == 420
    assert sorted(m["sid"] for m in fake_twilio.messages) == sorted(
        str(job.provider_sid) for job in jobs
    )
    survivor_texts = Counter(m["body"] for m in fake_twilio.messages if m["via"] == "b")
    assert any(survivor_texts[job.body] for job in orphans.values())
