"""Buttons on the wall and sirens in the yard, against a real Mosquitto: a button's press is the
household's alarm on the app's path; an unknown device raises nothing; a quiet or low button
shows as such; the building's siren sounds after the cancel window and stops at the close,
never for a cancelled or a duress alarm; a broker restart loses no press it took."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from notifier.models import OutboxMessage
from server.runtime.clock import ManualClock
from server.settings import Settings
from tests.harness import bearer, poll_until, rows, running, seed, stream
from tests.mqtt_support import device, prefix, private_broker, shared_broker
from tests.server.world import RAISER, World, set_pins
from tests.services import free_port

CANCEL = 120  # the community's cancel window (the policy's default)


@pytest.fixture
def hw(sqlite_url: str) -> World:
    """The demo community on SQLite, its device link on the shared Mosquitto, topics of its
    own."""
    topics = prefix()
    settings = Settings(
        database_url=sqlite_url,
        outbox_poll_seconds=0.05,
        scheduler_poll_seconds=0.05,
        ws_heartbeat_seconds=5,
        mqtt_url=shared_broker(),
        mqtt_client_id=f"{topics}-app",
        mqtt_topics=f"{topics}/+,{topics}/+/availability",
    )
    return World(sqlite_url, settings, asyncio.run(seed(sqlite_url)), ManualClock())


def topic_of(world: World, name: str) -> str:
    """A device's topic under the world's own prefix."""
    return f"{world.settings.mqtt_topics.split('/')[0]}/{name}"


async def call(base: str, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        return await client.request(method, path, headers=bearer(token), **kwargs)


async def pair(world: World, base: str, **device: Any) -> dict[str, Any]:
    """The admin pairs a device; its answer."""
    answer = await call(base, world.seed.staff["admin"], "POST", "/api/hardware", json=device)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def hardware(world: World, base: str, path: str = "") -> list[dict[str, Any]]:
    answer = await call(base, world.seed.staff["admin"], "GET", f"/api/hardware{path}")
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def link_up(world: World, base: str) -> None:
    """Wait until the app's device link is connected (and subscribed)."""

    async def up() -> bool:
        answer = await call(base, world.seed.staff["admin"], "GET", "/readyz")
        return "devices" not in answer.json()

    await poll_until(up)


@asynccontextmanager
async def served(world: World) -> AsyncIterator[str]:
    async with running(world.settings, clock=world.clock) as base:
        await link_up(world, base)
        yield base


async def test_a_button_press_becomes_the_households_alarm_heard_by_neighbours_and_the_board(
    hw: World,
) -> None:
    sos, led = topic_of(hw, "sos-301"), topic_of(hw, "sos-301/led")
    async with (
        served(hw) as base,
        stream(base, hw.token(hw.neighbours()[0])) as neighbour,
        stream(base, hw.seed.staff["patrol_member"]) as board,
        device(hw.settings.device_url, led) as button,
    ):
        paired = await pair(
            hw, base, kind="button", name="sos-301", topic=sos, household=RAISER,
            label="bedside", alert_type="medical", command_topic=led,
        )  # fmt: skip
        assert paired["state"] == "quiet"  # never heard yet
        await button.say(sos, {"action": "emergency", "battery": 87, "linkquality": 96})
        raised = await neighbour.next_event()
        assert (raised["type"], raised["channel"]) == ("alert.raised", "button")
        seen = await board.next_event()
        assert (seen["type"], seen["alert_id"], seen["channel"]) == (
            "alert.raised",
            raised["alert_id"],
            "button",
        )
        heard = await call(base, hw.seed.staff["patrol_member"], "GET", "/api/alerts")
        alarm = next(a for a in heard.json() if a["id"] == raised["alert_id"])
        assert (alarm["household"], alarm["type"], alarm["source"]) == (RAISER, "medical", "button")
        topic, answer = await button.heard()
        assert topic == led
        assert answer == {"alert_id": raised["alert_id"], "outcome": "raised", "led": "on"}

        await button.say(sos, {"action": "emergency", "battery": 86})
        merged = await neighbour.next_event()
        assert (merged["type"], merged["alert_id"]) == ("alert.pressed", raised["alert_id"])
        assert merged["data"]["presses"] == 2
        assert (await button.heard())[1]["outcome"] == "merged"
        (shown,) = await hardware(hw, base)
        assert (shown["battery"], shown["state"], shown["household"]) == (86, "ok", RAISER)


