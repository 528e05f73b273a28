"""SQLite on the event loop's own thread: an aiosqlite connection that runs each call inline.

aiosqlite hands every call to a worker thread and back: ~200 µs of hops for a statement SQLite
runs in ~10 µs. A process has one SQLite connection (see `storage.db`), so nothing is gained by
the thread; what it protected against is waiting for another process's write lock, so here a
busy database is waited for with `asyncio.sleep` instead of SQLite's sleeping busy handler.
"""

import asyncio
import sqlite3
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Any, Literal

import aiosqlite

SQLITE_BUSY = 5
SQLITE_BUSY_RECOVERY = 261
BUSY_RETRY_SECONDS = 0.002
CHECKPOINT_WAIT_SECONDS = 0.2


class _Inline:
    """Stands in for aiosqlite's queue to its thread: runs a queued call at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:
            if future is not None:
                future.set_exception(error)
        else:
            if future is not None:
                future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection without a thread; a busy database is retried, not slept on."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], *, busy_seconds: float):
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _Inline()  # type: ignore[assignment]
        self._busy_seconds = busy_seconds

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        deadline = None  # set when the database is first found busy
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode not in (SQLITE_BUSY, SQLITE_BUSY_RECOVERY):
                    raise
                now = asyncio.get_running_loop().time()
                if deadline is None:
                    deadline = now + self._busy_seconds
                elif now > deadline:
                    raise
            await asyncio.sleep(BUSY_RETRY_SECONDS)

    async def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """Run one statement here and now and fetch its rows (past aiosqlite's cursor)."""
        return await self._execute(self._fetch, sql, parameters)  # type: ignore[no-any-return]

    async def execute_many(self, sql: str, parameters: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter set, here and now."""
        await self._execute(self._run_many, sql, parameters)

    def _fetch(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        return self._conn.execute(sql, parameters).fetchall()

    def _run_many(self, sql: str, parameters: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, parameters).close()

    def __await__(self) -> Generator[Any, None, "InlineConnection"]:
        return self._connect().__await__()

    async def _connect(self) -> "InlineConnection":
        if self._connection is None:
            self._connection = self._connector()
        return self

    def stop(self) -> None:
        """Close the sqlite3 connection (there is no thread to stop)."""
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def checkpoint(path: str, mode: Literal["PASSIVE", "RESTART"]) -> tuple[int, int, int]:
    """Copy the write-ahead log into the database on a connection of its own, so any thread may
    run it: PASSIVE copies what it can without waiting for anyone; RESTART copies the rest and
    lets the next write start the log afresh, once nobody is reading or writing (it waits up to
    `CHECKPOINT_WAIT_SECONDS` for another process's write). Returns (busy, frames in the log,
    frames copied)."""
    connection = sqlite3.connect(path, timeout=CHECKPOINT_WAIT_SECONDS)
    try:
        row = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        return int(row[0]), int(row[1]), int(row[2])
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode not in (SQLITE_BUSY, SQLITE_BUSY_RECOVERY):
            raise
        return 1, -1, -1  # another connection is checkpointing
    finally:
        connection.close()


def connector(path: str, *, busy_seconds: float) -> Callable[[], Any]:
    """An `async_creator` for SQLAlchemy: opens `path` as an `InlineConnection`."""

    async def connect() -> InlineConnection:
        def open_database() -> sqlite3.Connection:
            # busy_timeout 0: a locked database raises at once and _execute waits its turn
            # on the event loop.
            return sqlite3.connect(path, timeout=0, check_same_thread=False)

        return await InlineConnection(open_database, busy_seconds=busy_seconds)

    return connect
