"""The phone on PostgreSQL: a call, retried webhooks, a text answer and receipts."""

from __future__ import annotations

import asyncio

import pytest

from notifier.models import SENT
from tests.fake_twilio import FakeTwilio
from tests.harness import poll_until, press, seed, stream
from tests.server.phone_support import (
    GROUP_NUMBER,
    add_numbers,
    alerts_of,
    call,
    outbox_of,
    phone_of,
    phone_settings,
    serving,
    text,
)

pytestmark = pytest.mark.postgres


async def test_on_postgres_a_call_raises_once_a_neighbour_answers_by_text_receipts_land(
    postgres_url: str, fake_twilio: FakeTwilio
) -> None:
    seeded = await seed(postgres_url)
    await add_numbers(postgres_url, seeded)
    caller, neighbour = "B11-1-101", "B11-1-102"
    caller_phone = await phone_of(postgres_url, caller)
    async with (
        serving(phone_settings(postgres_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.staff["patrol_leader"]) as board,
    ):
        await fake_twilio.webhook("/twilio/voice", call("CA1", caller_phone, GROUP_NUMBER))
        menu = call("CA1", caller_phone, GROUP_NUMBER, Digits="3")
        answers = await asyncio.gather(
            *(fake_twilio.webhook("/twilio/voice/menu", menu) for _ in range(3))
        )
        assert [a.status_code for a in answers] == [200] * 3
        raised = await board.next_event()
        assert (raised["type"], raised["data"]["alert_type"]) == ("alert.raised", "fire")

        said = await fake_twilio.webhook(
            "/twilio/sms",
            text("SM1", await phone_of(postgres_url, neighbour), GROUP_NUMBER, "来"),
        )
        assert "马上赶到" in said.text
        assert (await board.next_event())["data"]["answer"] == "coming"

        async def all_sent() -> bool:
            jobs = await outbox_of(postgres_url)
            return len(jobs) == 9 and all(job.status == SENT for job in jobs)

        await poll_until(all_sent)
        job = (await outbox_of(postgres_url))[0]
        assert job.provider_sid is not None
        assert (
            await asyncio.to_thread(fake_twilio.post_status, job.provider_sid, "delivered") == 204
        )
        assert await asyncio.to_thread(fake_twilio.post_status, job.provider_sid, "sent") == 204
        delivered = await board.next_event()
        assert delivered["data"]["delivery"] == "delivered"
        await press(base, seeded.households[caller])  # the app button joins the same alarm
    [alert] = await alerts_of(postgres_url)
    assert (alert.type, alert.presses) == ("fire", 2)
    assert (await outbox_of(postgres_url))[0].delivery_status == "delivered"


async def test_on_postgres_the_same_first_webhook_arriving_thrice_at_once_raises_one_alarm(
    postgres_url: str, fake_twilio: FakeTwilio
) -> None:
    seeded = await seed(postgres_url)
    await add_numbers(postgres_url, seeded)
    sender = await phone_of(postgres_url, "B12-1-101")
    async with serving(phone_settings(postgres_url, fake_twilio), fake_twilio):
        sos = text("SM-TWICE", sender, GROUP_NUMBER, "SOS")
        answers = await asyncio.gather(*(fake_twilio.webhook("/twilio/sms", sos) for _ in range(3)))
        assert [a.status_code for a in answers] == [200] * 3
        replies = [a.text for a in answers if "<Message>" in a.text]
        assert len(replies) == 1
    [alert] = await alerts_of(postgres_url)
    assert (alert.source, alert.presses) == ("sms", 1)
