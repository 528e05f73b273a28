"""The watchdog: notices a background worker whose loop no longer turns.

Every `Worker` (the outbox, the escalation scheduler, the roll-call scheduler, SQLite's
checkpoint) stamps its heartbeat when a turn of its loop ends, and an idle one turns every
poll. One whose heartbeat is older than `polls` of its polls — and at least `floor_seconds`,
so that a long batch is not taken for a wedge — is wedged: a step that awaits forever, a
loop that died. The watchdog says which on /readyz, in the log (once when it starts, once when
it ends) and in the metrics.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from notifier.worker import Worker
from server.supervision import metrics

log = logging.getLogger(__name__)

POLLS = 3
"""A worker is wedged once it missed this many polls (and `floor_seconds` passed)."""


class Watchdog:
    """Looks at the workers' heartbeats (see the module); `wedged()` says who is wedged now."""

    def __init__(self, workers: Mapping[str, Worker], *, floor_seconds: float) -> None:
        self.workers = dict(workers)
        """The workers watched, by the name /readyz and the metrics give them."""
        self._floor = floor_seconds
        self._said: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def limit(self, worker: Worker) -> float:
        """How old a worker's heartbeat may be before it counts as wedged."""
        return max(POLLS * worker.poll_seconds, self._floor)

    def wedged(self) -> dict[str, str]:
        """The wedged workers, each with why ("no turn for 42 s", "stopped"), none without a
        watchdog (floor_seconds 0); the metrics are set as they stand now."""
        now = time.monotonic()
        found: dict[str, str] = {}
        for name, worker in self.workers.items():
            age = now - worker.beat
            metrics.HEARTBEAT_AGE.labels(worker=name).set(age)
            if self._floor <= 0:  # no watchdog
                continue
            if not worker.running:
                found[name] = f"{worker.name} stopped {age:.0f} s ago"
            elif age > self.limit(worker):
                found[name] = f"{worker.name} wedged: no turn for {age:.0f} s"
            metrics.WEDGED.labels(worker=name).set(1 if name in found else 0)
        return found

    def start(self) -> None:
        """Look every quarter of the shortest limit (at most every 5 s), and log changes."""
        if self.workers and self._floor > 0:
            self._task = asyncio.create_task(self._watch(), name="watchdog")

    async def stop(self) -> None:
        """Stop looking."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def look(self) -> None:
        """One look: a warning for each worker newly wedged, a note for each that recovered."""
        wedged = self.wedged()
        for name in wedged.keys() - self._said:
            log.warning("watchdog: %s", wedged[name])
        for name in self._said - wedged.keys():
            log.info("watchdog: %s turns again", self.workers[name].name)
        self._said = set(wedged)

    async def _watch(self) -> None:
        pause = min(5.0, max(0.05, min(self.limit(w) for w in self.workers.values()) / 4))
        while True:
            await asyncio.sleep(pause)
            self.look()
