"""Batches: work of one key that arrives while that key's batch runs becomes the next batch.

At low load a batch is the one item that came, run at once: nothing waits for a timer. Under
load, everything that queued behind a batch runs as one, so a storm costs a few batches, not a
queue of single items each paying the same fixed costs (a lock, a transaction, a flush to disk).
"""

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")

Run = Callable[[K, Sequence[T]], Awaitable[Sequence[R | Exception]]]
"""Runs one batch of a key; returns one result or exception per item, in order."""


class Batches(Generic[K, T, R]):
    """Runs batches of items per key, one batch of a key at a time (keys run side by side)."""

    def __init__(self, run: Run[K, T, R], *, max_size: int = 500) -> None:
        self._run = run
        self._max_size = max_size
        self._queued: dict[K, list[tuple[T, asyncio.Future[R]]]] = {}
        self._running: dict[K, asyncio.Task[None]] = {}

    async def submit(self, key: K, item: T) -> R:
        """Queue an item for its key's next batch and return its result once that batch ran.

        The batch runs to its end even if the caller stops waiting: a press whose client went
        away is still stored."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queued.setdefault(key, []).append((item, future))
        if key not in self._running:
            # A context of its own: the batch serves other requests too, and must not write
            # their lines with the first one's request id (server/web/access.py).
            self._running[key] = asyncio.create_task(
                self._drain(key), name=f"batches {key}", context=contextvars.Context()
            )
        return await future

    async def _drain(self, key: K) -> None:
        try:
            while queued := self._queued.get(key):
                batch, self._queued[key] = queued[: self._max_size], queued[self._max_size :]
                try:
                    results: Sequence[R | Exception] = await self._run(key, [i for i, _ in batch])
                except Exception as exc:  # the batch as a whole failed: each item says so
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue  # its caller stopped waiting
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            del self._running[key]
            for _, future in self._queued.pop(key, []):  # left only if this task was cancelled
                if not future.done():
                    future.set_exception(RuntimeError("the service stopped before this ran"))

    async def stop(self) -> None:
        """Let the batches that run and are queued finish (nothing accepted is dropped)."""
        while self._running:
            tasks = list(self._running.values())
            with contextlib.suppress(Exception):
                await asyncio.gather(*tasks)
