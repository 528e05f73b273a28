"""A text to the alarm number is enough: HELP, SOS, 救命 or 1 raise the alarm; others get help."""

from __future__ import annotations

import re
from html import unescape

import pytest

from server.phone.inbound import parse_command
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, press, stream
from tests.server.phone_support import (
    COMMUNITY_NUMBER,
    GROUP_NUMBER,
    STRANGER,
    add_numbers,
    alerts_of,
    call,
    phone_of,
    phone_settings,
    serving,
    speak_english,
    text,
)


def reply_of(twiml: str) -> str:
    """The text a TwiML answer sends back ('' for none)."""
    match = re.search(r"<Message>(.*)</Message>", twiml, re.S)
    return unescape(match[1]) if match else ""


@pytest.mark.parametrize(
    ("word", "command"),
    [
        ("HELP", "help"),
        ("help!", "help"),
        (" sos ", "help"),
        ("救命", "help"),
        ("救命！", "help"),
        ("求助", "help"),
        ("1", "one"),
        ("１", "one"),  # a full-width digit from a Chinese keyboard
        ("来", "coming"),
        ("coming", "coming"),
        ("2", "cant"),
        ("不能", "cant"),
        ("can't", "cant"),
        ("CANT", "cant"),
        ("3", "called_110"),
        ("110", "called_110"),
        ("已报警", "called_110"),
        ("hello", None),
        ("你好", None),
        ("", None),
        ("12", None),
    ],
)
def test_a_text_is_read_as_a_command_in_either_language(word: str, command: str | None) -> None:
    assert parse_command(word) == command


async def test_a_text_of_jiuming_raises_the_alarm_and_the_sender_is_told_in_chinese(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    sender = "B11-1-101"
    await add_numbers(sqlite_url, seeded)
    phone = await phone_of(sqlite_url, sender)
    neighbour = next(a for a in seeded.group_of(sender) if a != sender)
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.households[neighbour]) as sock,
    ):
        answer = await fake_twilio.webhook("/twilio/sms", text("SM1", phone, GROUP_NUMBER, "救命"))
        assert answer.status_code == 200, answer.text
        assert reply_of(answer.text) == "【十户联防】已通知您的邻居和巡逻队，请保持电话畅通。"
        event = await sock.next_event()
        assert (event["type"], event["channel"]) == ("alert.raised", "sms")
        assert event["data"]["household"] == sender
        # Twilio retrying the same webhook neither raises again nor texts back again.
        again = await fake_twilio.webhook("/twilio/sms", text("SM1", phone, GROUP_NUMBER, "救命"))
        assert again.status_code == 200
        assert reply_of(again.text) == ""
        assert await sock.silent(0.2)
    [alert] = await alerts_of(sqlite_url)
    assert (alert.source, alert.type) == ("sms", "help")


@pytest.mark.parametrize("word", ["HELP", "sos", "1"])
async def test_help_sos_or_1_raise_the_alarm_and_an_english_household_is_answered_in_english(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio, word: str
) -> None:
    sender = "B12-2-402"
    await add_numbers(sqlite_url, seeded)
    await speak_english(sqlite_url, sender)
    phone = await phone_of(sqlite_url, sender)
    async with serving(phone_settings(sqlite_url, fake_twilio), fake_twilio):
        answer = await fake_twilio.webhook(
            "/twilio/sms", text("SM2", phone, COMMUNITY_NUMBER, word)
        )
    assert reply_of(answer.text).startswith("[TenWatch] Your neighbours and the patrol")
    [alert] = await alerts_of(sqlite_url)
    assert alert.source == "sms"
    assert alert.household_id is not None


async def test_an_unknown_word_gets_the_list_of_commands_and_raises_nothing(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    await add_numbers(sqlite_url, seeded)
    chinese = await phone_of(sqlite_url, "B11-1-101")
    english = "B11-2-101"
    await speak_english(sqlite_url, english)
    async with serving(phone_settings(sqlite_url, fake_twilio), fake_twilio):
        zh = await fake_twilio.webhook("/twilio/sms", text("SM3", chinese, GROUP_NUMBER, "在吗"))
        en = await fake_twilio.webhook(
            "/twilio/sms",
            text("SM4", await phone_of(sqlite_url, english), GROUP_NUMBER, "what is this"),
        )
        both = await fake_twilio.webhook("/twilio/sms", text("SM5", STRANGER, GROUP_NUMBER, "hi"))
    assert "救命" in reply_of(zh.text)
    assert "Reply HELP" not in reply_of(zh.text)
    assert "Reply HELP or SOS" in reply_of(en.text)
    assert "救命" not in reply_of(en.text)
    assert "救命" in reply_of(both.text)
    assert "Reply HELP or SOS" in reply_of(both.text)
    assert await alerts_of(sqlite_url) == []


async def test_an_unknown_sender_texting_sos_raises_an_unidentified_alarm_and_is_told_110(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    await add_numbers(sqlite_url, seeded)
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.staff["patrol_member"]) as board,
    ):
        answer = await fake_twilio.webhook(
            "/twilio/sms", text("SM6", STRANGER, GROUP_NUMBER, "SOS")
        )
        event = await board.next_event()
        whole = await board.next_event()
    assert "110" in reply_of(answer.text)
    assert event["data"]["caller"] == "+86139****9999"  # the group's residents hear it too
    assert (whole["type"], whole["data"]["caller"]) == ("alert.caller", STRANGER)
    assert event["channel"] == "sms"
    [alert] = await alerts_of(sqlite_url)
    assert (alert.caller, alert.group_id) == (STRANGER, seeded.groups["B11-1-101"])


