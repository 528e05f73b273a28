"""Neighbours' phones are texted through the real twilio library, from an outbox that survives."""

from __future__ import annotations

from sqlalchemy import select

from groups.db import create_engine, create_sessionmaker, utcnow
from notifier.models import FAILED, SENT, OutboxMessage
from server import alerts, auth
from server.settings import Settings
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, poll_until, press, running

FROM = "+15005550006"


def twilio_settings(url: str, fake: FakeTwilio) -> Settings:
    return Settings(
        database_url=url,
        twilio_account_sid=fake.account_sid,
        twilio_auth_token=fake.auth_token,
        twilio_from=FROM,
        twilio_api_url=fake.url,
        outbox_poll_seconds=0.05,
    )


async def outbox(url: str) -> list[OutboxMessage]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    finally:
        await engine.dispose()


async def test_each_neighbour_with_a_phone_gets_one_text_through_twilio(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    raiser = "B12-2-301"
    async with running(twilio_settings(sqlite_url, fake_twilio)) as base:
        raised = (await press(base, seeded.households[raiser], "intrusion")).json()
        assert raised["texts"] == 9

        async def all_sent() -> bool:
            return all(job.status == SENT for job in await outbox(sqlite_url))

        await poll_until(all_sent)
    jobs = await outbox(sqlite_url)
    assert len(jobs) == 9
    assert {job.alert_id for job in jobs} == {raised["alert"]["id"]}
    texted = {m["to"]: m for m in fake_twilio.messages}
    assert set(texted) == {job.to for job in jobs}
    assert all(m["from"] == FROM and raiser in m["body"] for m in texted.values())
    assert {job.provider_sid for job in jobs} == {m["sid"] for m in texted.values()}


async def test_a_twilio_outage_is_retried_and_a_bad_number_is_given_up(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.fail_next(status=503, times=3)
    fake_twilio.fail_next(
        status=400, code=21211, message="The 'To' number is not a valid phone number."
    )
    async with running(twilio_settings(sqlite_url, fake_twilio)) as base:
        await press(base, seeded.households["B11-1-101"])

        async def settled() -> bool:
            return all(job.status in (SENT, FAILED) for job in await outbox(sqlite_url))

        await poll_until(settled, timeout=30)
    jobs = await outbox(sqlite_url)
    failed = [job for job in jobs if job.status == FAILED]
    assert len(failed) == 1
    assert failed[0].error_code == "21211"
    assert sum(job.status == SENT for job in jobs) == 8
    assert len(fake_twilio.messages) == 8


async def test_texts_stored_by_a_process_that_died_are_sent_when_one_starts(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    engine = create_engine(sqlite_url)
    async with create_sessionmaker(engine)() as session:
        principal = await auth.authenticate(session, seeded.households["B11-2-501"])
        assert principal is not None
        raised = await alerts.create(
            session, principal=principal, alert_type="medical", now=utcnow()
        )
        await session.commit()  # the press was answered here; then the process died
    await engine.dispose()
    assert {job.status for job in await outbox(sqlite_url)} == {"pending"}

    async with running(twilio_settings(sqlite_url, fake_twilio)):

        async def all_sent() -> bool:
            return all(job.status == SENT for job in await outbox(sqlite_url))

        await poll_until(all_sent)
    assert len(fake_twilio.messages) == raised.texts == 9
