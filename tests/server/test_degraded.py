"""Redis going away degrades the service; it never stops it delivering to its own sockets."""

from __future__ import annotations

import httpx

from server.settings import Settings
from tests.harness import Seed, poll_until, press, running, stream
from tests.services import redis_server


async def readiness(base: str, staff: str) -> dict[str, object]:
    """/readyz as staff see it, each part's state told."""
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.get("/readyz", headers={"Authorization": f"Bearer {staff}"})
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def test_with_redis_stopped_neighbours_still_hear_the_press_and_readyz_says_degraded(
    seeded: Seed, sqlite_url: str
) -> None:
    group = seeded.group_of("B11-2-101")
    raiser, listener = group[0], group[1]
    with redis_server() as (redis_url, redis_proc):
        port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
        settings = Settings(database_url=sqlite_url, redis_url=redis_url)
        async with running(settings) as base, stream(base, seeded.households[listener]) as sock:
            ready = await readiness(base, seeded.staff["admin"])
            assert ready["status"] == "ok"
            assert ready["checkpoint"] == "ok", "on SQLite the service checkpoints its own log"
            before = (await press(base, seeded.households[raiser])).json()
            assert (await sock.next_event())["id"] == before["event_id"]

            redis_proc.terminate()
            redis_proc.wait(5)
            during = await press(base, seeded.households[raiser], "fire")
            assert during.json()["outcome"] == "merged"
            assert (await sock.next_event())["id"] == during.json()["event_id"]
            ready = await readiness(base, seeded.staff["admin"])
            assert ready["status"] == "degraded"
            assert "redis" in str(ready["bus"])

            with redis_server(port) as _again:

                async def ready_again() -> bool:
                    return (await readiness(base, seeded.staff["admin"]))["status"] == "ok"

                await poll_until(ready_again)
                after = (await press(base, seeded.households[raiser], "other")).json()
                assert (await sock.next_event())["id"] == after["event_id"]
                assert await sock.silent()
