"""The watchdog: a worker whose step never returns is named wedged; one that turns is not."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY

from notifier.worker import Worker
from server.supervision.watchdog import Watchdog
from tests.harness import poll_until


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
