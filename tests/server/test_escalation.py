"""Escalation on a moved clock: too few neighbours widens the alarm to the building; an untaken
alarm goes to the patrol and the police office again and again until someone takes it; stored
deadlines fire after a restart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from groups.duty import WEEKDAYS
from notifier.models import OutboxMessage
from server.alarms.models import AlertDeadline
from tests.harness import rows, running, stream
from tests.server.world import POLICE, RAISER, World, texts_to

OTHER_GROUP_SAME_BUILDING = "B11-2-101"
OTHER_BUILDING = "B12-1-101"
GRID_MANAGER = "+8613900000003"
BUILDING_LEADER = "+8613800000010"


def escalations(events: list[dict[str, Any]], level: str) -> list[dict[str, Any]]:
    """The escalation events of one level among events."""
    return [e for e in events if e["type"] == "alert.escalated" and e["data"]["level"] == level]


async def deadlines(world: World, alert_id: int) -> list[tuple[str, int, str | None]]:
    """(kind, cycle, outcome) of an alarm's stored deadlines."""
    found = await rows(
        world.url,
        select(AlertDeadline.kind, AlertDeadline.cycle, AlertDeadline.outcome)
        .where(AlertDeadline.alert_id == alert_id)
        .order_by(AlertDeadline.id),
    )
    return [(kind, cycle, outcome) for kind, cycle, outcome in found]


async def test_too_few_neighbours_coming_widens_the_alarm_then_the_patrol_is_called_until_taken(
    world: World,
) -> None:
    async with (
        running(world.settings, clock=world.clock) as base,
        stream(base, world.token(RAISER)) as raisers_app,
        stream(base, world.token(OTHER_GROUP_SAME_BUILDING)) as wider,
        stream(base, world.token(OTHER_BUILDING)) as far,
        stream(base, world.seed.staff["patrol_member"]) as board,
    ):
        one_coming = world.resident(base, world.neighbours()[0])
        alert_id = await world.resident(base).raise_alarm()
        await one_coming.answer(alert_id, "coming")
        assert await wider.silent()

        world.clock.advance(46)
        heard = await raisers_app.events_until(lambda ev: bool(escalations(ev, "neighbours")))
        widened = escalations(heard, "neighbours")[0]["data"]
        assert (widened["coming"], widened["quorum"], widened["neighbours"]) == (1, 2, 19)
        assert len(widened["groups"]) == 1
        first = await wider.next_event()
        assert (first["type"], first["alert_id"]) == ("alert.escalated", alert_id)
        assert first["data"]["household"] == RAISER
        assert await far.silent()
        joined = await world.resident(base, OTHER_GROUP_SAME_BUILDING).answer(alert_id, "coming")
        assert joined.status_code == 200
        assert joined.json()["alert"]["coming"] == 2
        phones = {to for to, body, _ in await texts_to(world, alert_id) if "响应不足" in body}
        texted = await texts_to(world, alert_id)
        alarmed = {to for to, body, _ in texted if "请邻居速往支援" in body}
        called = await rows(
            world.url,
            select(OutboxMessage.to, OutboxMessage.resident_id).where(
                OutboxMessage.alert_id == alert_id, OutboxMessage.channel == "voice"
            ),
        )
        # the eight neighbour households that had not answered get a call
        assert len(called) == 8
        assert {to for to, _ in called} < alarmed
        # ten households of B11-2, the building leader (B11-1-502) and the grid manager
        assert len(phones) == 12
        assert {GRID_MANAGER, BUILDING_LEADER} <= phones

        world.clock.advance(45)  # 91 s after the press: nobody has taken it
        await board.events_until(lambda ev: len(escalations(ev, "patrol")) == 1)
        world.clock.advance(90)
        seen = await board.events_until(lambda ev: len(escalations(ev, "patrol")) == 2)
        assert [e["data"]["cycle"] for e in escalations(seen, "patrol")] == [1, 2]
        police = [to for to, body, _ in await texts_to(world, alert_id) if to == POLICE]
        assert police == [POLICE, POLICE]

        assert (await world.staff(base, "patrol_member").take(alert_id)).status_code == 200
        world.clock.advance(500)
        await board.events_until(lambda ev: ev[-1]["type"] == "alert.acknowledged")
        assert await board.silent(0.5)
    assert await deadlines(world, alert_id) == [
        ("quorum", 1, "fired"),
        ("patrol", 1, "fired"),
        ("patrol", 2, "fired"),
        ("patrol", 3, "stood_down"),
    ]


async def test_enough_neighbours_coming_keeps_the_alarm_in_its_group(world: World) -> None:
    first, second = world.neighbours()[:2]
    async with (
        running(world.settings, clock=world.clock) as base,
        stream(base, world.token(OTHER_GROUP_SAME_BUILDING)) as wider,
    ):
        alert_id = await world.resident(base).raise_alarm()
        for who in (first, second):
            await world.resident(base, who).answer(alert_id, "coming")
        world.clock.advance(46)
        assert await wider.silent(0.5)
    assert (await deadlines(world, alert_id))[0] == ("quorum", 1, "met")


async def test_a_deadline_due_while_the_service_was_down_fires_once_after_the_restart(
    world: World,
) -> None:
    async with running(world.settings, clock=world.clock) as base:
        raised = (await world.resident(base).press()).json()
    world.clock.advance(100)  # both deadlines fall due while no process runs
    patrol = world.seed.staff["patrol_leader"]
    async with (
        running(world.settings, clock=world.clock) as base,
        stream(base, patrol, last_event_id=raised["event_id"]) as board,
    ):
        heard = await board.events_until(lambda ev: len(ev) >= 2)
        assert {e["data"]["level"] for e in heard} == {"neighbours", "patrol"}
        assert await board.silent(0.5)
    assert await deadlines(world, raised["alert"]["id"]) == [
        ("quorum", 1, "fired"),
        ("patrol", 1, "fired"),
        ("patrol", 2, None),
    ]


async def test_on_duty_patrol_members_are_texted_every_new_alarm_and_off_duty_ones_are_not(
    world: World,
) -> None:
    async with running(world.settings, clock=world.clock) as base:
        admin = world.staff(base, "admin")
        local = world.clock().astimezone(ZoneInfo("Asia/Shanghai"))
        day = WEEKDAYS[local.weekday()]
        on = await admin.add_shift("+8613900000002", days=day, starts="00:00", ends="23:59")
        assert on.status_code == 201, on.text
        off_today = WEEKDAYS[(local.weekday() + 1) % 7]
        other = await admin.add_shift(
            "+8613900000001", days=off_today, starts="00:00", ends="23:59"
        )
        assert other.status_code == 201
        on_duty = await admin.on_duty()
        assert [m["name"] for m in on_duty] == ["巡逻队员 陈军"]

        alert_id = await world.resident(base).raise_alarm()
        patrol_texts = [
            to for to, _, _ in await texts_to(world, alert_id) if to.startswith("+86139")
        ]
        assert patrol_texts == ["+8613900000002"]

        leave = await admin.add_override(
            "+8613900000002",
            starts_at=world.clock().isoformat(),
            ends_at=(world.clock() + timedelta(hours=2)).isoformat(),
            on_duty=False,
        )
        assert leave.status_code == 201, leave.text
        assert await admin.on_duty() == []
        later = await world.resident(base, OTHER_BUILDING).raise_alarm()
        assert not [to for to, _, _ in await texts_to(world, later) if to.startswith("+86139")]
