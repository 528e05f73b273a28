"""Every recipient of an alarm: the staff's table of who was alerted and how far each got
(queued → sent → delivered / failed → seen → answered), live on the board one event per change
that matters, and "seen" from the residents' devices."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from notifier.models import FAILED, SENT
from notifier.push.webpush import new_keys
from server.alarms.models import AlertSeen
from server.settings import Settings
from tests.actors import Person, resident
from tests.fake_push import FakePush
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, call, poll_until, rows, running, seed, stream
from tests.server.phone_support import outbox_of, phone_settings, serving

RAISER = "B11-1-301"
PATROL_MEMBER = "+8613900000002"  # 巡逻队员 陈军, put on duty by each test


async def _table(person: Person, alert_id: int) -> list[dict[str, Any]]:
    answer = await person.call("GET", f"/api/alerts/{alert_id}/recipients")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["alert_id"] == alert_id
    rows: list[dict[str, Any]] = body["recipients"]
    return rows


def _sms(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {d["job_id"]: d for row in rows for d in row["deliveries"] if d["channel"] == "sms"}


async def _on_duty(base: str, seeded: Seed) -> None:
    admin = Person(base, seeded.staff["admin"])
    shift = await admin.add_shift(PATROL_MEMBER, days="daily", starts="00:00", ends="23:59")
    assert shift.status_code == 201, shift.text


async def test_one_press_lists_every_neighbour_and_staff_member_and_their_texts_go_to_delivered_or_fail_with_the_reason(  # noqa: E501
    db_url: str, fake_twilio: FakeTwilio
) -> None:
    seeded = await seed(db_url)
    # The first text Twilio is asked for is refused as an invalid number; the others are taken
    # after a moment, so the table is read while they wait.
    fake_twilio.fail_next(
        status=400, code=21211, message="The 'To' number is not a valid phone number."
    )
    fake_twilio.delay_next(0.8, times=30)
    async with (
        serving(phone_settings(db_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.staff["patrol_leader"]) as board,
        stream(base, seeded.households["B11-1-302"]) as neighbour,
    ):
        await _on_duty(base, seeded)
        patrol = Person(base, seeded.staff["patrol_leader"])
        alert_id = await resident(base, seeded, RAISER).raise_alarm()

        first = await _table(patrol, alert_id)
        neighbours = sorted(set(seeded.group_of(RAISER)) - {RAISER})
        assert [r["household"] for r in first if r["kind"] == "household"] == neighbours
        assert {r["role"] for r in first if r["kind"] == "household"} == {"neighbour"}
        staff = [(r["name"], r["role"]) for r in first if r["kind"] == "staff"]
        assert staff == [("巡逻队员 陈军", "patrol_member")]
        assert {d["state"] for d in _sms(first).values()} <= {"queued", "failed"}
        assert "queued" in {d["state"] for d in _sms(first).values()}

        async def all_sent() -> bool:
            jobs = await outbox_of(db_url)
            return len(jobs) == 10 and all(job.status in (SENT, FAILED) for job in jobs)

        await poll_until(all_sent)
        jobs = {job.id: job for job in await outbox_of(db_url)}
        failed = [job for job in jobs.values() if job.status == FAILED]
        assert len(failed) == 1
        assert failed[0].error_code == "21211"

        failure = await board.events_until(
            lambda got: any(e["type"] == "alert.delivery" for e in got)
        )
        event = next(e for e in failure if e["type"] == "alert.delivery")
        assert event["data"]["job_id"] == failed[0].id
        assert (event["data"]["state"], event["data"]["reason"]) == ("failed", "invalid_number")
        assert (event["data"]["error_code"], event["data"]["log"]) == ("21211", True)

        table = await _table(patrol, alert_id)
        by_job = _sms(table)
        assert set(by_job) == set(jobs)  # every text of the press, each once
        assert by_job[failed[0].id]["state"] == "failed"
        assert by_job[failed[0].id]["reason"] == "invalid_number"
        assert "21211" in (by_job[failed[0].id]["detail"] or "")
        assert by_job[failed[0].id]["settled_at"] is not None
        taken = [job for job in jobs.values() if job.status == SENT]
        assert {by_job[job.id]["state"] for job in taken} == {"queued"}  # Twilio's queue

        post = asyncio.to_thread
        for job in taken:
            assert job.provider_sid is not None
            assert await post(fake_twilio.post_status, job.provider_sid, "sent") == 204
        table = await _table(patrol, alert_id)
        assert {_sms(table)[job.id]["state"] for job in taken} == {"sent"}
        for job in taken:
            assert job.provider_sid is not None
            assert await post(fake_twilio.post_status, job.provider_sid, "delivered") == 204
            await post(fake_twilio.post_status, job.provider_sid, "delivered")  # a repeat

        steps = await board.events_until(
            lambda got: any(e["data"].get("settled") for e in got), timeout=10
        )
        deliveries = [e for e in steps if e["type"] == "alert.delivery"]
        # One event per change of a text: its failure, then sent and delivered of each other.
        assert len(deliveries) == 1 + 2 * len(taken)
        assert [e["data"]["state"] for e in deliveries if e["data"]["job_id"] == taken[0].id] == [
            "sent",
            "delivered",
        ]
        # The log's lines: the failure, and the step that settled the last text.
        logged = [e for e in deliveries if e["data"]["log"]]
        assert [e["data"]["state"] for e in logged] == ["failed", "delivered"]
        assert logged[-1]["data"]["tally"] == {
            "total": 10,
            "delivered": 9,
            "failed": 1,
            "pending": 0,
        }
        assert all(e["data"]["recipient_key"] for e in deliveries)
        while not await neighbour.silent(0.2):
            pass  # the neighbour hears the alarm, and nothing of its texts

        table = await _table(patrol, alert_id)
        delivered = {job.id for job in taken}
        assert {_sms(table)[j]["state"] for j in delivered} == {"delivered"}
        assert all(_sms(table)[j]["settled_at"] and _sms(table)[j]["sent_at"] for j in delivered)
        member = next(r for r in table if r["kind"] == "staff")
        assert member["deliveries"][0]["to"] == "+86139****0002"
    assert all(e["type"] != "alert.delivery" for e in neighbour.events)


@pytest.fixture
def fake_push() -> Iterator[FakePush]:
    with FakePush() as fake:
        yield fake


def _push_settings(url: str) -> Settings:
    private, _ = new_keys()
    return Settings(
        database_url=url,
        vapid_private_key=private,
        vapid_subject="mailto:office@example.org",
        push_allow_http=True,
        outbox_poll_seconds=0.05,
    )


async def test_a_neighbours_devices_say_once_per_way_that_they_showed_the_alarm_and_the_table_shows_seen_then_answered(  # noqa: E501
    sqlite_url: str, fake_push: FakePush
) -> None:
    seeded = await seed(sqlite_url)
    looker, pushed = "B11-1-302", "B11-1-401"
    async with (
        running(_push_settings(sqlite_url)) as base,
        stream(base, seeded.staff["patrol_leader"]) as board,
        stream(base, seeded.households[looker]) as group,
    ):
        browser = fake_push.subscribe()
        subscribed = await call(
            base, seeded.households[pushed], "POST", "/api/push/subscriptions", json=browser
        )
        assert subscribed.status_code == 201, subscribed.text
        alert_id = await resident(base, seeded, RAISER).raise_alarm()

        async def arrived() -> bool:
            return len(fake_push.received) >= 1

        await poll_until(arrived)
        token = fake_push.received[0].payload["answer_token"]

        me = Person(base, seeded.households[looker])
        path = f"/api/alerts/{alert_id}/seen"
        first = await me.call("POST", path, json={"via": "app"})
        assert first.status_code == 201, first.text
        assert (first.json()["household"], first.json()["via"]) == (looker, "app")
        assert (await me.call("POST", path, json={"via": "app"})).status_code == 204
        assert (await me.call("POST", path, json={"via": "push"})).status_code == 201
        own = Person(base, seeded.households[RAISER])
        assert (await own.call("POST", path, json={"via": "app"})).status_code == 204

        # The service worker has no CSRF cookie to echo: the push's answer token says whose.
        async with httpx.AsyncClient(base_url=base) as worker:
            shown = {"token": token, "alert_id": alert_id}
            assert (await worker.post("/api/push/seen", json=shown)).status_code == 201
            assert (await worker.post("/api/push/seen", json=shown)).status_code == 204
            other = {"token": token, "alert_id": alert_id + 1}
            assert (await worker.post("/api/push/seen", json=other)).status_code == 403
            wrong = {"token": "x" * 43, "alert_id": alert_id}
            assert (await worker.post("/api/push/seen", json=wrong)).status_code == 403

        heard = await board.events_until(
            lambda got: sum(e["type"] == "alert.seen" for e in got) >= 3
        )
        seen = [
            (e["data"]["seen_by"], e["data"]["via"]) for e in heard if e["type"] == "alert.seen"
        ]
        assert seen == [(looker, "app"), (looker, "push"), (pushed, "push")]
        assert await board.silent(0.3)

        table = {
            r["household"]: r for r in await _table(Person(base, seeded.staff["admin"]), alert_id)
        }
        assert table[looker]["state"] == "seen"
        assert set(table[looker]["seen"]) == {"app", "push"}
        assert table[pushed]["state"] == "seen"
        assert [d["channel"] for d in table[pushed]["deliveries"]] == ["sms", "push"]
        assert table[pushed]["deliveries"][1]["state"] == "sent"
        assert RAISER not in table

        assert (await me.answer(alert_id, "coming")).status_code == 200
        async with httpx.AsyncClient(base_url=base) as worker:  # the token still answers
            answered = await worker.post(
                "/api/push/answer", json={"token": token, "answer": "cant", "alert_id": alert_id}
            )
            assert answered.status_code == 200, answered.text
        table = {
            r["household"]: r for r in await _table(Person(base, seeded.staff["admin"]), alert_id)
        }
        assert (table[looker]["state"], table[looker]["answer"]) == ("answered", "coming")
        assert (table[pushed]["state"], table[pushed]["answer"]) == ("answered", "cant")
        assert table[looker]["answered_at"] is not None
    assert all(e["type"] != "alert.seen" for e in group.events)  # the staff's alone
    assert len(await rows(sqlite_url, select(AlertSeen))) == 3


async def test_the_table_is_for_staff_of_the_alarms_scope_and_seen_for_an_alarm_one_may_read(
    sqlite_url: str,
) -> None:
    seeded = await seed(sqlite_url)
    other = await seed(sqlite_url, community="另一个社区")
    async with running(Settings(database_url=sqlite_url)) as base:
        in_grid = await resident(base, seeded, "B11-1-101").raise_alarm()  # 网格1
        out_of_grid = await resident(base, seeded, "B12-1-101").raise_alarm()  # 网格2

        def table_of(token: str, alert_id: int) -> Any:
            return Person(base, token).call("GET", f"/api/alerts/{alert_id}/recipients")

        assert (await table_of(seeded.staff["police_office"], in_grid)).status_code == 200
        assert (await table_of(seeded.staff["grid_manager"], in_grid)).status_code == 200
        refused = await table_of(seeded.staff["grid_manager"], out_of_grid)
        assert refused.status_code == 404
        assert "in your scope" in refused.json()["detail"]
        assert (await table_of(other.staff["admin"], in_grid)).status_code == 404
        assert (await table_of(seeded.households["B11-1-102"], in_grid)).status_code == 403

        def seen_by(token: str, alert_id: int, via: str = "app") -> Any:
            return Person(base, token).call(
                "POST", f"/api/alerts/{alert_id}/seen", json={"via": via}
            )

        stranger = await seen_by(seeded.households["B12-2-101"], in_grid)
        assert stranger.status_code == 404
        assert "in your scope" in stranger.json()["detail"]
        assert (await seen_by(other.households["B11-1-102"], in_grid)).status_code == 404
        assert (await seen_by(seeded.staff["patrol_leader"], in_grid)).status_code == 403
        assert (await seen_by(seeded.households["B11-1-102"], in_grid, "sms")).status_code == 422
        assert (await seen_by(seeded.households["B11-1-102"], 2**63)).status_code == 422
        assert (await seen_by(seeded.households["B11-1-102"], in_grid)).status_code == 201
    assert len(await rows(sqlite_url, select(AlertSeen))) == 1