async def test_an_unknown_devices_press_raises_nothing_and_is_listed_for_the_admin(
    hw: World,
) -> None:
    stranger = topic_of(hw, "someone-elses-button")
    async with (
        served(hw) as base,
        stream(base, hw.seed.staff["patrol_member"]) as board,
        device(hw.settings.device_url) as button,
    ):
        await button.say(stranger, {"action": "emergency"})

        async def listed() -> bool:
            return any(u["topic"] == stranger for u in await hardware(hw, base, "/unknown"))

        await poll_until(listed)
        assert await board.silent()
        (unknown,) = [u for u in await hardware(hw, base, "/unknown") if u["topic"] == stranger]
        assert unknown["messages"] == 1
        assert "emergency" in unknown["last_payload"]


async def test_a_long_silent_or_low_battery_button_shows_as_quiet_or_low(hw: World) -> None:
    low, silent, gone = (topic_of(hw, n) for n in ("low", "silent", "gone"))
    async with served(hw) as base, device(hw.settings.device_url) as buttons:
        for name, topic in (("low", low), ("silent", silent), ("gone", gone)):
            await pair(hw, base, kind="button", name=name, topic=topic, household=RAISER)
        await buttons.say(low, {"battery": 8, "linkquality": 40})  # a check-in, not a press
        await buttons.say(silent, {"battery": 90})
        await buttons.say(gone, {"battery": 90})
        await buttons.say(f"{gone}/availability", {"state": "offline"})

        async def states() -> dict[str, str]:
            return {d["name"]: d["state"] for d in await hardware(hw, base)}

        async def settled() -> bool:
            return await states() == {"low": "low", "silent": "ok", "gone": "quiet"}

        await poll_until(settled)
        hw.clock.advance(hw.settings.button_quiet_hours * 3600 + 60)
        await buttons.say(low, {"battery": 8})  # low still speaks; silent has said nothing since
        hw.clock.advance(1)

        async def later() -> bool:
            return await states() == {"low": "low", "silent": "quiet", "gone": "quiet"}

        await poll_until(later)
        assert await _alarms(hw, base) == [], "no check-in is a press"
        # the plan lists them beside the households no channel reaches, before they matter
        plan = await call(base, hw.seed.staff["patrol_leader"], "GET", "/api/community/plan")
        assert plan.status_code == 200, plan.text
        troubled = {b["name"]: (b["state"], b["address"]) for b in plan.json()["buttons"]}
        assert troubled == {
            "low": ("low", RAISER),
            "silent": ("quiet", RAISER),
            "gone": ("quiet", RAISER),
        }
        assert plan.json()["counts"]["buttons"] == 3


async def _alarms(world: World, base: str) -> list[dict[str, Any]]:
    answer = await call(base, world.seed.staff["patrol_member"], "GET", "/api/alerts")
    return answer.json()  # type: ignore[no-any-return]


async def _sounders(world: World, base: str) -> tuple[str, str, str]:
    """A siren of the raiser's building, one of another building, and the yard's loudspeaker."""
    siren, other, speaker = (topic_of(world, n) for n in ("siren-b11", "siren-b12", "horn"))
    await pair(world, base, kind="siren", name="siren-b11", topic=siren, building="B11")
    await pair(world, base, kind="strobe", name="siren-b12", topic=other, building="B12")
    await pair(world, base, kind="speaker", name="horn", topic=speaker, command_topic=speaker)
    return f"{siren}/set", f"{other}/set", speaker


