"""Reachability and the routine button test: who the app, push and texts reach now, and a
test of every channel of a household that alarms no one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from groups.models import AuditEntry, Household, Resident
from notifier.models import OutboxMessage
from notifier.push.webpush import new_keys
from server.alarms.models import Alert, AlertEvent
from server.settings import Settings
from storage.db import create_engine, create_sessionmaker
from tests.fake_push import FakePush
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, call, poll_until, press, rows, running, stream
from tests.server.phone_support import PUBLIC, phone_settings, serving

HOME = "B11-1-301"
NEIGHBOUR = "B11-1-302"


@pytest.fixture
def fake_push() -> Iterator[FakePush]:
    with FakePush() as fake:
        yield fake


async def reach_of(base: str, token: str, address: str) -> dict[str, Any]:
    answer = await call(base, token, "GET", "/api/community/reachability")
    assert answer.status_code == 200, answer.text
    return next(r for r in answer.json() if r["address"] == address)


async def household_id(url: str, address: str) -> int:
    found = await rows(url, select(Household.id).where(Household.address == address))
    return int(found[0][0])


async def test_a_residents_open_socket_shows_connected_and_not_once_it_closes(
    seeded: Seed, settings: Settings
) -> None:
    admin = seeded.staff["admin"]
    async with running(settings) as base:
        assert (await reach_of(base, admin, HOME))["connected"] is False
        async with stream(base, seeded.households[HOME]):

            async def connected() -> bool:
                return (await reach_of(base, admin, HOME))["connected"] is True

            await poll_until(connected)
            shown = await reach_of(base, admin, HOME)
            assert shown["sockets"] == 1
            assert shown["reachable"] is True
            assert (await reach_of(base, admin, NEIGHBOUR))["connected"] is False
            async with stream(base, seeded.households[HOME]):  # a second phone of the home

                async def two() -> bool:
                    return bool((await reach_of(base, admin, HOME))["sockets"] == 2)

                await poll_until(two)

            async def one() -> bool:
                return bool((await reach_of(base, admin, HOME))["sockets"] == 1)

            await poll_until(one)  # one socket left: still connected

        async def gone() -> bool:
            return (await reach_of(base, admin, HOME))["connected"] is False

        await poll_until(gone)


async def test_a_household_no_channel_reaches_is_listed_as_cant_be_reached(
    seeded: Seed, sqlite_url: str
) -> None:
    home = await household_id(sqlite_url, HOME)
    engine = create_engine(sqlite_url)
    async with create_sessionmaker(engine)() as session:
        await session.execute(
            update(Resident).where(Resident.household_id == home).values(phone=None)
        )
        await session.commit()
    await engine.dispose()
    async with running(Settings(database_url=sqlite_url)) as base:
        answer = await call(
            base,
            seeded.staff["patrol_leader"],
            "GET",
            "/api/community/reachability",
            params={"unreachable": "true"},
        )
        assert answer.status_code == 200, answer.text
        assert [r["address"] for r in answer.json()] == [HOME]
        (shown,) = answer.json()
        assert shown["why_not"] == ["no app open", "no push", "no phone"]
        plan = (
            await call(base, seeded.staff["patrol_leader"], "GET", "/api/community/plan")
        ).json()
        assert plan["counts"]["unreachable"] == 1
        assert [r["address"] for r in plan["unreachable"]] == [HOME]
        lit = {p["address"]: p["states"] for p in plan["households"]}
        assert lit[HOME] == ["unreachable"]
        async with stream(base, seeded.households[HOME]):

            async def reached() -> bool:
                found = await call(
                    base,
                    seeded.staff["patrol_leader"],
                    "GET",
                    "/api/community/reachability",
                    params={"unreachable": "true"},
                )
                return bool(found.json() == [])

            await poll_until(reached)  # the app open is a channel that works


def reach_settings(url: str, fake: FakeTwilio) -> Settings:
    private, _ = new_keys()
    return phone_settings(
        url,
        fake,
        vapid_private_key=private,
        vapid_subject="mailto:office@example.org",
        push_allow_http=True,
        ws_heartbeat_seconds=5,
    )


async def test_the_button_test_checks_app_push_and_text_and_alarms_no_one(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio, fake_push: FakePush
) -> None:
    mine = seeded.households[HOME]
    async with (
        serving(reach_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, mine) as app,
        stream(base, seeded.households[NEIGHBOUR]) as neighbour,
        stream(base, seeded.staff["patrol_leader"]) as board,
    ):
        browser = fake_push.subscribe()
        assert (
            await call(base, mine, "POST", "/api/push/subscriptions", json=browser)
        ).status_code == 201

        async def present() -> bool:
            return (await reach_of(base, seeded.staff["admin"], HOME))["connected"] is True

        await poll_until(present)
        started = await call(base, mine, "POST", "/api/me/test")
        assert started.status_code == 201, started.text
        test = started.json()
        assert {c["channel"] for c in test["checks"]} == {"app", "push", "sms"}

        heard = await app.next_event()  # only the household's own sockets hear it
        assert heard["type"] == "test"
        assert heard["test_id"] == test["id"]
        assert heard["text"] == "这是测试，无需回复。"
        assert await neighbour.silent(0.3)
        assert await board.silent(0.1)

        home = test["household_id"]

        async def summary() -> dict[str, str]:
            found = await call(base, mine, "GET", f"/api/households/{home}/tests")
            assert found.status_code == 200, found.text
            summary: dict[str, str] = found.json()[0]["summary"]
            return summary

        async def app_and_push_ok() -> bool:
            s = await summary()
            return s["app"] == "ok" and s["push"] == "ok"

        await poll_until(app_and_push_ok)
        (pushed,) = fake_push.received
        assert pushed.payload["type"] == "test"
        assert pushed.payload["body"] == "这是测试，无需回复。"
        assert "answer_token" not in pushed.payload

        async def texted() -> bool:
            return len(fake_twilio.messages) == 1

        await poll_until(texted)
        (text,) = fake_twilio.messages
        assert text["body"] == "【十户联防】这是测试，无需回复。"
        assert text["status_callback"].startswith(f"{PUBLIC}/twilio/status?job=")
        assert (await summary())["sms"] == "pending"  # sent: its receipt says how it went
        assert await asyncio.to_thread(fake_twilio.post_status, text["sid"], "delivered") == 204

        async def delivered() -> bool:
            return (await summary())["sms"] == "ok"

        await poll_until(delivered)
        again = await call(base, mine, "POST", "/api/me/test")
        assert again.status_code == 429  # a household's tests are a minute apart
        assert await neighbour.silent(0.2)
        assert await board.silent(0.1)

        shown = await reach_of(base, seeded.staff["admin"], HOME)
        assert shown["last_test"] == {"app": "ok", "push": "ok", "sms": "ok"}
        assert shown["last_text"]["status"] == "delivered"
    assert await rows(sqlite_url, select(Alert.id)) == []
    assert await rows(sqlite_url, select(AlertEvent.id)) == []
    jobs = await rows(sqlite_url, select(OutboxMessage.channel, OutboxMessage.alert_id))
    assert sorted(jobs) == [("push", None), ("sms", None)]  # the household's own, no one else's


async def test_the_admin_tests_a_household_and_a_channel_it_lacks_is_none(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    home = await household_id(sqlite_url, NEIGHBOUR)
    async with serving(reach_settings(sqlite_url, fake_twilio), fake_twilio) as base:
        refused = await call(base, seeded.households[HOME], "POST", f"/api/households/{home}/test")
        assert refused.status_code == 403
        fake_twilio.fail_next(status=400, code=21211, message="Invalid 'To' Phone Number")
        started = await call(base, seeded.staff["admin"], "POST", f"/api/households/{home}/test")
        assert started.status_code == 201, started.text
        checks = {c["channel"]: c for c in started.json()["checks"]}
        assert (checks["app"]["result"], checks["app"]["reason"]) == ("none", "no app open now")
        assert checks["push"]["result"] == "none"
        assert checks["sms"]["result"] in ("pending", "failed")

        async def failed() -> bool:
            found = await call(base, seeded.staff["admin"], "GET", f"/api/households/{home}/tests")
            return bool(found.json()[0]["summary"]["sms"] == "failed")

        await poll_until(failed)
        found = await call(base, seeded.staff["admin"], "GET", f"/api/households/{home}/tests")
        (sms,) = [c for c in found.json()[0]["checks"] if c["channel"] == "sms"]
        assert sms["reason"]
        # The failed text is the household's latest: its phone no longer counts, and nothing
        # else reaches it.
        shown = await reach_of(base, seeded.staff["admin"], NEIGHBOUR)
        assert shown["reachable"] is False
        assert shown["why_not"] == ["no app open", "no push", "last text failed"]
        other = await call(base, seeded.households[HOME], "GET", f"/api/households/{home}/tests")
        assert other.status_code == 404  # a resident reads their own household's only
    assert await rows(sqlite_url, select(Alert.id)) == []
    logged = await rows(sqlite_url, select(AuditEntry.action, AuditEntry.subject))
    assert logged == [("tested", f"household {NEIGHBOUR}")]


async def test_the_plan_lights_an_alarm_and_a_neighbour_coming_in_scope_only(
    seeded: Seed, sqlite_url: str
) -> None:
    engine = create_engine(sqlite_url)
    async with create_sessionmaker(engine)() as session:
        await session.execute(
            update(Household)
            .where(Household.address == HOME)
            .values(spare_key_holder="302 王阿姨", care_note="轮椅")
        )
        await session.commit()
    await engine.dispose()
    home = await household_id(sqlite_url, HOME)
    async with running(Settings(database_url=sqlite_url)) as base:
        patrol = seeded.staff["patrol_member"]
        quiet = (await call(base, patrol, "GET", f"/api/community/households/{home}")).json()
        assert quiet["spare_key_holder"] is None  # no alarm: not the patrol's to read
        raised = await press(base, seeded.households[HOME], "medical")
        alarm = raised.json()["alert"]["id"]
        answer = await call(
            base,
            seeded.households[NEIGHBOUR],
            "POST",
            f"/api/alerts/{alarm}/responses",
            json={"answer": "coming"},
        )
        assert answer.status_code in (200, 201), answer.text

        plan = (await call(base, patrol, "GET", "/api/community/plan")).json()
        lit = {p["address"]: p for p in plan["households"]}
        assert len(lit) == 40
        assert lit[HOME]["states"][0] == "alarm"
        assert lit[HOME]["alert_id"] == alarm
        assert lit[NEIGHBOUR]["states"][0] == "coming"
        assert plan["counts"]["alarm"] == plan["counts"]["coming"] == 1

        card = await call(base, patrol, "GET", f"/api/community/households/{home}")
        assert card.status_code == 200, card.text
        shown = card.json()
        assert shown["household"]["address"] == HOME
        assert shown["floor"] == 3
        assert (shown["spare_key_holder"], shown["care_note"]) == ("302 王阿姨", "轮椅")
        assert shown["residents"][0]["phone"].startswith("+86")
        assert "•" in shown["residents"][0]["phone"]

        grid = (await call(base, seeded.staff["grid_manager"], "GET", "/api/community/plan")).json()
        assert {p["building"] for p in grid["households"]} == {"B11"}
        leader = seeded.households["B12-1-502"]
        building = (await call(base, leader, "GET", "/api/community/plan")).json()
        assert {p["building"] for p in building["households"]} == {"B12"}
        away = await call(base, leader, "GET", f"/api/community/households/{home}")
        assert away.status_code == 404  # another building
        resident = await call(base, seeded.households[NEIGHBOUR], "GET", "/api/community/plan")
        assert resident.status_code == 403
    looks = await rows(sqlite_url, select(AuditEntry.action, AuditEntry.subject, AuditEntry.note))
    assert looks == [
        ("viewed", f"household {HOME}", f"responder context, the plan's card, alarm {alarm}")
    ]
