"""Many app processes share one Redis: a press accepted by one reaches sockets held by another."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from tests.actors import Person, resident
from tests.e2e.processes import service
from tests.harness import seed, stream


async def test_a_press_on_one_process_reaches_neighbours_and_board_held_by_another(
    db_url: str, redis_url: str
) -> None:
    seeded = await seed(db_url)
    group = seeded.group_of("B12-2-101")
    raiser, neighbours = group[0], group[1:]
    with (
        service(database_url=db_url, redis_url=redis_url) as first,
        service(database_url=db_url, redis_url=redis_url) as second,
    ):
        async with AsyncExitStack() as stack:
            socks = [
                await stack.enter_async_context(
                    stream(second if i % 2 else first, seeded.households[a])
                )
                for i, a in enumerate(neighbours)
            ]
            board = await stack.enter_async_context(stream(second, seeded.staff["patrol_leader"]))
            raised = (await resident(first, seeded, raiser).press("dispute")).json()
            events = await asyncio.gather(*(s.next_event() for s in [*socks, board]))
            assert {e["id"] for e in events} == {raised["event_id"]}
            assert all(e["data"]["household"] == raiser for e in events)


async def test_with_two_processes_each_escalation_deadline_fires_exactly_once(
    db_url: str, redis_url: str
) -> None:
    seeded = await seed(db_url)
    fast = {"database_url": db_url, "redis_url": redis_url, "scheduler_poll_seconds": "0.05"}
    with service(**fast) as first, service(**fast) as second:
        admin = Person(first, seeded.staff["admin"])
        policy = {"quorum_seconds": 1, "patrol_seconds": 1, "repeat_seconds": 1, "max_cycles": 3}
        assert (await admin.set_policy(**policy)).status_code == 200
        patrol = Person(second, seeded.staff["patrol_leader"])
        async with stream(second, patrol.token) as board:
            alarm = await resident(first, seeded, "B12-1-301").raise_alarm()
            heard = await board.events_until(
                lambda ev: sum(e["type"] == "alert.escalated" for e in ev) >= 4, timeout=15
            )
            assert await board.silent(1.5)
        steps = [
            (e["data"]["level"], e["data"].get("cycle"))
            for e in heard
            if e["type"] == "alert.escalated"
        ]
        assert sorted(steps, key=str) == [
            ("neighbours", None),
            ("patrol", 1),
            ("patrol", 2),
            ("patrol", 3),
        ]
        timeline = await patrol.timeline(alarm)
        assert sum(e["type"] == "alert.escalated" for e in timeline) == 4
