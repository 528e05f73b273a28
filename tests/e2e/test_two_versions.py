"""A rolling upgrade in miniature: two real processes on one Redis, one writing the bus format
of the release before (TENWATCH_BUS_FORMAT=1) and one the new (2), as they run side by side
while an upgrade rolls. Every event reaches the sockets of both once, in order, through the bus
— not through the store's fill, which the check period set here would make far too slow to
pass and which each process counts — and a revocation crosses between them too."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from notifier.bus.base import SEPARATOR
from tests.actors import resident
from tests.e2e.processes import service
from tests.e2e.test_revocation import _drain, _two_sessions
from tests.harness import Socket, bearer, seed, stream

Events = list[dict[str, Any]]


@asynccontextmanager
async def overheard(redis_url: str, channel: str) -> AsyncIterator[list[str]]:
    """Every message on a bus channel as Redis carries it, read by a bystander."""
    client = Redis.from_url(redis_url)
    async with aclosing(client.pubsub()) as pubsub:
        await pubsub.subscribe(channel)
        heard: list[str] = []

        async def listen() -> None:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    heard.extend(message["data"].decode().split(SEPARATOR))

        task = asyncio.create_task(listen())
        try:
            yield heard
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    await client.aclose()


def has(kind: str, count: int = 1) -> Callable[[Events], bool]:
    return lambda events: sum(e["type"] == kind for e in events) >= count


async def stream_state(base: str, token: str) -> dict[str, Any]:
    """What a process says of its stream: the format it writes, its fills from the store."""
    async with httpx.AsyncClient(base_url=base, headers=bearer(token)) as client:
        state: dict[str, Any] = (await client.get("/readyz")).json()["stream"]
        return state


def ids(events: Events, upto: int | None = None) -> list[int]:
    return [e["id"] for e in events if upto is None or e["id"] <= upto]


async def test_two_processes_writing_two_bus_formats_give_every_socket_each_event_in_order(
    db_url: str, redis_url: str
) -> None:
    seeded = await seed(db_url)
    raiser, near, far, other = seeded.group_of("B12-2-101")[:4]
    patrol, admin = seeded.staff["patrol_leader"], seeded.staff["admin"]
    env = {"database_url": db_url, "redis_url": redis_url, "stream_check_seconds": "3600"}
    channel = f"community:{seeded.community_id}"
    with service(**env, bus_format="1") as old, service(**env, bus_format="2") as new:
        async with AsyncExitStack() as stack:
            raw = await stack.enter_async_context(overheard(redis_url, channel))
            group: list[Socket] = [
                await stack.enter_async_context(stream(base, seeded.households[who]))
                for base, who in ((old, near), (new, far))
            ]
            boards: list[Socket] = [
                await stack.enter_async_context(stream(base, patrol)) for base in (old, new)
            ]

            async def heard(done: Callable[[Events], bool]) -> None:
                await asyncio.gather(*(s.events_until(done, timeout=10) for s in group + boards))

            alarm = await resident(old, seeded, raiser).raise_alarm()
            await heard(has("alert.raised"))
            assert (await resident(new, seeded, near).answer(alarm, "coming")).is_success
            await heard(has("alert.response"))
            assert (await resident(old, seeded, far).answer(alarm, "coming")).is_success
            await heard(has("alert.response", 2))
            second = (await resident(new, seeded, other).press("fire")).json()
            await heard(has("alert.raised", 2))

            on_old, on_new = (s.events for s in group)
            assert ids(on_old) == ids(on_new), "both sockets heard the same events"
            assert ids(on_old) == sorted(set(ids(on_old))), "in id order, each once"
            assert [e["type"] for e in on_old][:4] == [
                "alert.raised",
                "alert.response",
                "alert.response",
                "alert.raised",
            ]
            assert on_old[3]["alert_id"] == second["alert"]["id"]
            last = on_old[3]["id"]
            board_old, board_new = (ids(s.events, last) for s in boards)
            assert board_old == board_new == sorted(set(board_old))
            assert set(ids(on_old)) <= set(board_old)

        formats = {m.split(" ", 1)[0] if m.startswith("v") else "1" for m in raw}
        assert formats == {"1", "v2"}, "the bus carried both formats side by side"
        for base, written in ((old, 1), (new, 2)):
            state = await stream_state(base, admin)
            assert state == {"bus_format": written, "fills": 0, "unreadable": 0}, base


@pytest.mark.parametrize("revoker", ["old", "new"])
async def test_a_session_revoked_on_either_format_closes_its_socket_on_the_other(
    db_url: str, redis_url: str, revoker: str
) -> None:
    seeded = await seed(db_url)
    (phone, _), (lost, lost_id) = await _two_sessions(db_url, seeded.community_id)
    env = {"database_url": db_url, "redis_url": redis_url, "principal_cache_seconds": "600"}
    with service(**env, bus_format="1") as old, service(**env, bus_format="2") as new:
        revoking, holding = (old, new) if revoker == "old" else (new, old)
        async with connect(
            holding.replace("http", "ws", 1) + "/ws", additional_headers=bearer(lost)
        ) as socket:
            assert json.loads(await socket.recv())["type"] == "hello"
            async with httpx.AsyncClient(base_url=revoking, headers=bearer(phone)) as client:
                assert (await client.delete(f"/api/sessions/{lost_id}")).status_code == 204
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(_drain(socket), 2.0)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.reason == "signed out: this session was revoked"
