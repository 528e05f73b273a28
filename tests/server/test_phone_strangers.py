"""A phone no household is registered with: its alarm is never refused, its number is the
staff's to read whole and reaches residents only masked, and its later calls and texts while
the alarm is open join that one alarm instead of texting the patrol again each time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.actors import Person
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, call, stream
from tests.server.phone_support import (
    COMMUNITY_NUMBER,
    GROUP_NUMBER,
    STRANGER,
    add_numbers,
    alerts_of,
    outbox_of,
    phone_settings,
    serving,
    text,
)
from tests.server.phone_support import call as voice_call
from tests.server.test_phone_calls import gather_action

MASKED = "+86139****9999"
PATROL_MEMBER = "+8613900000002"


async def _on_duty(base: str, seeded: Seed) -> None:
    """Put a patrol member on duty for the next hours (an override of the roster)."""
    now = datetime.now(UTC)
    added = await Person(base, seeded.staff["admin"]).add_override(
        PATROL_MEMBER,
        starts_at=(now - timedelta(minutes=1)).isoformat(),
        ends_at=(now + timedelta(hours=2)).isoformat(),
        on_duty=True,
    )
    assert added.status_code == 201, added.text


def _names_stranger(seen: Any) -> bool:
    """Whether what someone was given holds the stranger's whole number."""
    return STRANGER in json.dumps(seen, ensure_ascii=False)


async def test_an_unknown_callers_number_reaches_residents_masked_and_staff_whole(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    await add_numbers(sqlite_url, seeded)
    member = seeded.households[seeded.group_of("B11-1-101")[3]]
    patrol = seeded.staff["patrol_leader"]
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, member) as neighbours_app,
        stream(base, patrol) as board,
    ):
        said = await fake_twilio.webhook("/twilio/sms", text("SM1", STRANGER, GROUP_NUMBER, "SOS"))
        assert said.status_code == 200
        raised = await neighbours_app.next_event()
        assert (raised["type"], raised["data"]["caller"]) == ("alert.raised", MASKED)
        assert raised["actor"] == f"phone:{MASKED}"
        assert await neighbours_app.silent()
        async with stream(base, member, last_event_id=0) as replayed:
            await replayed.next_event()
            assert await replayed.silent()
            seen_by_member = [*neighbours_app.events, *replayed.events]
        on_board = await board.events_until(lambda ev: len(ev) >= 2)
        alert_id = raised["alert_id"]

        def read(token: str, path: str) -> Any:
            return call(base, token, "GET", path)

        as_member = (await read(member, f"/api/alerts/{alert_id}")).json()
        member_timeline = (await read(member, f"/api/alerts/{alert_id}/timeline")).json()
        member_list = (await read(member, "/api/alerts")).json()
        as_staff = (await read(patrol, f"/api/alerts/{alert_id}")).json()
        staff_timeline = (await read(patrol, f"/api/alerts/{alert_id}/timeline")).json()

    for seen in (seen_by_member, as_member, member_timeline, member_list):
        assert not _names_stranger(seen)
    assert as_member["caller"] == MASKED
    assert as_staff["caller"] == STRANGER
    assert [e["type"] for e in on_board] == ["alert.raised", "alert.caller"]
    assert on_board[0]["data"]["caller"] == MASKED  # the same text every channel got
    assert on_board[1]["data"]["caller"] == STRANGER
    assert _names_stranger(staff_timeline)
    [alert] = await alerts_of(sqlite_url)
    assert alert.caller == STRANGER


async def test_repeated_texts_and_a_call_from_one_unknown_phone_join_its_open_alarm(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    await add_numbers(sqlite_url, seeded)
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.staff["patrol_leader"]) as board,
    ):
        await _on_duty(base, seeded)
        first = await fake_twilio.webhook("/twilio/sms", text("SM1", STRANGER, GROUP_NUMBER, "SOS"))
        assert "110" in first.text
        patrol_texts = len(await outbox_of(sqlite_url))
        assert patrol_texts == 1  # the patrol member on duty, texted once
        for n in range(2, 6):
            again = await fake_twilio.webhook(
                "/twilio/sms", text(f"SM{n}", STRANGER, GROUP_NUMBER, "救命")
            )
            assert "110" in again.text
        menu = await fake_twilio.webhook("/twilio/voice", voice_call("CA1", STRANGER, GROUP_NUMBER))
        await fake_twilio.webhook(
            gather_action(menu.text), voice_call("CA1", STRANGER, COMMUNITY_NUMBER, Digits="1")
        )
        seen = await board.events_until(
            lambda ev: sum(e["type"] == "alert.pressed" for e in ev) == 5
        )
        [alarm] = await alerts_of(sqlite_url)
        assert (alarm.presses, alarm.caller) == (6, STRANGER)
        assert len(await outbox_of(sqlite_url)) == patrol_texts  # nobody texted again
        pressed = [e for e in seen if e["type"] == "alert.pressed"]
        assert {e["alert_id"] for e in pressed} == {alarm.id}
        assert not any(_names_stranger(e) for e in pressed)

        resolved = await call(
            base,
            seeded.staff["patrol_leader"],
            "POST",
            f"/api/alerts/{alarm.id}/resolve",
            json={"outcome": "handled"},
        )
        assert resolved.status_code == 200
        await fake_twilio.webhook("/twilio/sms", text("SM9", STRANGER, GROUP_NUMBER, "SOS"))
    first_alarm, new_alarm = await alerts_of(sqlite_url)  # once closed, a new one is raised
    assert (first_alarm.id, new_alarm.presses, new_alarm.caller) == (alarm.id, 1, STRANGER)
