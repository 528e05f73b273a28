"""The roll call (平安报): staff ask a building "are you OK?"; the households answer from the app,
by a signed text or by the call at the deadline; "need help" is an alarm the neighbours hear."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from notifier.models import OutboxMessage
from server.runtime.clock import ManualClock
from tests.fake_push import FakePush
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, call, poll_until, press, rows, running, seed, stream
from tests.server.phone_support import (
    FROM,
    GROUP_NUMBER,
    add_numbers,
    alerts_of,
    phone_of,
    phone_settings,
    serving,
    speak_english,
    text,
)
from tests.server.test_push import push_settings, subscribe, until_received

B11 = 20
"""Households of building B11 in the demo community."""


def reply_of(twiml: str) -> str:
    """The text a TwiML answer sends back ('' for none)."""
    match = re.search(r"<Message>(.*)</Message>", twiml, re.S)
    return unescape(match[1]) if match else ""


def gather_action(twiml: str) -> str:
    """The URL a <Gather> posts the pressed digit to."""
    match = re.search(r'<Gather action="([^"]+)"', twiml)
    assert match, twiml
    return match[1].replace("&amp;", "&")


async def anon(base: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """Call the service without a credential (a webhook, a notification's button)."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        return await client.request(method, path, **kwargs)


async def start(base: str, token: str, scope: str, **extra: Any) -> Any:
    """Start a roll call as token's holder."""
    return await call(base, token, "POST", "/api/rollcalls", json={"scope": scope, **extra})


async def jobs(url: str, channel: str) -> list[tuple[str, str, int | None]]:
    """(to, body, resident id) of the roll calls' outbox jobs of a channel (of no alarm)."""
    found = await rows(
        url,
        select(OutboxMessage.to, OutboxMessage.body, OutboxMessage.resident_id)
        .where(OutboxMessage.alert_id.is_(None), OutboxMessage.channel == channel)
        .order_by(OutboxMessage.id),
    )
    return [(to, body, rid) for to, body, rid in found]


@pytest.fixture(
    params=["memory+sqlite", pytest.param("redis+postgres", marks=pytest.mark.postgres)]
)
def where(request: pytest.FixtureRequest) -> tuple[str, Seed, str | None]:
    """A seeded database (SQLite, then PostgreSQL) and the bus to serve it on (in-process, then
    Redis): (database URL, seed, Redis URL or None)."""
    bus, db = request.param.split("+")
    url: str = request.getfixturevalue(f"{db}_url")
    redis_url = request.getfixturevalue("redis_url") if bus == "redis" else None
    return url, asyncio.run(seed(url)), redis_url


def of_type(kind: str) -> Any:
    """A check for Socket.events_until: an event of this type has arrived."""
    return lambda events: any(e["type"] == kind for e in events)


async def test_a_building_roll_call_tallies_app_and_text_answers_and_need_help_is_an_alarm(
    where: tuple[str, Seed, str | None], fake_twilio: FakeTwilio
) -> None:
    url, seeded, redis_url = where
    await add_numbers(url, seeded)
    english, by_app, by_text, in_need = "B11-2-402", "B11-1-302", "B11-1-201", "B11-1-101"
    await speak_english(url, english)
    neighbour = next(a for a in seeded.group_of(in_need) if a not in (in_need, by_app, by_text))
    settings = phone_settings(url, fake_twilio, redis_url=redis_url)
    async with (
        serving(settings, fake_twilio) as base,
        stream(base, seeded.staff["patrol_member"]) as board,
        stream(base, seeded.households[neighbour]) as neighbours,
        stream(base, seeded.households["B12-1-101"]) as other_building,
    ):
        leader = seeded.staff["patrol_leader"]
        started = await start(base, leader, "building:B11", note="地震，请报平安。")
        assert started.status_code == 201, started.text
        rollcall = started.json()
        assert rollcall["tally"] == {"ok": 0, "help": 0, "no_answer": B11, "households": B11}
        rid = rollcall["id"]
        asked = await neighbours.next_event()
        assert (asked["type"], asked["alert_id"]) == ("rollcall.asked", None)
        assert asked["data"]["rollcall_id"] == rid
        assert neighbour in asked["data"]["households"]
        assert await other_building.silent()
        heard = await board.events_until(of_type("rollcall.started"))
        assert (
            next(e for e in heard if e["type"] == "rollcall.started")["data"]["households"] == B11
        )

        texted = await jobs(url, "sms")
        assert len(texted) == B11  # one resident with a phone per household here
        bodies = {to: body for to, body, _ in texted}
        assert bodies[await phone_of(url, in_need)] == (
            "【十户联防】平安报：地震，请报平安。 回复 1 平安 · 2 需要帮助"
        )
        assert bodies[await phone_of(url, english)].startswith("[TenWatch] Are you OK?")
        assert "Reply 1 = OK · 2 = need help" in bodies[await phone_of(url, english)]

        answered = await call(
            base, seeded.households[by_app], "POST", f"/api/rollcalls/{rid}/answer",
            json={"answer": "ok"},
        )  # fmt: skip
        assert answered.status_code == 200, answered.text
        assert answered.json()["outcome"] == "answered"
        tallied = await board.events_until(of_type("rollcall.answered"))
        assert tallied[-1]["data"]["tally"]["ok"] == 1

        ok = await fake_twilio.webhook(
            "/twilio/sms", text("SMRC1", await phone_of(url, by_text), GROUP_NUMBER, "1")
        )
        assert reply_of(ok.text) == f"【十户联防】已记录：{by_text} 平安。谢谢。"
        unsigned = await anon(base, "POST", "/twilio/sms",
            data=text("SMRC9", await phone_of(url, in_need), GROUP_NUMBER, "2"),
        )  # fmt: skip
        assert unsigned.status_code == 403
        help_ = await fake_twilio.webhook(
            "/twilio/sms", text("SMRC2", await phone_of(url, in_need), GROUP_NUMBER, "2")
        )
        assert "需要帮助" in reply_of(help_.text)
        raised = await neighbours.events_until(of_type("alert.raised"))
        alarm = next(e for e in raised if e["type"] == "alert.raised")
        assert alarm["data"]["household"] == in_need
        [stored] = await alerts_of(url)
        assert (stored.source, stored.type, stored.household_id is not None) == (
            "rollcall",
            "help",
            True,
        )

        shown = await call(base, seeded.staff["patrol_member"], "GET", f"/api/rollcalls/{rid}")
        assert shown.status_code == 200, shown.text
        detail = shown.json()
        assert detail["tally"] == {"ok": 2, "help": 1, "no_answer": B11 - 3, "households": B11}
        answers = {h["household"]: (h["answer"], h["via"]) for h in detail["households"]}
        assert answers[by_app] == ("ok", "app")
        assert answers[by_text] == ("ok", "sms")
        assert answers[in_need] == ("help", "sms")
        needing = next(h for h in detail["households"] if h["household"] == in_need)
        assert needing["alert_id"] == stored.id
        knock = [
            a
            for b in detail["knock"]
            for u in b["units"]
            for f in u["floors"]
            for a in f["households"]
        ]
        assert len(knock) == B11 - 3
        assert {by_app, by_text, in_need}.isdisjoint(knock)
        assert all(a.startswith("B11-") for a in knock)
        assert knock == sorted(knock, key=lambda a: (a.split("-")[1], int(a.split("-")[2])))

        # An OK after "need help" does not take the help back.
        taken_back = await call(
            base, seeded.households[in_need], "POST", f"/api/rollcalls/{rid}/answer",
            json={"answer": "ok"},
        )  # fmt: skip
        assert taken_back.status_code == 409
        closed = await call(base, leader, "POST", f"/api/rollcalls/{rid}/close")
        assert closed.json()["status"] == "closed"
        late = await call(
            base, seeded.households[neighbour], "POST", f"/api/rollcalls/{rid}/answer",
            json={"answer": "ok"},
        )  # fmt: skip
        assert late.status_code == 409


async def test_the_households_that_did_not_answer_are_phoned_at_the_deadline_and_2_is_help(
    where: tuple[str, Seed, str | None], fake_twilio: FakeTwilio
) -> None:
    url, seeded, redis_url = where
    clock = ManualClock()
    answered, called = "B12-1-101", "B12-2-502"
    settings = phone_settings(url, fake_twilio, scheduler_poll_seconds=0.05, redis_url=redis_url)
    async with (
        serving(settings, fake_twilio, clock=clock) as base,
        stream(base, seeded.staff["patrol_leader"]) as board,
        stream(base, seeded.households[next(iter(seeded.group_of(called)))]) as group,
    ):
        started = await start(
            base, seeded.staff["admin"], "building:B12", note="火情", call_after_seconds=120
        )
        rid = started.json()["id"]
        await call(
            base, seeded.households[answered], "POST", f"/api/rollcalls/{rid}/answer",
            json={"answer": "ok"},
        )  # fmt: skip
        await board.events_until(of_type("rollcall.answered"))
        clock.advance(119)
        assert await board.silent(0.3)
        assert await jobs(url, "voice") == []

        clock.advance(2)
        heard = await board.events_until(of_type("rollcall.called"))
        assert heard[-1]["data"]["called"] == 19
        voiced = await jobs(url, "voice")
        assert len(voiced) == 19
        assert await phone_of(url, answered) not in {to for to, _, _ in voiced}
        shown = await call(base, seeded.staff["admin"], "GET", f"/api/rollcalls/{rid}")
        flags = {h["household"]: h["called"] for h in shown.json()["households"]}
        assert flags[called] is True
        assert flags[answered] is False
        assert shown.json()["called_at"] is not None
        phone = await phone_of(url, called)
        await poll_until(lambda: asyncio.sleep(0, result=len(fake_twilio.calls) == 19))
        placed = next(c for c in fake_twilio.calls if c["to"] == phone)
        assert "平安请按1，需要帮助请按2" in placed["twiml"]
        action = gather_action(placed["twiml"])
        assert "/twilio/voice/rollcall?job=" in action
        form = {"CallSid": placed["sid"], "From": FROM, "To": phone, "Digits": "2"}
        said = await fake_twilio.webhook(action, form)
        assert "已通知您的邻居和巡逻队" in said.text
        raised = await group.events_until(of_type("alert.raised"))
        assert next(e for e in raised if e["type"] == "alert.raised")["data"]["household"] == called
        again = await fake_twilio.webhook(action, form)  # Twilio's retry: the same, once
        assert "已通知您的邻居和巡逻队" in again.text
        # the deadline fired once: no second round of calls later on (while the alarm the
        # "2" raised escalates on the board, as any alarm does)
        clock.advance(600)
        await board.events_until(of_type("alert.escalated"))
        assert [e["type"] for e in board.events].count("rollcall.called") == 1
    [alarm] = await alerts_of(url)
    assert (alarm.source, alarm.presses) == ("rollcall", 1)
    assert len(await jobs(url, "voice")) == 19


async def test_a_text_of_1_answers_an_unanswered_roll_call_first_then_the_neighbours_alarm(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    await add_numbers(sqlite_url, seeded)
    raiser, texter = "B11-1-102", "B11-1-101"
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.households[raiser]) as group,
    ):
        alert_id = (await press(base, seeded.households[raiser])).json()["alert"]["id"]
        await group.events_until(of_type("alert.raised"))
        rid = (await start(base, seeded.staff["police_office"], "building:B11")).json()["id"]
        phone = await phone_of(sqlite_url, texter)
        first = await fake_twilio.webhook("/twilio/sms", text("SMX1", phone, GROUP_NUMBER, "1"))
        assert reply_of(first.text) == f"【十户联防】已记录：{texter} 平安。谢谢。"
        got = await group.events_until(of_type("rollcall.answered"))
        assert not [e for e in got if e["type"] == "alert.response"]
        second = await fake_twilio.webhook("/twilio/sms", text("SMX2", phone, GROUP_NUMBER, "1"))
        assert "马上赶到" in reply_of(second.text)
        got = await group.events_until(of_type("alert.response"))
        response = next(e for e in got if e["type"] == "alert.response")
        assert (response["alert_id"], response["data"]["answer"]) == (alert_id, "coming")
        # the words of the alarm answer the alarm even while the roll call waits
        other = await phone_of(sqlite_url, "B11-1-201")
        cant = await fake_twilio.webhook("/twilio/sms", text("SMX3", other, GROUP_NUMBER, "不能"))
        assert "无法前往" in reply_of(cant.text)
        shown = await call(base, seeded.staff["admin"], "GET", f"/api/rollcalls/{rid}")
    tally = shown.json()["tally"]
    assert (tally["ok"], tally["help"]) == (1, 0)
    assert len(await alerts_of(sqlite_url)) == 1


