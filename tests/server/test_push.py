"""A neighbour's phone is woken by Web Push even with the app closed: the real pywebpush, from
the outbox, to a local push-service stand-in that checks VAPID and decrypts what it gets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from notifier.models import FAILED, SENT, OutboxMessage
from notifier.push.models import PushSubscription
from notifier.push.webpush import new_keys
from server import words
from server.alarms import texts
from server.runtime.clock import ManualClock
from server.settings import Settings
from tests.fake_push import FakePush, Received
from tests.harness import Seed, call, poll_until, press, rows, running

RAISER = "B11-1-301"
SUBJECT = "mailto:office@example.org"


@pytest.fixture
def fake_push() -> Iterator[FakePush]:
    with FakePush() as fake:
        yield fake


def push_settings(url: str, **overrides: Any) -> Settings:
    private, _ = new_keys()
    values: dict[str, Any] = {
        "database_url": url,
        "vapid_private_key": private,
        "vapid_subject": SUBJECT,
        "push_allow_http": True,
        "outbox_poll_seconds": 0.05,
    }
    return Settings(**(values | overrides))


def group_of(seeded: Seed, address: str) -> list[str]:
    """The other addresses of address's group, and one of another group."""
    mine = seeded.groups[address]
    return [a for a, g in seeded.groups.items() if g == mine and a != address]


def stranger_of(seeded: Seed, address: str) -> str:
    return next(a for a, g in seeded.groups.items() if g != seeded.groups[address])


async def subscribe(base: str, token: str, fake: FakePush) -> dict[str, Any]:
    browser = fake.subscribe()
    answer = await call(base, token, "POST", "/api/push/subscriptions", json=browser)
    assert answer.status_code == 201, answer.text
    return browser | {"id": answer.json()["id"]}


async def push_jobs(url: str) -> list[OutboxMessage]:
    statement = select(OutboxMessage).where(OutboxMessage.channel == "push")
    return [row[0] for row in await rows(url, statement.order_by(OutboxMessage.id))]


async def until_received(fake: FakePush, count: int) -> list[Received]:
    async def arrived() -> bool:
        return len(fake.received) >= count

    await poll_until(arrived)
    return list(fake.received)


async def test_a_press_pushes_once_to_each_neighbours_device_and_not_the_raisers(
    seeded: Seed, sqlite_url: str, fake_push: FakePush
) -> None:
    first, second, *_ = group_of(seeded, RAISER)
    async with running(push_settings(sqlite_url)) as base:
        own = await subscribe(base, seeded.households[RAISER], fake_push)
        near = [await subscribe(base, seeded.households[a], fake_push) for a in (first, second)]
        far = await subscribe(base, seeded.households[stranger_of(seeded, RAISER)], fake_push)
        raised = await press(base, seeded.households[RAISER], "medical")
        assert raised.status_code == 201, raised.text
        alarm = raised.json()["alert"]["id"]
        assert raised.json()["texts"] == 9  # every neighbour is still texted

        got = await until_received(fake_push, 2)

        async def recorded() -> bool:
            return all(job.status == SENT for job in await push_jobs(sqlite_url))

        await poll_until(recorded)
    assert fake_push.refused == []
    assert sorted(r.endpoint for r in got) == sorted(n["endpoint"] for n in near)
    assert fake_push.to(own["endpoint"]) == fake_push.to(far["endpoint"]) == []
    for received in got:
        payload = received.payload
        assert set(payload) == {
            "type",
            "alert_id",
            "tag",
            "title",
            "body",
            "answer_token",
            "actions",
            "url",
        }
        assert payload["type"] == "alert"
        assert payload["alert_id"] == alarm
        assert payload["tag"] == f"alert-{alarm}"
        assert payload["url"] == "/app"
        assert payload["title"].startswith(f"{RAISER} ")
        assert payload["title"].endswith(" · 急病")
        name = payload["title"][len(RAISER) + 1 : -len(" · 急病")]
        assert name  # the raiser, named in the title and the text
        assert payload["body"] == texts.body(
            "alarm", language="zh", address=RAISER, name=name, alert_type="medical"
        )
        assert payload["actions"] == [
            {"action": "coming", "title": "我来了"},
            {"action": "cant", "title": "去不了"},
        ]
        assert len(payload["answer_token"]) >= 40
        assert received.headers["urgency"] == "high"
        assert 1700 <= int(received.headers["ttl"]) <= 1800
        assert received.headers["topic"] == f"alert-{alarm}"
    tokens = {r.payload["answer_token"] for r in got}
    assert len(tokens) == 2  # one per device
    jobs = await push_jobs(sqlite_url)
    assert len(jobs) == 2
    assert {job.to for job in jobs} == {str(n["id"]) for n in near}
    assert all(job.delivery_status == "201" and job.provider_sid for job in jobs)
    # once pushed, the stored job keeps what was shown but not the token that answers with it
    for job in jobs:
        assert "answer_token" not in job.body
        assert not any(token in job.body for token in tokens)
        assert json.loads(job.body)["title"] == got[0].payload["title"]


