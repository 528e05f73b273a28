"""Many app processes share one Redis: a press accepted by one reaches sockets held by another."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from tests.e2e.processes import service
from tests.harness import press, seed, stream


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
            raised = (await press(first, seeded.households[raiser], "dispute")).json()
            events = await asyncio.gather(*(s.next_event() for s in [*socks, board]))
            assert {e["id"] for e in events} == {raised["event_id"]}
            assert all(e["data"]["household"] == raiser for e in events)