async def test_the_buildings_siren_sounds_after_the_cancel_window_and_stops_at_resolve(
    hw: World,
) -> None:
    async with served(hw) as base:
        siren, other, speaker = await _sounders(hw, base)
        async with device(hw.settings.device_url, siren, other, speaker) as yard:
            alert_id = await hw.resident(base).raise_alarm()
            assert await yard.quiet(0.5), "nothing sounds inside the cancel window"
            hw.clock.advance(CANCEL + 1)
            heard = dict([await yard.heard(), await yard.heard()])
            assert heard[siren] == {
                "state": "ON", "alert_id": alert_id, "type": "help", "drill": False,
            }  # fmt: skip
            assert heard[speaker]["text"] == "B11 栋 1 单元 301 求助"
            assert await yard.quiet(0.3), "the other building's strobe stays dark"
            patrol = hw.staff(base, "patrol_member")
            assert (await patrol.resolve(alert_id, "handled")).status_code == 200
            assert await yard.heard() == (siren, {"state": "OFF", "alert_id": alert_id,
                                                   "drill": False})  # fmt: skip
            assert await yard.quiet(0.3), "a loudspeaker is not turned off; nothing else"


async def test_no_siren_sounds_for_a_cancelled_alarm_nor_a_duress_one(hw: World) -> None:
    async with served(hw) as base:
        siren, _, speaker = await _sounders(hw, base)
        raiser = hw.resident(base)
        await set_pins(raiser)
        async with device(hw.settings.device_url, siren, speaker) as yard:
            cancelled = await raiser.raise_alarm()
            assert (await raiser.cancel(cancelled, pin="1234")).status_code == 200
            hw.clock.advance(CANCEL + 1)
            assert await yard.quiet(0.6)
            duress = await raiser.raise_alarm()
            hw.clock.advance(5)
            assert (await raiser.cancel(duress, pin="9999")).status_code == 200
            hw.clock.advance(CANCEL + 1)
            assert await yard.quiet(0.6)
        jobs = await rows(
            hw.url,
            select(OutboxMessage.alert_id, OutboxMessage.status).where(
                OutboxMessage.channel == "device"
            ),
        )
        assert sorted(jobs) == sorted(
            [(cancelled, "withdrawn")] * 2 + [(duress, "withdrawn")] * 2
        ), jobs


async def test_a_drills_siren_is_marked_drill(hw: World) -> None:
    async with served(hw) as base:
        siren, _, speaker = await _sounders(hw, base)
        async with device(hw.settings.device_url, siren, speaker) as yard:
            leader = hw.staff(base, "admin")
            started = await leader.start_drill("autumn drill", household=RAISER)
            assert started.status_code == 201, started.text
            hw.clock.advance(CANCEL + 1)
            heard = dict([await yard.heard(), await yard.heard()])
            assert heard[siren]["drill"] is True
            assert heard[speaker]["text"].startswith("演练")


async def test_a_broker_restart_loses_no_press_the_broker_took(
    sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    with private_broker(tmp_path, port) as broker:
        world = World(
            sqlite_url,
            Settings(
                database_url=sqlite_url,
                outbox_poll_seconds=0.05,
                ws_heartbeat_seconds=5,
                mqtt_url=broker.url,
                mqtt_client_id="tenwatch-restart-test",
                mqtt_topics="buttons/+",
                mqtt_min_backoff_seconds=1.5,  # the press below reaches the broker first
            ),
            await seed(sqlite_url),
            ManualClock(),
        )
        async with (
            served(world) as base,
            stream(base, world.seed.staff["patrol_member"]) as board,
        ):
            await pair(world, base, kind="button", name="b", topic="buttons/b", household=RAISER)
            broker.stop()

            async def down() -> bool:
                answer = await call(base, world.seed.staff["admin"], "GET", "/readyz")
                return str(answer.json().get("devices", "")).startswith("degraded")

            await poll_until(down)
            broker.start()
            async with device(broker.url) as button:  # the button is back before the app
                await button.say("buttons/b", {"action": "sos"})
            event = await board.next_event(timeout=15)
            assert (event["type"], event["channel"]) == ("alert.raised", "button")
            await link_up(world, base)
            broker.stop()  # and once more: the session's subscription holds
            broker.start()
            await link_up(world, base)
            async with device(broker.url) as button:
                await button.say("buttons/b", "SOS")
            again = await board.next_event(timeout=15)
            assert (again["type"], again["alert_id"]) == ("alert.pressed", event["alert_id"])


def test_settings_default_to_an_in_process_device_link() -> None:
    assert Settings(_env_file=None).device_url == "memory://"