@pytest.mark.parametrize(
    ("word", "answer", "reply"),
    [
        ("来", "coming", "【十户联防】已告知大家您马上赶到 B11-1-101。"),
        ("1", "coming", "【十户联防】已告知大家您马上赶到 B11-1-101。"),
        ("不能", "cant", "【十户联防】已记录：您无法前往 B11-1-101。"),
        ("110", "called_110", "【十户联防】已记录：您已为 B11-1-101 报警110。"),
        ("3", "called_110", "【十户联防】已记录：您已为 B11-1-101 报警110。"),
    ],
)
async def test_a_neighbour_answers_an_open_alarm_by_text_in_chinese(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio, word: str, answer: str, reply: str
) -> None:
    raiser, neighbour = "B11-1-101", "B11-1-102"
    await add_numbers(sqlite_url, seeded)
    phone = await phone_of(sqlite_url, neighbour)
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.staff["patrol_leader"]) as board,
    ):
        raised = (await press(base, seeded.households[raiser])).json()
        await board.next_event()
        said = await fake_twilio.webhook("/twilio/sms", text("SM7", phone, GROUP_NUMBER, word))
        event = await board.next_event()
    assert reply_of(said.text) == reply
    assert (event["type"], event["alert_id"], event["channel"]) == (
        "alert.response",
        raised["alert"]["id"],
        "sms",
    )
    assert (event["data"]["answer"], event["data"]["responder"]) == (answer, neighbour)
    assert len(await alerts_of(sqlite_url)) == 1  # "1" answered; it raised nothing new


@pytest.mark.parametrize(
    ("word", "answer", "reply"),
    [
        ("coming", "coming", "[TenWatch] Thank you: everyone sees you are coming to B12-1-101."),
        ("2", "cant", "[TenWatch] Noted: you can't come to B12-1-101."),
        ("110", "called_110", "[TenWatch] Noted: you called 110 for B12-1-101."),
    ],
)
async def test_a_neighbour_answers_an_open_alarm_by_text_in_english(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio, word: str, answer: str, reply: str
) -> None:
    raiser, neighbour = "B12-1-101", "B12-1-201"
    await add_numbers(sqlite_url, seeded)
    await speak_english(sqlite_url, neighbour)
    phone = await phone_of(sqlite_url, neighbour)
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.households[raiser]) as group,
    ):
        await press(base, seeded.households[raiser])
        await group.next_event()
        said = await fake_twilio.webhook("/twilio/sms", text("SM8", phone, COMMUNITY_NUMBER, word))
        event = await group.next_event()
    assert reply_of(said.text) == reply
    assert (event["type"], event["data"]["answer"]) == ("alert.response", answer)


async def test_an_answer_with_no_open_alarm_is_told_so_and_raises_nothing(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    await add_numbers(sqlite_url, seeded)
    phone = await phone_of(sqlite_url, "B11-1-102")
    async with serving(phone_settings(sqlite_url, fake_twilio), fake_twilio):
        said = await fake_twilio.webhook("/twilio/sms", text("SM9", phone, GROUP_NUMBER, "不能"))
    assert "现在没有需要您回应的警情" in reply_of(said.text)
    assert await alerts_of(sqlite_url) == []


async def test_a_call_a_text_and_the_app_button_from_one_household_make_one_alarm(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    household = "B11-1-101"
    await add_numbers(sqlite_url, seeded)
    phone = await phone_of(sqlite_url, household)
    async with serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base:
        await fake_twilio.webhook("/twilio/voice", call("CA9", phone, GROUP_NUMBER))
        await fake_twilio.webhook(
            "/twilio/voice/menu", call("CA9", phone, GROUP_NUMBER, Digits="2")
        )
        texted = await fake_twilio.webhook("/twilio/sms", text("SM10", phone, GROUP_NUMBER, "SOS"))
        pressed = await press(base, seeded.households[household])
    assert "已通知您的邻居" in reply_of(texted.text)
    assert pressed.status_code == 200  # joined the open alarm
    [alert] = await alerts_of(sqlite_url)
    assert (alert.source, alert.type, alert.presses) == ("voice", "medical", 3)
    assert pressed.json()["alert"]["id"] == alert.id
