"""The watchdog: a worker whose step never returns is named wedged, one that turns is not, and
/readyz names the service's own worker that hangs."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from fastapi import APIRouter, Request
from prometheus_client import REGISTRY

from notifier.worker import Worker
from server.settings import Settings
from server.supervision.watchdog import Watchdog
from tests.harness import Seed, poll_until, running
from tests.server.supervision_support import readiness, until


class Stuck(Worker):
    """A worker whose step awaits forever (a lock never released, a hung call)."""

    name = "stuck worker"

    def __init__(self) -> None:
        super().__init__(poll_seconds=0.05)
        self.release = asyncio.Event()

    async def step(self) -> int:
        await self.release.wait()
        return 0


class Turning(Worker):
    """A worker with nothing to do, looking every poll."""

    name = "idle worker"

    async def step(self) -> int:
        return 0


async def test_a_worker_whose_step_hangs_is_named_wedged_and_one_that_turns_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stuck, idle = Stuck(), Turning(poll_seconds=0.05)
    watchdog = Watchdog({"stuck": stuck, "idle": idle}, floor_seconds=0.3)
    stuck.start()
    idle.start()
    try:
        assert watchdog.wedged() == {}, "a worker just started is not wedged"

        async def seen() -> bool:
            watchdog.look()
            return "stuck" in watchdog.wedged()

        with caplog.at_level(logging.WARNING, logger="server.supervision.watchdog"):
            await poll_until(seen, timeout=5)
        wedged = watchdog.wedged()
        assert list(wedged) == ["stuck"], wedged
        assert wedged["stuck"].startswith("stuck worker wedged: no turn for")
        assert [r.getMessage() for r in caplog.records].count(f"watchdog: {wedged['stuck']}") == 1
        assert REGISTRY.get_sample_value("tenwatch_worker_wedged", {"worker": "stuck"}) == 1.0
        assert REGISTRY.get_sample_value("tenwatch_worker_wedged", {"worker": "idle"}) == 0.0
        age = REGISTRY.get_sample_value(
            "tenwatch_worker_heartbeat_age_seconds", {"worker": "stuck"}
        )
        assert age is not None
        assert age > 0.3

        stuck.release.set()  # its step returns: it turns again

        async def recovered() -> bool:
            return watchdog.wedged() == {}

        await poll_until(recovered, timeout=5)
    finally:
        stuck.release.set()
        await stuck.stop()
        await idle.stop()
    assert set(watchdog.wedged()) == {"stuck", "idle"}, "a stopped worker is named too"


hangs = APIRouter()


@hangs.post("/test/scheduler/hang")
async def hang_scheduler(request: Request) -> dict[str, str]:
    """From its next turn on, the escalation scheduler's step awaits forever."""

    async def forever() -> int:
        await asyncio.Event().wait()
        return 0

    request.state.scheduler.step = forever
    return {"scheduler": "hangs"}


async def test_readyz_names_the_scheduler_whose_step_hangs(sqlite_url: str, seeded: Seed) -> None:
    settings = Settings(database_url=sqlite_url, scheduler_poll_seconds=0.05, watchdog_seconds=0.3)
    staff = seeded.staff["admin"]
    async with running(settings, router=hangs) as base:
        assert (await readiness(base, staff))["wedged"] == []
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.post("/test/scheduler/hang")).status_code == 200
        body = await until(base, staff, lambda b: b["wedged"] == ["scheduler"])
    assert body["status"] == "degraded"
    assert body["scheduler"].startswith("degraded: escalation scheduler wedged: no turn for")
    assert body["outbox"] == "ok"
