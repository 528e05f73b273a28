"""A press reaches the neighbours' open apps and the patrol board, and nobody else."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from typing import Any

from server.settings import Settings
from tests.actors import resident
from tests.harness import Seed, Socket, press, running, stream


async def test_a_press_reaches_all_nine_neighbours_and_the_board_and_no_other_group(
    settings: Settings, seeded: Seed
) -> None:
    raiser = "B11-1-101"
    group = seeded.group_of(raiser)
    assert len(group) == 10
    stranger = next(a for a in seeded.households if a not in group)
    async with running(settings) as base, AsyncExitStack() as stack:
        neighbours = [
            await stack.enter_async_context(stream(base, seeded.households[a]))
            for a in group
            if a != raiser
        ]
        board = await stack.enter_async_context(stream(base, seeded.staff["patrol_leader"]))
        other = await stack.enter_async_context(stream(base, seeded.households[stranger]))

        response = await resident(base, seeded, raiser).press("medical")
        assert response.status_code == 201, response.text
        raised = response.json()
        assert raised["neighbours"] == 9

        for sock in [*neighbours, board]:
            event = await sock.next_event()
            assert event["id"] == raised["event_id"]
            assert event["type"] == "alert.raised"
            assert event["alert_id"] == raised["alert"]["id"]
            assert event["data"]["household"] == raiser
            assert event["data"]["alert_type"] == "medical"
        assert await other.silent()


async def test_a_resident_who_pressed_reads_the_alarm_back_as_soon_as_the_press_is_answered(
    settings: Settings, seeded: Seed
) -> None:
    async with running(settings) as base:
        raiser = resident(base, seeded, "B12-2-501")
        raised = (await raiser.press("fire")).json()
        got = await raiser.call("GET", f"/api/alerts/{raised['alert']['id']}")
    assert got.status_code == 200
    alert = got.json()
    assert alert["type"] == "fire"
    assert alert["status"] == "open"
    assert alert["household"] == "B12-2-501"
    assert alert["group"].startswith("B12-2")
    assert alert["raised_by"]


async def test_a_neighbour_who_reconnects_gets_every_alarm_it_missed_once_in_order(
    settings: Settings, seeded: Seed
) -> None:
    group = seeded.group_of("B11-2-101")
    listener, witness = group[0], group[9]
    async with running(settings) as base, stream(base, seeded.households[witness]) as always:
        raisers = [resident(base, seeded, a) for a in group[1:5]]
        async with stream(base, seeded.households[listener]) as sock:
            first = (await raisers[0].press()).json()
            await sock.next_event()
        for raiser in raisers[1:]:  # a confirmed incident: more events than presses
            assert (await raiser.press()).status_code == 201
        async with stream(
            base, seeded.households[listener], last_event_id=first["event_id"]
        ) as again:
            live = (await raisers[0].press("other")).json()
            assert live["outcome"] == "merged"
            heard = await always.events_until(
                lambda ev: any(e["id"] == live["event_id"] for e in ev)
            )
            expected = [e["id"] for e in heard if e["id"] > first["event_id"]]
            assert len(expected) > len(raisers)
            assert again.hello["replayed"] == len(expected) - 1
            await again.events_until(lambda events: len(events) >= len(expected))
            assert [e["id"] for e in again.events] == expected
            assert await again.silent()


async def test_a_whole_group_connecting_at_once_hears_a_press_made_right_after(
    settings: Settings, seeded: Seed
) -> None:
    group = seeded.group_of("B12-1-101")
    async with running(settings) as base, AsyncExitStack() as stack:
        socks: list[Socket] = list(
            await asyncio.gather(
                *(stack.enter_async_context(stream(base, seeded.households[a])) for a in group)
            )
        )
        raised = (await press(base, seeded.households[group[-1]])).json()
        events = await asyncio.gather(*(s.next_event() for s in socks))
        assert {e["id"] for e in events} == {raised["event_id"]}


async def test_a_neighbour_whose_queue_fills_while_the_server_is_busy_still_hears_it_all(
    seeded: Seed, sqlite_url: str
) -> None:
    listener, first, second = seeded.group_of("B11-1-101")[:3]
    settings = Settings(database_url=sqlite_url, ws_queue_size=2, outbox_poll_seconds=0.05)
    async with running(settings) as base, stream(base, seeded.households[listener]) as sock:
        assert (await press(base, seeded.households[first])).status_code == 201
        # A confirmed incident: three events at once, one more than the queue holds; the
        # socket reads the rest from the store rather than being dropped.
        assert (await press(base, seeded.households[second])).status_code == 201
        heard = await sock.events_until(lambda got: len(got) >= 4)
        assert [e["type"] for e in heard] == [
            "alert.raised",
            "alert.raised",
            "alert.confirmed",
            "alert.escalated",
        ]
        assert [e["id"] for e in heard] == sorted({e["id"] for e in heard})
        assert await sock.silent()


async def test_a_quiet_socket_hears_heartbeats_at_the_pace_its_hello_announced(
    seeded: Seed, sqlite_url: str
) -> None:
    settings = Settings(database_url=sqlite_url, ws_heartbeat_seconds=0.3)
    async with running(settings) as base, stream(base, seeded.households["B11-1-101"]) as sock:
        assert sock.hello["heartbeat"] == 0.3
        started = asyncio.get_running_loop().time()
        beats: list[dict[str, Any]] = []
        async with asyncio.timeout(5):
            while len(beats) < 3:
                beats.append(json.loads(await sock.ws.recv()))
        assert {b["type"] for b in beats} == {"heartbeat"}
        elapsed = asyncio.get_running_loop().time() - started
        assert elapsed >= 0.85, f"three beats of 0.3 s came in {elapsed:.2f} s: too fast"
