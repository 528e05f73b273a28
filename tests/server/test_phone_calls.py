"""A call to the alarm number is enough: the caller's household raises an alarm by voice."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack

from notifier.models import SENT
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, poll_until, stream
from tests.server.phone_support import (
    COMMUNITY_NUMBER,
    GROUP_NUMBER,
    PUBLIC,
    STRANGER,
    add_numbers,
    alerts_of,
    call,
    outbox_of,
    phone_of,
    phone_settings,
    serving,
    speak_english,
)


def gather_action(twiml: str) -> str:
    """The URL a <Gather> posts the pressed digit to."""
    match = re.search(r'<Gather action="([^"]+)"', twiml)
    assert match, twiml
    return match[1].replace("&amp;", "&")


async def test_a_call_raises_an_alarm_that_reaches_the_neighbours_sockets_and_phones(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    caller = "B11-1-101"
    await add_numbers(sqlite_url, seeded)
    phone = await phone_of(sqlite_url, caller)
    group = seeded.group_of(caller)
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        AsyncExitStack() as stack,
    ):
        neighbours = [
            await stack.enter_async_context(stream(base, seeded.households[a]))
            for a in group
            if a != caller
        ]
        board = await stack.enter_async_context(stream(base, seeded.staff["patrol_leader"]))

        menu = await fake_twilio.webhook("/twilio/voice", call("CA1", phone, GROUP_NUMBER))
        assert menu.status_code == 200, menu.text
        assert menu.headers["content-type"].startswith("application/xml")
        assert "按键" in menu.text
        assert 'numDigits="1"' in menu.text
        assert await board.silent(0.2)  # nothing raised before the caller chose (or waited)

        said = await fake_twilio.webhook(
            gather_action(menu.text), call("CA1", phone, GROUP_NUMBER, Digits="2")
        )
        assert said.status_code == 200, said.text
        assert "已通知您的邻居和巡逻队，请保持电话畅通" in said.text
        assert "110" not in said.text

        for sock in [*neighbours, board]:
            event = await sock.next_event()
            assert event["type"] == "alert.raised"
            assert event["channel"] == "voice"
            assert event["data"]["household"] == caller
            assert event["data"]["alert_type"] == "medical"

        async def all_texted() -> bool:
            jobs = await outbox_of(sqlite_url)
            return len(jobs) == 9 and all(job.status == SENT for job in jobs)

        await poll_until(all_texted)
    [alert] = await alerts_of(sqlite_url)
    assert (alert.source, alert.type, alert.caller) == ("voice", "medical", None)
    assert len(fake_twilio.messages) == 9
    assert all(caller in m["body"] for m in fake_twilio.messages)


async def test_silence_means_help_and_an_english_household_hears_english(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    caller = "B11-1-202"
    await add_numbers(sqlite_url, seeded)
    await speak_english(sqlite_url, caller)
    phone = await phone_of(sqlite_url, caller)
    async with serving(phone_settings(sqlite_url, fake_twilio), fake_twilio):
        menu = await fake_twilio.webhook("/twilio/voice", call("CA2", phone, COMMUNITY_NUMBER))
        assert "Press 1 for help" in menu.text
        assert "按键" not in menu.text
        assert 'language="en-US"' in menu.text
        said = await fake_twilio.webhook(
            gather_action(menu.text), call("CA2", phone, COMMUNITY_NUMBER, Digits="")
        )
        assert "Your neighbours and the patrol have been alerted" in said.text
    [alert] = await alerts_of(sqlite_url)
    assert alert.type == "help"
    assert alert.household_id is not None


async def test_an_unknown_caller_is_never_refused_and_is_told_to_call_110(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    await add_numbers(sqlite_url, seeded)
    group = seeded.group_of("B11-1-101")
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        AsyncExitStack() as stack,
    ):
        member = await stack.enter_async_context(stream(base, seeded.households[group[3]]))
        board = await stack.enter_async_context(stream(base, seeded.staff["patrol_leader"]))

        menu = await fake_twilio.webhook("/twilio/voice", call("CA3", STRANGER, GROUP_NUMBER))
        assert "按键" in menu.text
        assert "Press 1" in menu.text  # a stranger hears both languages
        said = await fake_twilio.webhook(
            gather_action(menu.text), call("CA3", STRANGER, GROUP_NUMBER, Digits="3")
        )
        assert "请同时拨打110" in said.text
        assert "please also call 110" in said.text

        for sock in (member, board):
            event = await sock.next_event()
            assert event["type"] == "alert.raised"
            assert event["data"]["caller"] == "+86139****9999"  # masked: residents hear it too
            assert event["data"]["household"] is None
            assert event["data"]["alert_type"] == "fire"
            assert event["group_id"] == seeded.groups["B11-1-101"]
        whole = await board.next_event()  # the number to call back, for the board alone
        assert (whole["type"], whole["data"]["caller"]) == ("alert.caller", STRANGER)

        # On the community's number the alarm goes on the whole community's board.
        other = "+8613999999998"
        menu = await fake_twilio.webhook("/twilio/voice", call("CA4", other, COMMUNITY_NUMBER))
        await fake_twilio.webhook(gather_action(menu.text), call("CA4", other, COMMUNITY_NUMBER))
        event = await board.next_event()
        assert (event["group_id"], event["data"]["caller"]) == (None, "+86139****9998")
        assert await member.silent(0.2)
    first, second = await alerts_of(sqlite_url)
    assert (first.caller, first.group_id, first.household_id) == (
        STRANGER,
        seeded.groups["B11-1-101"],
        None,
    )
    assert (second.caller, second.group_id, second.type) == (other, None, "help")
    assert await outbox_of(sqlite_url) == []


async def test_a_caller_who_hangs_up_during_the_menu_still_raises_help_once(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    await add_numbers(sqlite_url, seeded)
    phone = await phone_of(sqlite_url, "B12-1-301")
    async with serving(phone_settings(sqlite_url, fake_twilio), fake_twilio):
        await fake_twilio.webhook("/twilio/voice", call("CA5", phone, COMMUNITY_NUMBER))
        ended = await fake_twilio.webhook(
            "/twilio/voice/status", call("CA5", phone, COMMUNITY_NUMBER, CallStatus="completed")
        )
        assert ended.status_code == 204
        # Twilio retrying the webhooks of the same call raises nothing more.
        await fake_twilio.webhook(
            "/twilio/voice/menu", call("CA5", phone, COMMUNITY_NUMBER, Digits="4")
        )
        await fake_twilio.webhook(
            "/twilio/voice/status", call("CA5", phone, COMMUNITY_NUMBER, CallStatus="completed")
        )
    [alert] = await alerts_of(sqlite_url)
    assert (alert.type, alert.source) == ("help", "voice")


async def test_a_call_to_no_alarm_number_from_a_stranger_is_told_to_call_110(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    async with serving(phone_settings(sqlite_url, fake_twilio), fake_twilio):
        said = await fake_twilio.webhook("/twilio/voice", call("CA6", STRANGER, "+8610999"))
    assert "请拨打110" in said.text
    assert "<Gather" not in said.text
    assert await alerts_of(sqlite_url) == []


async def test_an_unsigned_or_forged_webhook_is_refused_and_raises_nothing(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    await add_numbers(sqlite_url, seeded)
    phone = await phone_of(sqlite_url, "B11-1-101")
    form = call("CA7", phone, GROUP_NUMBER, Digits="1", CallStatus="completed")
    async with serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base:
        for path in ("/twilio/voice", "/twilio/voice/menu", "/twilio/voice/status", "/twilio/sms"):
            unsigned = await fake_twilio.webhook(path, form, signature="")
            forged = await fake_twilio.webhook(path, form, signature="c2lnbmVkIGJ5IG5vYm9keQ==")
            # Signed, but for the address the app listens on rather than its public URL.
            wrong_url = await fake_twilio.webhook(
                path, form, signature=fake_twilio.sign(base + path, form)
            )
            # Signed for the public URL with another account's token.
            other = FakeTwilio(auth_token="another-token")
            wrong_token = await fake_twilio.webhook(
                path, form, signature=other.sign(PUBLIC + path, form)
            )
            assert [r.status_code for r in (unsigned, forged, wrong_url, wrong_token)] == [403] * 4
        receipt = await fake_twilio.webhook(
            "/twilio/status?job=1",
            {"MessageSid": "SM1", "MessageStatus": "delivered"},
            signature="",
        )
        assert receipt.status_code == 403
        # The same request, signed, goes through: the refusals were for the signature alone.
        signed = await fake_twilio.webhook("/twilio/voice/menu", form)
        assert signed.status_code == 200
    assert len(await alerts_of(sqlite_url)) == 1