async def test_who_may_start_a_roll_call_and_for_what(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    other = await seed(sqlite_url, community="另一个社区")
    async with serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base:
        manager = seeded.staff["grid_manager"]  # 网格1: building B11
        assert (await start(base, seeded.staff["patrol_member"], "community")).status_code == 403
        assert (await start(base, seeded.households["B11-1-101"], "community")).status_code == 403
        assert (await start(base, manager, "community")).status_code == 403
        assert (await start(base, seeded.staff["admin"], "building:")).status_code == 422
        assert (await start(base, seeded.staff["admin"], "building:B99")).status_code == 404
        assert (await start(base, manager, "building:B12")).status_code == 404
        mine = await start(base, manager, "building:B11")
        assert mine.status_code == 201, mine.text
        assert mine.json()["tally"]["households"] == B11
        whole = await start(base, seeded.staff["admin"], "community")
        assert whole.json()["tally"]["households"] == 2 * B11
        wid = whole.json()["id"]
        # a grid manager sees their grid's roll calls only; another community sees none
        assert (await call(base, manager, "GET", f"/api/rollcalls/{wid}")).status_code == 404
        listed = await call(base, manager, "GET", "/api/rollcalls")
        assert [r["id"] for r in listed.json()] == [mine.json()["id"]]
        stranger = other.staff["admin"]
        assert (await call(base, stranger, "GET", f"/api/rollcalls/{wid}")).status_code == 404
        resident = seeded.households["B12-1-101"]
        assert (await call(base, resident, "GET", f"/api/rollcalls/{wid}")).status_code == 403
        not_asked = await call(
            base, resident, "POST", f"/api/rollcalls/{mine.json()['id']}/answer",
            json={"answer": "ok"},
        )  # fmt: skip
        assert not_asked.status_code == 404
        asked = await call(base, resident, "GET", "/api/me/rollcalls")
        assert [r["id"] for r in asked.json()] == [wid]
        closing = await call(
            base, seeded.staff["patrol_member"], "POST", f"/api/rollcalls/{wid}/close"
        )
        assert closing.status_code == 403


@pytest.fixture
def fake_push() -> Iterator[FakePush]:
    """A push service stand-in that checks VAPID and decrypts what it is sent."""
    with FakePush() as fake:
        yield fake


async def test_a_push_of_the_roll_call_answers_with_its_token_once_it_reached_the_phone(
    seeded: Seed, sqlite_url: str, fake_push: FakePush
) -> None:
    address = "B11-2-301"
    async with running(push_settings(sqlite_url)) as base:
        await subscribe(base, seeded.households[address], fake_push)
        rid = (await start(base, seeded.staff["admin"], "building:B11")).json()["id"]
        [got] = await until_received(fake_push, 1)
        payload = got.payload
        assert (payload["type"], payload["rollcall_id"]) == ("rollcall", rid)
        assert [a["action"] for a in payload["actions"]] == ["ok", "help"]
        assert payload["answer_url"] == "/api/rollcalls/push-answer"
        token = payload["answer_token"]
        bad = await anon(
            base, "POST", "/api/rollcalls/push-answer", json={"token": "x" * 40, "answer": "ok"}
        )
        assert bad.status_code == 403
        good = await anon(
            base, "POST", "/api/rollcalls/push-answer", json={"token": token, "answer": "ok"}
        )
        assert good.status_code == 200, good.text
        assert good.json()["household"] == address
        shown = await call(base, seeded.staff["admin"], "GET", f"/api/rollcalls/{rid}")
        mine = next(h for h in shown.json()["households"] if h["household"] == address)
        assert (mine["answer"], mine["via"]) == ("ok", "push")
        await call(base, seeded.staff["admin"], "POST", f"/api/rollcalls/{rid}/close")
        closed = await anon(
            base, "POST", "/api/rollcalls/push-answer", json={"token": token, "answer": "help"}
        )
        assert closed.status_code == 403
    # once pushed, the stored job keeps what was shown, not the token that answers with it
    [(_, body, _)] = await jobs(sqlite_url, "push")
    assert token not in body
    assert json.loads(body)["rollcall_id"] == rid
