"""A household pressing again right after it cancelled its alarm re-alerts everyone on the app
and the board, but does not text everyone again: a press-and-cancel loop can't flood the
neighbours' phones, and no alarm is ever refused, dropped or left without its escalation."""

from __future__ import annotations

from contextlib import AsyncExitStack

from sqlalchemy import select

from notifier.models import OutboxMessage
from tests.harness import rows, running, stream
from tests.server.world import World, set_pins, texts_to


async def test_a_press_right_after_the_households_cancel_re_alerts_without_texting_again(
    world: World,
) -> None:
    neighbour = world.neighbours()[0]
    async with running(world.settings, clock=world.clock) as base, AsyncExitStack() as stack:
        raiser = world.resident(base)
        await set_pins(raiser)
        neighbours_app = await stack.enter_async_context(stream(base, world.token(neighbour)))
        board = await stack.enter_async_context(stream(base, world.seed.staff["patrol_leader"]))

        first = await raiser.press()
        assert (first.status_code, first.json()["texts"]) == (201, 9)
        alarms = [first.json()["alert"]["id"]]
        assert (await raiser.cancel(alarms[0], pin="1234")).status_code == 200
        for _ in range(4):  # pressing and cancelling over and over
            world.clock.advance(2)
            again = await raiser.press()
            assert again.status_code == 201
            assert again.json()["texts"] == 0
            alarms.append(again.json()["alert"]["id"])
            assert (await raiser.cancel(alarms[-1], pin="1234")).status_code == 200

        for sock in (neighbours_app, board):
            heard = await sock.events_until(
                lambda ev: sum(e["type"] == "alert.raised" for e in ev) == 5, timeout=15
            )
            raised = [e for e in heard if e["type"] == "alert.raised"]
            assert [e["alert_id"] for e in raised] == alarms
            assert [e["data"].get("realert_of") for e in raised] == [None, *alarms[:-1]]
        texted = [row for alarm in alarms for row in await texts_to(world, alarm)]
        assert len([row for alarm in alarms[1:] for row in await texts_to(world, alarm)]) == 0
        assert len(texted) <= 2 * 9  # the first alarm's texts and their all clear, no more

        # Not cancelled this time: its escalation calls the neighbours as for any alarm.
        world.clock.advance(2)
        kept = (await raiser.press()).json()["alert"]["id"]
        world.clock.advance(46)
        await board.events_until(
            lambda ev: any(e["type"] == "alert.escalated" and e["alert_id"] == kept for e in ev)
        )
        calls = await rows(
            world.url,
            select(OutboxMessage.to).where(
                OutboxMessage.alert_id == kept, OutboxMessage.channel == "voice"
            ),
        )
        assert len(calls) == 9

        # Once the quiet minute after a cancel is over, a press texts everyone again.
        other = world.resident(base, "B12-1-101")  # of another group: no confirmed incident
        await set_pins(other)
        mine = (await other.press()).json()["alert"]["id"]
        assert (await other.cancel(mine, pin="1234")).status_code == 200
        world.clock.advance(61)
        later = await other.press()
        assert (later.status_code, later.json()["texts"]) == (201, 9)
