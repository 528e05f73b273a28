"""A duress PIN stays the board's secret: the raiser's group (whose phone the attacker may hold)
never hears `alert.duress`, live or replayed, nor reads it in a timeline; and once it was shown
a cancel, its view of the alarm stays the cancel's, frozen at that moment, as a real cancel's
does, however the patrol goes on with it."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Any

import pytest

from tests.harness import running, stream
from tests.server.world import RAISER, World, set_pins

OTHER = "B12-1-101"
"""A household of another group, who really cancels its false alarm beside the forced one."""


async def _no_deadline_before_the_cancel(world: World, base: str) -> None:
    """Deadlines after the cancel window, so that a late cancel comes before any escalation."""
    policy = await world.staff(base, "admin").set_policy(quorum_seconds=300, patrol_seconds=300)
    assert policy.status_code == 200, policy.text


def _secret_kept(seen: Any) -> bool:
    """Whether nothing a resident was given names the duress."""
    return "duress" not in json.dumps(seen, ensure_ascii=False)


@pytest.mark.parametrize("late", [False, True], ids=["in-the-window", "after-the-window"])
async def test_a_duress_pin_never_reaches_the_raisers_group_only_the_board(
    world: World, late: bool
) -> None:
    neighbour = world.neighbours()[0]
    async with running(world.settings, clock=world.clock) as base, AsyncExitStack() as stack:
        raiser, patrol = world.resident(base), world.staff(base, "patrol_leader")
        await set_pins(raiser)
        await _no_deadline_before_the_cancel(world, base)
        raisers_phone = await stack.enter_async_context(stream(base, raiser.token))
        neighbours_app = await stack.enter_async_context(stream(base, world.token(neighbour)))
        board = await stack.enter_async_context(stream(base, patrol.token))
        alarm = await raiser.raise_alarm("intrusion")
        if late:
            world.clock.advance(121)
        forced = await raiser.cancel(alarm, pin="9999")
        assert forced.status_code == (409 if late else 200), forced.text

        await board.events_until(lambda ev: any(e["type"] == "alert.duress" for e in ev))
        shown = ["alert.raised"] if late else ["alert.raised", "alert.cancelled"]
        for sock in (raisers_phone, neighbours_app):
            await sock.events_until(lambda ev: len(ev) >= len(shown))
            assert await sock.silent()
            assert [e["type"] for e in sock.events] == shown
            assert _secret_kept(sock.events)
        async with stream(base, raiser.token, last_event_id=0) as replayed:
            await replayed.events_until(lambda ev: len(ev) >= len(shown))
            assert await replayed.silent()
            assert [e["type"] for e in replayed.events] == shown
            assert _secret_kept(replayed.events)
        for resident in (raiser, world.resident(base, neighbour)):
            timeline = await resident.timeline(alarm)
            assert [e["type"] for e in timeline] == shown
            assert _secret_kept(timeline)
            view = await resident.look_at(alarm)
            assert view["duress"] is False
            assert _secret_kept({k: v for k, v in view.items() if k != "duress"})

        assert "alert.duress" in {e["type"] for e in await patrol.timeline(alarm)}
        assert (await patrol.look_at(alarm))["duress"] is True


def _as_cancelled(view: dict[str, Any]) -> dict[str, Any]:
    """What a resident's view of a cancelled alarm says, without what tells two alarms apart
    (which alarm, whose, what kind)."""
    same = ("status", "outcome", "taken_by", "taken_at", "on_scene_at", "closed_at", "updated_at")
    return {key: view[key] for key in same}


async def test_after_a_duress_cancel_the_group_sees_a_cancel_frozen_at_that_moment(
    world: World,
) -> None:
    async with running(world.settings, clock=world.clock) as base, AsyncExitStack() as stack:
        forced, honest = world.resident(base), world.resident(base, OTHER)
        patrol = world.staff(base, "patrol_leader")
        for household in (forced, honest):
            await set_pins(household)
        forced_group = await stack.enter_async_context(stream(base, world.token(RAISER)))
        honest_group = await stack.enter_async_context(stream(base, world.token(OTHER)))
        forced_id = await forced.raise_alarm()
        honest_id = await honest.raise_alarm()
        world.clock.advance(10)
        shown = await forced.cancel(forced_id, pin="9999")
        real = await honest.cancel(honest_id, pin="1234")
        assert shown.status_code == real.status_code == 200
        assert _as_cancelled(shown.json()) == _as_cancelled(real.json())
        cancelled_at = real.json()["closed_at"]
        assert real.json()["updated_at"] == cancelled_at

        for step in (patrol.take, patrol.on_scene):
            world.clock.advance(30)
            assert (await step(forced_id)).status_code == 200
        world.clock.advance(30)
        assert (await patrol.resolve(forced_id, "police")).status_code == 200

        for sock in (forced_group, honest_group):
            await sock.events_until(lambda ev: len(ev) >= 2)
            assert await sock.silent()
            assert [e["type"] for e in sock.events] == ["alert.raised", "alert.cancelled"]
        assert forced_group.events[-1]["at"] == honest_group.events[-1]["at"]
        assert forced_group.events[-1]["data"]["status"] == "cancelled"

        as_forced = await forced.look_at(forced_id)
        as_honest = await honest.look_at(honest_id)
        assert _as_cancelled(as_forced) == _as_cancelled(as_honest)
        assert as_forced["closed_at"] == as_forced["updated_at"] == cancelled_at
        [listed_forced] = [a for a in await forced.alarms(closed=True) if a["id"] == forced_id]
        [listed_honest] = [a for a in await honest.alarms(closed=True) if a["id"] == honest_id]
        assert _as_cancelled(listed_forced) == _as_cancelled(listed_honest)
        assert await forced.alarms() == []

        as_board = await patrol.look_at(forced_id)
        assert (as_board["status"], as_board["duress"]) == ("resolved", True)
        assert as_board["closed_at"] != cancelled_at


async def test_a_duress_cancel_drops_off_the_groups_closed_list_when_a_real_one_would(
    world: World,
) -> None:
    async with running(world.settings, clock=world.clock) as base:
        forced, honest = world.resident(base), world.resident(base, OTHER)
        patrol = world.staff(base, "patrol_leader")
        for household in (forced, honest):
            await set_pins(household)
        forced_id = await forced.raise_alarm()
        honest_id = await honest.raise_alarm()
        assert (await forced.cancel(forced_id, pin="9999")).status_code == 200
        assert (await honest.cancel(honest_id, pin="1234")).status_code == 200
        world.clock.advance(23 * 3600)
        assert (await patrol.resolve(forced_id, "handled")).status_code == 200
        world.clock.advance(2 * 3600)  # a day and an hour after both cancels
        assert [a["id"] for a in await honest.alarms(closed=True)] == []
        assert [a["id"] for a in await forced.alarms(closed=True)] == []
        assert forced_id in [a["id"] for a in await patrol.alarms(closed=True)]