async def test_a_device_signed_out_is_pushed_nothing(
    seeded: Seed, sqlite_url: str, fake_push: FakePush
) -> None:
    first, second, *_ = group_of(seeded, RAISER)
    async with running(push_settings(sqlite_url)) as base:
        kept = await subscribe(base, seeded.households[first], fake_push)
        signed_out = await subscribe(base, seeded.households[second], fake_push)
        out = await call(base, seeded.households[second], "POST", "/api/sign-out")
        assert out.is_success, out.text
        assert (await press(base, seeded.households[RAISER])).status_code == 201
        (got,) = await until_received(fake_push, 1)

        async def recorded() -> bool:
            return [job.status for job in await push_jobs(sqlite_url)] == [SENT]

        await poll_until(recorded)
    assert got.endpoint == kept["endpoint"]
    assert fake_push.to(signed_out["endpoint"]) == []


async def test_a_subscription_its_push_service_says_is_gone_is_deleted(
    seeded: Seed, sqlite_url: str, fake_push: FakePush
) -> None:
    neighbour = group_of(seeded, RAISER)[0]
    async with running(push_settings(sqlite_url)) as base:
        device = await subscribe(base, seeded.households[neighbour], fake_push)
        fake_push.gone(device["endpoint"])
        assert (await press(base, seeded.households[RAISER])).status_code == 201

        async def failed() -> bool:
            return [job.status for job in await push_jobs(sqlite_url)] == [FAILED]

        await poll_until(failed)
    (job,) = await push_jobs(sqlite_url)
    assert job.error_code == "410"
    assert await rows(sqlite_url, select(PushSubscription.id)) == []


async def test_the_all_clear_replaces_the_alarms_notification(
    seeded: Seed, sqlite_url: str, fake_push: FakePush
) -> None:
    neighbour = group_of(seeded, RAISER)[0]
    async with running(push_settings(sqlite_url)) as base:
        device = await subscribe(base, seeded.households[neighbour], fake_push)
        alarm = (await press(base, seeded.households[RAISER], "fire")).json()["alert"]["id"]
        await until_received(fake_push, 1)
        patrol = seeded.staff["patrol_member"]
        resolved = await call(
            base, patrol, "POST", f"/api/alerts/{alarm}/resolve", json={"outcome": "handled"}
        )
        assert resolved.status_code == 200, resolved.text
        alarm_push, clear = await until_received(fake_push, 2)
    assert clear.endpoint == device["endpoint"]
    assert clear.payload == {
        "type": "all_clear",
        "alert_id": alarm,
        "tag": alarm_push.payload["tag"],
        "title": f"{RAISER} · {words.say('app.closed', language='zh')}",
        "body": texts.body(
            "all_clear", language="zh", address=RAISER, alert_type="fire", outcome="handled"
        ),
        "url": "/app",
    }
    assert clear.headers["urgency"] == "high"


