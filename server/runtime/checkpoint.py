"""SQLite's write-ahead log copied into the database beside the requests, not inside one.

SQLite checkpoints on the commit that fills the log past 1000 pages: it copies the log into the
database and syncs both, and the process's one SQLite connection (`storage.db`) is busy until
it is done, so every request waited for it. With the serving connection's automatic
checkpoint off, this worker checkpoints on a connection of its own from a thread every second.

The log only starts afresh when a write begins with all of it copied and nobody reading it, which
under steady presses seldom happens if the copy runs beside them (the log grew without end). So
each step copies without waiting (PASSIVE), and once the log holds `restart_frames` it then
holds this process's one SQLite connection, so that no request of ours is reading or writing,
while a second copy finishes the rest (RESTART). Requests wait for that, mostly the sync of the
database file; holding it every second put such a pause in every second of presses, so a log
is allowed to grow to `restart_frames` first. bench/README.md has the measured figures.
"""

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.worker import Worker
from storage import sqlite

log = logging.getLogger(__name__)


class Checkpointer(Worker):
    """Checkpoints one SQLite database file from a thread, every poll."""

    name = "sqlite checkpoint"

    def __init__(
        self, engine: AsyncEngine, path: str, *, poll_seconds: float, restart_frames: int
    ) -> None:
        super().__init__(poll_seconds=poll_seconds)
        self._engine = engine
        self._path = path
        self._restart_frames = restart_frames
        self.frames = (0, 0)
        """The log's frames and how many of them were copied, at the last checkpoint (a
        metric: what is not copied yet is the checkpoint's lag)."""

    async def step(self) -> int:
        """One checkpoint; returns 0 (the next waits a poll). A log another process keeps busy
        is left to the next poll."""
        _, logged, copied = await asyncio.to_thread(sqlite.checkpoint, self._path, "PASSIVE")
        if logged >= 0:  # else another connection was checkpointing
            self.frames = (logged, copied)
        if logged < self._restart_frames:
            return 0
        async with self._engine.connect():  # no request of ours reads or writes meanwhile
            busy, logged, copied = await asyncio.to_thread(sqlite.checkpoint, self._path, "RESTART")
        if logged >= 0:
            self.frames = (logged, copied)
        if busy:
            log.debug("checkpoint of %s busy: %d of %d frames copied", self._path, copied, logged)
        return 0
