"""SQLite's write-ahead log copied into the database off the event loop.

SQLite checkpoints on the commit that fills the log past 1000 pages: it copies the log into the
database and syncs both, ≈ 3.5 ms on this disk (far more on a slow one), and our SQLite runs on
the event loop's thread (`groups.sqlite`), so every socket waited for it. With the serving
connection's automatic checkpoint off, this worker checkpoints from a thread every second,
without waiting for readers or writers (PASSIVE).
"""

import asyncio
import logging

from groups import sqlite
from notifier.worker import Worker

log = logging.getLogger(__name__)


class Checkpointer(Worker):
    """Checkpoints one SQLite database file from a thread, every poll."""

    name = "sqlite checkpoint"

    def __init__(self, path: str, *, poll_seconds: float) -> None:
        super().__init__(poll_seconds=poll_seconds)
        self._path = path

    async def step(self) -> int:
        """One checkpoint; returns 0 (the next waits a poll). A busy database is left to the
        next poll."""
        busy, logged, copied = await asyncio.to_thread(sqlite.checkpoint, self._path)
        if busy:
            log.debug("checkpoint of %s busy: %d of %d frames copied", self._path, copied, logged)
        return 0
