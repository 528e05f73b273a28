"""Neighbours' phones are texted through the real twilio library, from an outbox that survives."""

from __future__ import annotations

from notifier.models import SENT
from server import accounts
from server.alarms import press as pressing
from server.alarms.models import AlertType
from storage.db import create_engine, create_sessionmaker, utcnow
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, poll_until, press, running
from tests.server.phone_support import FROM, outbox_of, phone_settings


async def test_each_neighbour_with_a_phone_gets_one_text_through_twilio(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    raiser = "B12-2-301"
    async with running(phone_settings(sqlite_url, fake_twilio)) as base:
        raised = (await press(base, seeded.households[raiser], "intrusion")).json()
        assert raised["texts"] == 9

        async def all_sent() -> bool:
            return all(job.status == SENT for job in await outbox_of(sqlite_url))

        await poll_until(all_sent)
    jobs = await outbox_of(sqlite_url)
    assert len(jobs) == 9
    assert {job.alert_id for job in jobs} == {raised["alert"]["id"]}
    texted = {m["to"]: m for m in fake_twilio.messages}
    assert set(texted) == {job.to for job in jobs}
    assert all(m["from"] == FROM and raiser in m["body"] for m in texted.values())
    assert {job.provider_sid for job in jobs} == {m["sid"] for m in texted.values()}


async def test_texts_stored_by_a_process_that_died_are_sent_when_one_starts(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    engine = create_engine(sqlite_url)
    async with create_sessionmaker(engine)() as session:
        principal = await accounts.authenticate(session, seeded.households["B11-2-501"])
        assert principal is not None
        raised = await pressing.create(
            session, principal=principal, alert_type=AlertType.MEDICAL, now=utcnow()
        )
        await session.commit()  # the press was answered here; then the process died
    await engine.dispose()
    assert {job.status for job in await outbox_of(sqlite_url)} == {"pending"}

    async with running(phone_settings(sqlite_url, fake_twilio)):

        async def all_sent() -> bool:
            return all(job.status == SENT for job in await outbox_of(sqlite_url))

        await poll_until(all_sent)
    assert len(fake_twilio.messages) == raised.texts == 9
