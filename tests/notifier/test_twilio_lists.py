"""The fake Twilio's lists as Twilio documents them (filters, pages, page tokens), through the
real twilio library; and the sender's lookup, which reads every page of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from notifier.sms.twilio import TwilioSender, create_twilio_client
from storage.db import utcnow
from tests.fake_twilio import FakeTwilio

FROM = "+15005550006"
OTHER_FROM = "+15005550007"
POLICE = "+8613900000004"
NEIGHBOUR = "+8613800000001"


@pytest.fixture
async def client(fake_twilio: FakeTwilio) -> AsyncIterator[Any]:
    """The twilio library's client aimed at the fake."""
    client = create_twilio_client(
        fake_twilio.account_sid, fake_twilio.auth_token, api_url=fake_twilio.url
    )
    yield client
    await client.http_client.close()


async def _text(client: Any, *, to: str = POLICE, body: str, from_: str = FROM) -> str:
    message = await client.messages.create_async(to=to, from_=from_, body=body)
    return str(message.sid)


async def test_messages_are_listed_newest_first_filtered_by_to_and_from(client: Any) -> None:
    first = await _text(client, body="one")
    await _text(client, to=NEIGHBOUR, body="two")
    await _text(client, body="three", from_=OTHER_FROM)
    last = await _text(client, body="four")

    to_police = await client.messages.list_async(to=POLICE, from_=FROM)
    assert [m.sid for m in to_police] == [last, first]
    assert len(await client.messages.list_async(to=POLICE)) == 3
    assert len(await client.messages.list_async()) == 4


async def test_the_day_sent_filters_match_whole_days(client: Any) -> None:
    sid = await _text(client, body="today")
    now = utcnow()
    tomorrow, yesterday = now + timedelta(days=1), now - timedelta(days=1)

    later_today = await client.messages.list_async(date_sent_after=now + timedelta(seconds=5))
    assert [m.sid for m in later_today] == [sid]  # a date-time counts by its date
    assert await client.messages.list_async(date_sent_after=tomorrow) == []
    assert await client.messages.list_async(date_sent_before=yesterday) == []
    assert [m.sid for m in await client.messages.list_async(date_sent=now)] == [sid]
    [listed] = await client.messages.list_async(date_sent_after=yesterday)
    assert listed.date_sent is not None
    assert abs(listed.date_sent - now) < timedelta(minutes=1)


async def test_a_list_reads_every_page_and_a_page_token_holds_its_place(
    client: Any, fake_twilio: FakeTwilio
) -> None:
    sids = [await _text(client, body=f"text {i}") for i in range(7)]

    listed = await client.messages.list_async(to=POLICE, page_size=3)
    assert [m.sid for m in listed] == sids[::-1]
    pages = [r["path"] for r in fake_twilio.requests if r["method"] == "GET"]
    assert len(pages) == 3
    assert "PageToken=PA" in pages[1]
    assert "Page=2" in pages[2]

    first = await client.messages.page_async(to=POLICE, page_size=3)
    newer = await _text(client, body="newer")  # arrives while the list is read
    second = await first.next_page_async()
    assert [m.sid for m in second] == sids[3:0:-1]
    assert newer not in [m.sid for m in [*first, *second]]


async def test_a_page_size_over_a_thousand_reads_a_thousand(
    client: Any, fake_twilio: FakeTwilio
) -> None:
    await _text(client, body="one")
    page = await client.messages.page_async(page_size=5000)
    assert len(list(page)) == 1
    assert "PageSize=5000" in fake_twilio.requests[-1]["path"]
    assert page._payload["page_size"] == 1000


async def test_calls_are_listed_by_to_from_and_the_day_they_started(client: Any) -> None:
    twiml = "<Response><Say>求助</Say></Response>"
    placed = await client.calls.create_async(to=POLICE, from_=FROM, twiml=twiml)
    await client.calls.create_async(to=POLICE, from_=OTHER_FROM, twiml=twiml)
    now = utcnow()

    found = await client.calls.list_async(to=POLICE, from_=FROM, start_time_after=now)
    assert [c.sid for c in found] == [placed.sid]
    assert await client.calls.list_async(start_time_after=now + timedelta(days=1)) == []
    assert len(await client.calls.list_async(to=POLICE, start_time_before=now)) == 2


async def test_a_lookup_finds_an_old_text_behind_many_newer_ones_to_that_number(
    fake_twilio: FakeTwilio,
) -> None:
    since = utcnow()
    async with TwilioSender(
        fake_twilio.account_sid,
        fake_twilio.auth_token,
        from_=FROM,
        api_url=fake_twilio.url,
        lookup_page_size=4,
    ) as sender:
        wanted = await sender.send(to=POLICE, body="B11-1-301 求助")
        for i in range(25):
            await sender.send(to=POLICE, body=f"B12-{i} 求助")
        again = await sender.send(to=POLICE, body="B11-1-301 求助")

        found = await sender.lookup(channel="sms", to=POLICE, body="B11-1-301 求助", since=since)

    assert [r.sid for r in found] == [wanted.sid, again.sid]  # both, oldest first
    lists = [r for r in fake_twilio.requests if r["method"] == "GET"]
    assert len(lists) == 7  # 27 texts, four a page
    assert all(f"To={POLICE.replace('+', '%2B')}" in r["path"] for r in lists)
    assert all(f"From={FROM.replace('+', '%2B')}" in r["path"] for r in lists)
    assert "DateSent%3E=" in lists[0]["path"]


async def test_a_lookup_skips_texts_created_before_its_time(fake_twilio: FakeTwilio) -> None:
    async with TwilioSender(
        fake_twilio.account_sid, fake_twilio.auth_token, from_=FROM, api_url=fake_twilio.url
    ) as sender:
        await sender.send(to=POLICE, body="same")
        later = utcnow() + timedelta(minutes=10)  # the same day (unless at midnight): listed
        assert await sender.lookup(channel="sms", to=POLICE, body="same", since=later) == []
