"""Redis stops and comes back while two processes take presses: no socket on either misses an
event, whether it stays connected or resumes with the highest id it saw."""

from __future__ import annotations

import asyncio
import json
from contextlib import ExitStack
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.alarms import events
from storage.db import create_engine, create_sessionmaker
from tests.e2e.processes import service
from tests.harness import Seed, bearer, poll_until, seed
from tests.services import redis_server

ROUNDS = 10  # presses before, during and after the outage


class Follower:
    """A client of the stream that reconnects with the highest id it saw, as clients do."""

    def __init__(self, base: str, token: str) -> None:
        self.url = base.replace("http", "ws", 1) + "/ws"
        self.token = token
        self.channel = ""
        self.start: int | None = None  # the position of its first hello
        self.ids: list[int] = []
        self.resumes = 0

    async def follow(self) -> None:
        """Hear events until cancelled; after a close, resume where it was."""
        position: int | None = None
        while True:
            url = self.url if position is None else f"{self.url}?last_event_id={position}"
            try:
                async with connect(
                    url, open_timeout=10, additional_headers=bearer(self.token)
                ) as ws:
                    hello = json.loads(await ws.recv())
                    self.channel = hello["channel"]
                    if self.start is None:
                        self.start = position = hello["last_event_id"]
                    async for raw in ws:
                        message: dict[str, Any] = json.loads(raw)
                        if "id" in message:
                            self.ids.append(message["id"])
                            position = max(position or 0, message["id"])
            except (ConnectionClosed, OSError):
                self.resumes += 1
                await asyncio.sleep(0.1)


async def _stored(url: str, channel: str, after: int) -> list[int]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            found = await events.after(session, channel=channel, event_id=after, limit=10**6)
            return [event_id for event_id, _ in found]
    finally:
        await engine.dispose()


async def _ready(base: str) -> bool:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        return bool((await client.get("/readyz")).json()["status"] == "ok")


async def _presses(bases: list[str], tokens: list[str], rounds: range) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for n in rounds:
            answers = await asyncio.gather(
                *(
                    client.post(
                        f"{bases[(n + i) % len(bases)]}/api/alerts",
                        json={"type": "help"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    for i, token in enumerate(tokens[n % 8 :: 8])
                )
            )
            assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]


async def test_with_redis_stopped_and_restarted_mid_storm_no_socket_misses_an_event(
    db_url: str,
) -> None:
    seeded: Seed = await seed(db_url)
    tokens = list(seeded.households.values())
    with ExitStack() as stack:
        redis_url, redis = stack.enter_context(redis_server())
        port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
        settings = {"database_url": db_url, "redis_url": redis_url}
        first = stack.enter_context(service(**settings))
        second = stack.enter_context(service(**settings))
        listeners = ["B11-1-101", "B11-2-102", "B12-1-201", "B12-2-202"]
        followers = [
            Follower(base, token)
            for base in (first, second)
            for token in [seeded.staff["patrol_leader"], *(seeded.households[a] for a in listeners)]
        ]
        tasks = [asyncio.create_task(f.follow()) for f in followers]
        try:
            await poll_until(lambda: _all_started(followers), timeout=20)
            await _presses([first, second], tokens, range(ROUNDS))
            redis.terminate()
            redis.wait(5)
            # Only the first process takes presses: the second's sockets hear of them
            # from the store.
            await _presses([first], tokens, range(ROUNDS, 2 * ROUNDS))
            stack.enter_context(redis_server(port))
            await poll_until(lambda: _both_ready(first, second), timeout=20)
            await _presses([first, second], tokens, range(2 * ROUNDS, 3 * ROUNDS))

            owed: dict[int, list[int]] = {}
            for n, follower in enumerate(followers):
                assert follower.start is not None
                owed[n] = await _stored(db_url, follower.channel, follower.start)
                assert owed[n], f"{follower.channel} was owed events"

            async def everyone_heard_all() -> bool:
                return all(f.ids[-1:] == owed[n][-1:] for n, f in enumerate(followers))

            await poll_until(everyone_heard_all, timeout=20)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    for n, follower in enumerate(followers):
        assert follower.ids == owed[n], f"{follower.channel} (resumed {follower.resumes} times)"


async def _all_started(followers: list[Follower]) -> bool:
    return all(f.start is not None for f in followers)


async def _both_ready(first: str, second: str) -> bool:
    return await _ready(first) and await _ready(second)