async def test_a_duress_cancel_pushes_nothing_more_to_the_group(
    seeded: Seed, sqlite_url: str, fake_push: FakePush
) -> None:
    neighbour = group_of(seeded, RAISER)[0]
    raiser = seeded.households[RAISER]
    async with running(push_settings(sqlite_url)) as base:
        await subscribe(base, seeded.households[neighbour], fake_push)
        pins = {"pin": "1234", "duress_pin": "9999"}
        assert (await call(base, raiser, "PUT", "/api/household/pin", json=pins)).is_success
        alarm = (await press(base, raiser)).json()["alert"]["id"]
        await until_received(fake_push, 1)
        cancelled = await call(
            base, raiser, "POST", f"/api/alerts/{alarm}/cancel", json={"pin": "9999"}
        )
        assert cancelled.status_code == 200, cancelled.text

        async def all_clear_texted() -> bool:
            found = await rows(
                sqlite_url,
                select(OutboxMessage.status).where(
                    OutboxMessage.channel == "sms", OutboxMessage.body.contains("已解除")
                ),
            )
            return bool(found) and all(status == SENT for (status,) in found)

        await poll_until(all_clear_texted)  # the group's texts of the seeming cancel went out
    assert len(fake_push.received) == 1
    assert [job.body.startswith('{"type":"alert"') for job in await push_jobs(sqlite_url)] == [True]


async def test_a_notifications_button_answers_once_with_its_alarms_token(
    seeded: Seed, sqlite_url: str, fake_push: FakePush
) -> None:
    neighbour = group_of(seeded, RAISER)[0]
    other = stranger_of(seeded, RAISER)
    async with running(push_settings(sqlite_url)) as base:
        await subscribe(base, seeded.households[neighbour], fake_push)
        await subscribe(base, seeded.households[group_of(seeded, other)[0]], fake_push)
        alarm = (await press(base, seeded.households[RAISER])).json()["alert"]["id"]
        second = (await press(base, seeded.households[other])).json()["alert"]["id"]
        got = await until_received(fake_push, 2)
        token = next(r.payload["answer_token"] for r in got if r.payload["alert_id"] == alarm)

        async def answer(**body: Any) -> Any:
            import httpx

            async with httpx.AsyncClient(base_url=base) as client:
                return await client.post("/api/push/answer", json=body)

        wrong_alarm = await answer(token=token, answer="coming", alert_id=second)
        assert wrong_alarm.status_code == 403
        unknown = await answer(token="x" * 43, answer="coming")
        assert unknown.status_code == 403
        first = await answer(token=token, answer="coming", alert_id=alarm)
        assert first.status_code == 200, first.text
        assert first.json() == {"alert_id": alarm, "answer": "coming", "coming": 1}
        replay = await answer(token=token, answer="cant")
        assert replay.status_code == 403
        bad = await answer(token=token, answer="called_110")
        assert bad.status_code == 422
        timeline = await call(base, seeded.households[RAISER], "GET", f"/api/alerts/{alarm}")
        assert timeline.json()["coming"] == 1


async def test_subscribing_takes_a_browsers_subscription_and_refuses_anything_else(
    seeded: Seed, sqlite_url: str, fake_push: FakePush
) -> None:
    resident = seeded.households[RAISER]
    async with running(push_settings(sqlite_url, push_allow_http=False)) as base:
        key = await call(base, resident, "GET", "/api/push/key")
        assert key.status_code == 200
        assert len(key.json()["public_key"]) == 87
        browser = fake_push.subscribe()  # http://127.0.0.1: refused without push_allow_http
        path = "/api/push/subscriptions"
        assert (await call(base, resident, "POST", path, json=browser)).status_code == 422
        https = browser | {"endpoint": "https://push.example.net/send/abc"}
        for bad in (
            https | {"endpoint": "https://127.0.0.1/send/abc"},
            https | {"endpoint": "https://user:pw@push.example.net/send/abc"},
            https | {"endpoint": "ftp://push.example.net/send/abc"},
            https | {"endpoint": "https://push.example.net/" + "a" * 1000},
            https | {"keys": {"p256dh": "A" * 87, "auth": browser["keys"]["auth"]}},
            https | {"keys": {"p256dh": browser["keys"]["p256dh"], "auth": "AAAA" * 8}},
            https | {"keys": {"p256dh": browser["keys"]["p256dh"]}},
            https | {"extra": 1},
        ):
            refused = await call(base, resident, "POST", path, json=bad)
            assert refused.status_code == 422, (bad, refused.text)
        made = await call(base, resident, "POST", path, json=https)
        assert made.status_code == 201
        again = await call(base, resident, "POST", path, json=https)
        assert again.status_code == 201
        assert again.json() == made.json()
        staff = await call(base, seeded.staff["patrol_member"], "POST", path, json=https)
        assert staff.status_code == 403
        gone = await call(base, resident, "DELETE", path, json={"endpoint": https["endpoint"]})
        assert gone.status_code == 204
    assert await rows(sqlite_url, select(func.count()).select_from(PushSubscription)) == [(0,)]


