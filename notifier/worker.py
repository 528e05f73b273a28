"""A background loop that works until there is nothing left, then sleeps until woken or polled."""

import abc
import asyncio
import contextlib
import logging
import time

log = logging.getLogger(__name__)


class Worker(abc.ABC):
    """One task per process; `wake()` makes it look at once, else it looks every poll."""

    name = "worker"

    def __init__(self, *, poll_seconds: float) -> None:
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.error: str | None = None
        self.beat = time.monotonic()
        """When (monotonic) its last turn ended: the watchdog's heartbeat (server.supervision)."""

    @property
    def poll_seconds(self) -> float:
        """How long it sleeps between looks when not woken."""
        return self._poll

    @property
    def running(self) -> bool:
        """Whether its task is started and has not ended."""
        return self._task is not None and not self._task.done()

    @abc.abstractmethod
    async def step(self) -> int:
        """Do one batch of work; returns how much was done (0 when there was none)."""

    def wake(self) -> None:
        """Look for work now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        """Run in the background."""
        self.beat = time.monotonic()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, *, grace_seconds: float = 5.0) -> None:
        """Stop after the batch in hand (cancelled if it takes longer than the grace period);
        work already stored stays stored for the next start."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stopping:
            try:
                while not self._stopping and await self._turn():
                    pass
                self.error = None
            except Exception as exc:
                self.error = f"{self.name}: {exc}"
                log.exception("%s failed; it will try again", self.name)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()
            self._wake.clear()

    async def _turn(self) -> int:
        try:
            return await self.step()
        finally:
            self.beat = time.monotonic()
