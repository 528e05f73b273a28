"""Two real processes on one Redis and one database each supervise their own path: both pass,
both fail the "heard" leg while Redis is away (each still stores and texts), and both clear
once it is back."""

from __future__ import annotations

from contextlib import ExitStack

from tests.e2e.processes import service
from tests.harness import Seed, seed
from tests.server.supervision_support import failing, healthy, until
from tests.services import redis_server


async def test_each_process_supervises_its_own_path_through_a_redis_outage(db_url: str) -> None:
    seeded: Seed = await seed(db_url)
    staff = seeded.staff["admin"]
    with ExitStack() as stack:
        redis_url, redis = stack.enter_context(redis_server())
        port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
        settings = {
            "database_url": db_url,
            "redis_url": redis_url,
            "outbox_poll_seconds": "0.05",
            "supervision_seconds": "0.3",
            "supervision_deadline_seconds": "2",
        }
        bases = [stack.enter_context(service(**settings)) for _ in range(2)]
        for base in bases:
            body = await until(base, staff, healthy)
            assert body["status"] == "ok"
        redis.terminate()
        redis.wait(5)
        for base in bases:
            body = await until(base, staff, failing("heard"))
            legs = body["supervision"]["legs"]
            assert legs["stored"]["ok"], "the database still takes the probe"
            assert legs["sent"]["ok"], "and the outbox still sends it"
            assert body["status"] == "degraded"
        stack.enter_context(redis_server(port))
        for base in bases:
            await until(base, staff, healthy)