async def test_without_vapid_keys_push_is_off_and_what_would_go_is_printed_without_its_token(
    seeded: Seed, sqlite_url: str, fake_push: FakePush, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=sqlite_url, outbox_poll_seconds=0.05)
    neighbour = group_of(seeded, RAISER)[0]
    https = fake_push.subscribe() | {"endpoint": "https://push.example.net/send/abc"}
    async with running(settings) as base:
        key = await call(base, seeded.households[RAISER], "GET", "/api/push/key")
        assert key.json() == {"public_key": None}
        made = await call(
            base, seeded.households[neighbour], "POST", "/api/push/subscriptions", json=https
        )
        assert made.status_code == 201
        assert (await press(base, seeded.households[RAISER])).status_code == 201

        async def sent() -> bool:
            return [job.status for job in await push_jobs(sqlite_url)] == [SENT]

        await poll_until(sent)
    (job,) = await push_jobs(sqlite_url)
    printed = capsys.readouterr().out
    assert f"PUSH → subscription {made.json()['id']}: alert " in printed
    assert "answer_token" not in printed
    assert "answer_token" not in job.body  # dropped once it went


async def test_a_household_that_reads_english_is_pushed_in_english(
    seeded: Seed, sqlite_url: str, fake_push: FakePush
) -> None:
    neighbour = group_of(seeded, RAISER)[0]
    async with running(push_settings(sqlite_url)) as base:
        token = seeded.households[neighbour]
        english = await call(base, token, "PUT", "/api/me/language", json={"language": "en"})
        assert english.is_success, english.text
        await subscribe(base, token, fake_push)
        assert (await press(base, seeded.households[RAISER], "medical")).status_code == 201
        (got,) = await until_received(fake_push, 1)
    assert got.payload["title"].endswith(" · medical")
    name = got.payload["title"][len(RAISER) + 1 : -len(" · medical")]
    assert got.payload["body"] == texts.body(
        "alarm", language="en", address=RAISER, name=name, alert_type="medical"
    )
    assert got.payload["actions"] == [
        {"action": "coming", "title": "I'm coming"},
        {"action": "cant", "title": "I can't"},
    ]


async def test_a_widened_alarm_wakes_the_wider_groups_phones_too(
    seeded: Seed, sqlite_url: str, fake_push: FakePush
) -> None:
    clock = ManualClock()
    wider = "B11-2-101"  # another group of the raiser's building
    far = "B12-1-101"
    async with running(push_settings(sqlite_url, scheduler_poll_seconds=0.05), clock=clock) as base:
        near = await subscribe(base, seeded.households[group_of(seeded, RAISER)[0]], fake_push)
        widened = await subscribe(base, seeded.households[wider], fake_push)
        await subscribe(base, seeded.households[far], fake_push)
        assert (await press(base, seeded.households[RAISER])).status_code == 201
        (first,) = await until_received(fake_push, 1)
        assert first.endpoint == near["endpoint"]
        clock.advance(46)  # nobody is coming: the quorum deadline widens it to the building
        _, second = await until_received(fake_push, 2)
    assert second.endpoint == widened["endpoint"]  # and not the other building's phone
    assert len(fake_push.received) == 2
    name = first.payload["title"][len(RAISER) + 1 : -len(" · 求助")]
    assert second.payload["title"] == first.payload["title"]
    assert second.payload["body"] == texts.body("widened", language="zh", address=RAISER, name=name)
    assert second.payload["answer_token"] != first.payload["answer_token"]
    assert name in second.payload["body"]
