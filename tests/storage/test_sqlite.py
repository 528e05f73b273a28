"""SQLite through aiosqlite: a locked database is waited for without stopping the loop."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine
from storage.sqlite import checkpoint


@asynccontextmanager
async def locked_by_another_process(
    path: Path,
) -> AsyncIterator[tuple[AsyncEngine, sqlite3.Connection]]:
    """Our engine on a database whose write lock another connection holds (until it commits)."""
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table t (n integer)"))
        other.execute("BEGIN IMMEDIATE")
        yield engine, other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
        await engine.dispose()


async def insert(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("insert into t values (1)"))


async def test_a_write_waits_for_another_process_lock_while_the_loop_keeps_running(
    tmp_path: Path,
) -> None:
    async with locked_by_another_process(tmp_path / "busy.db") as (engine, other):
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        ticker = asyncio.create_task(tick())
        writer = asyncio.create_task(insert(engine))
        await asyncio.sleep(0.1)
        assert not writer.done(), "the write must wait for the lock"
        assert ticks >= 20, f"the loop stalled while waiting: {ticks} ticks in 100 ms"
        other.execute("COMMIT")
        await asyncio.wait_for(writer, 2)
        ticker.cancel()
        async with engine.connect() as conn:
            assert (await conn.execute(text("select count(*) from t"))).scalar() == 1


async def test_a_lock_held_past_the_wait_fails_with_the_sqlite_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("storage.db.BUSY_SECONDS", 0.05)
    async with locked_by_another_process(tmp_path / "stuck.db") as (engine, _):
        with pytest.raises(Exception, match="database is locked"):
            await insert(engine)


async def write_pages(engine: AsyncEngine, pages: int) -> None:
    """One commit per page-sized row: each commit appends at least a page to the log."""
    async with engine.begin() as conn:
        await conn.execute(text("create table if not exists pages (b blob)"))
    for _ in range(pages):
        async with engine.begin() as conn:
            await conn.execute(text("insert into pages values (zeroblob(4000))"))


@pytest.mark.parametrize("autocheckpoint", [True, False])
async def test_without_autocheckpoint_commits_leave_the_log_to_checkpoint(
    tmp_path: Path, autocheckpoint: bool
) -> None:
    path = tmp_path / "wal.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", autocheckpoint=autocheckpoint)
    try:
        await write_pages(engine, 1200)
        busy, logged, copied = checkpoint(str(path), "RESTART")
        assert busy == 0
        assert copied == logged, "nothing else was writing: the whole log is copied"
        if autocheckpoint:
            assert logged < 1200, "SQLite checkpointed on a commit past 1000 pages"
        else:
            assert logged > 1200, "no commit checkpointed: every frame waited for us"
    finally:
        await engine.dispose()
