"""SQLite on the event loop's thread: a locked database is waited for without stopping the loop."""

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from groups.db import create_engine


async def test_a_write_waits_for_another_process_lock_while_the_loop_keeps_running(
    tmp_path: Path,
) -> None:
    path = tmp_path / "busy.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table t (n integer)"))
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        ticker = asyncio.create_task(tick())

        async def write() -> None:
            async with engine.begin() as conn:
                await conn.execute(text("insert into t values (1)"))

        writer = asyncio.create_task(write())
        await asyncio.sleep(0.1)
        assert not writer.done(), "the write must wait for the lock"
        waited = ticks
        assert waited >= 20, f"the loop stalled while waiting: {waited} ticks in 100 ms"
        other.execute("COMMIT")
        await asyncio.wait_for(writer, 2)
        ticker.cancel()
        async with engine.connect() as conn:
            assert (await conn.execute(text("select count(*) from t"))).scalar() == 1
    finally:
        other.close()
        await engine.dispose()


async def test_a_lock_held_past_the_wait_fails_with_the_sqlite_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("groups.db.BUSY_SECONDS", 0.05)
    path = tmp_path / "stuck.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table t (n integer)"))
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(Exception, match="database is locked"):
            async with engine.begin() as conn:
                await conn.execute(text("insert into t values (1)"))
        other.execute("ROLLBACK")
    finally:
        other.close()
        await engine.dispose()
