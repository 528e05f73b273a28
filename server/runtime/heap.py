"""Short collector pauses with thousands of open sockets.

A full collection walks every tracked object, a pause that grows with the open sockets, and
Python starts one whenever the long-lived heap has grown by a quarter. Every second this worker
collects the young generations and moves their survivors (open sockets, caches) into the
permanent generation, which no automatic collection walks; so full collections stay small.
Cycles that become garbage after being frozen wait for the hourly full collection: what a
closed socket and the requests in flight at a freeze leave behind is held until then
(measured in bench/README.md).
"""

import gc
import time
from collections.abc import Callable

from notifier.worker import Worker


class Heap(Worker):
    """Freezes long-lived objects out of the collector's way; a full collection now and then."""

    name = "heap"

    def __init__(
        self,
        *,
        freeze_seconds: float,
        full_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(poll_seconds=freeze_seconds)
        self._full_seconds = full_seconds
        self._clock = clock
        self._last_full = clock()

    async def step(self) -> int:
        """Collect the young generations and freeze what survived; unfreeze and collect
        everything when a full collection is due. Returns 0: the next step waits a poll."""
        if self._clock() - self._last_full >= self._full_seconds:
            gc.unfreeze()
            gc.collect()
            self._last_full = self._clock()
        else:
            gc.collect(1)
        gc.freeze()
        return 0

    async def stop(self, *, grace_seconds: float = 5.0) -> None:
        """Stop, and hand every frozen object back to the collector."""
        await super().stop(grace_seconds=grace_seconds)
        gc.unfreeze()
