"""Calls and lookups through the real twilio library against the fake; the console's calls;
forward-only delivery statuses; the rate limiter."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from notifier.models import moves_forward
from notifier.outbox import callback_url
from notifier.rate import RateLimiter
from notifier.sms import ConsoleSender, SendError, create_sender
from notifier.sms.twilio import TwilioSender
from storage.db import utcnow
from tests.fake_twilio import FakeTwilio

FROM = "+15005550006"
VOICE_FROM = "+15005550007"
NEIGHBOUR = "+8613800000001"
TWIML = "<Response><Say>B11-1-301 求助</Say></Response>"


@pytest.fixture
async def sender(fake_twilio: FakeTwilio) -> AsyncIterator[TwilioSender]:
    """A Twilio sender with SMS and voice From numbers, pointed at the fake."""
    sender = TwilioSender(
        fake_twilio.account_sid,
        fake_twilio.auth_token,
        from_=FROM,
        voice_from=VOICE_FROM,
        api_url=fake_twilio.url,
    )
    yield sender
    await sender.close()


async def test_a_neighbour_is_called_with_twiml_from_the_voice_number(
    sender: TwilioSender, fake_twilio: FakeTwilio
) -> None:
    result = await sender.call(
        to=NEIGHBOUR, twiml=TWIML, status_callback="https://tw.example/twilio/status?job=7"
    )
    [placed] = fake_twilio.calls
    assert (placed["to"], placed["from"], placed["twiml"]) == (NEIGHBOUR, VOICE_FROM, TWIML)
    assert placed["status_callback"] == "https://tw.example/twilio/status?job=7"
    assert placed["form"]["StatusCallbackEvent"] == "completed"  # the last of the four
    assert (result.sid, result.status) == (placed["sid"], "queued")


async def test_a_refused_call_is_a_send_error_with_twilios_code(
    sender: TwilioSender, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.fail_next(status=400, code=13224, message="Invalid phone number")
    with pytest.raises(SendError) as caught:
        await sender.call(to="+1", twiml=TWIML)
    assert (caught.value.transient, caught.value.code) == (False, "13224")
    assert "refused the call" in str(caught.value)


async def test_a_text_carries_its_validity_period(
    sender: TwilioSender, fake_twilio: FakeTwilio
) -> None:
    await sender.send(to=NEIGHBOUR, body="hi", valid_for=600)
    await sender.send(to=NEIGHBOUR, body="hi", valid_for=10**6)
    first, second = fake_twilio.messages
    assert (first["form"]["ValidityPeriod"], second["form"]["ValidityPeriod"]) == ("600", "36000")


async def test_a_lookup_finds_the_text_taken_for_that_phone_and_body_only(
    sender: TwilioSender, fake_twilio: FakeTwilio
) -> None:
    since = utcnow()
    taken = await sender.send(to=NEIGHBOUR, body="B11-1-301 求助")
    await sender.send(to=NEIGHBOUR, body="another text")
    await sender.send(to="+8613800000002", body="B11-1-301 求助")

    [found] = await sender.lookup(channel="sms", to=NEIGHBOUR, body="B11-1-301 求助", since=since)
    assert found.sid == taken.sid
    assert await sender.lookup(channel="sms", to=NEIGHBOUR, body="never sent", since=since) == []
    later = since + timedelta(hours=1)
    assert await sender.lookup(channel="sms", to=NEIGHBOUR, body="another text", since=later) == []
    assert [r["method"] for r in fake_twilio.requests].count("GET") == 3


async def test_a_lookup_finds_a_call_placed_to_that_phone(
    sender: TwilioSender, fake_twilio: FakeTwilio
) -> None:
    since = utcnow()
    assert await sender.lookup(channel="voice", to=NEIGHBOUR, body=None, since=since) == []
    placed = await sender.call(to=NEIGHBOUR, twiml=TWIML)
    [found] = await sender.lookup(channel="voice", to=NEIGHBOUR, body=None, since=since)
    assert found.sid == placed.sid


async def test_a_send_that_got_no_answer_may_have_been_taken(
    sender: TwilioSender, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.drop_next()
    with pytest.raises(SendError) as dropped:
        await sender.send(to=NEIGHBOUR, body="hi")
    fake_twilio.fail_next(status=503)
    with pytest.raises(SendError) as refused:
        await sender.send(to=NEIGHBOUR, body="hi")
    assert (dropped.value.transient, dropped.value.maybe_sent) == (True, True)
    assert (refused.value.transient, refused.value.maybe_sent) == (True, False)


async def test_calls_need_a_from_number() -> None:
    sender = create_sender(
        "twilio://",
        account_sid="AC1",
        auth_token="t",
        messaging_service_sid="MG1",
        api_url="http://127.0.0.1:9",
    )
    with pytest.raises(SendError) as caught:
        await sender.call(to=NEIGHBOUR, twiml=TWIML)
    assert caught.value.transient is False
    await sender.close()


async def test_the_console_sender_prints_a_call_and_cannot_look_anything_up() -> None:
    out = io.StringIO()
    sender = ConsoleSender(stream=out)
    result = await sender.call(to=NEIGHBOUR, twiml=TWIML)
    assert out.getvalue() == f"CALL → {NEIGHBOUR}: {TWIML}\n"
    assert sender.calls[0].sid == result.sid
    assert sender.calls[0].channel == "voice"
    assert await sender.lookup(channel="sms", to=NEIGHBOUR, body="x", since=utcnow()) == []


@pytest.mark.parametrize(
    ("channel", "current", "new", "forward"),
    [
        ("sms", None, "queued", True),
        ("sms", "queued", "sent", True),
        ("sms", "sent", "delivered", True),
        ("sms", "delivered", "sent", False),
        ("sms", "delivered", "undelivered", False),
        ("sms", "sent", "queued", False),
        ("sms", "queued", "bogus", False),
        ("voice", "ringing", "completed", True),
        ("voice", "completed", "ringing", False),
        ("voice", "no-answer", "completed", False),
    ],
)
def test_a_delivery_status_only_ever_moves_forward(
    channel: str, current: str | None, new: str, forward: bool
) -> None:
    assert moves_forward(channel=channel, current=current, new=new) is forward


def test_each_job_has_its_own_receipt_url() -> None:
    assert callback_url("https://t.example/twilio/status", job_id=7) == (
        "https://t.example/twilio/status?job=7"
    )
    assert callback_url("https://t.example/s?a=1", job_id=7) == "https://t.example/s?a=1&job=7"
    assert callback_url(None, job_id=7) is None


async def test_the_rate_limiter_lets_a_burst_through_then_paces() -> None:
    limiter = RateLimiter(rate=50, burst=3)
    start = time.monotonic()
    await asyncio.gather(*(limiter.acquire() for _ in range(3)))
    burst = time.monotonic() - start
    await asyncio.gather(*(limiter.acquire() for _ in range(5)))
    paced = time.monotonic() - start
    assert burst < 0.05
    assert paced >= 5 / 50 * 0.9
