"""SQLite's log is checkpointed by the service's own worker, off the event loop, and stays small."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from server.runtime.checkpoint import Checkpointer
from server.settings import Settings
from server.web.app import create_app
from storage.db import create_engine

PAGE = 4096


async def write_pages(sqlite_url: str, *, restart_frames: int) -> int:
    """3000 one-page commits through the service's engine; the log's size afterwards, in pages."""
    settings = Settings(
        database_url=sqlite_url,
        sqlite_checkpoint_seconds=0.01,
        sqlite_restart_frames=restart_frames,
    )
    app = create_app(settings)
    wal = Path(str(make_url(sqlite_url).database) + "-wal")
    async with app.router.lifespan_context(app) as state:
        assert state is not None
        engine = state["engine"]
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0
            await conn.execute(text("create table pages (b blob)"))
            await conn.commit()
        for _burst in range(30):  # our commits never wait, so the worker runs between bursts
            for _ in range(100):
                async with engine.begin() as conn:
                    await conn.execute(text("insert into pages values (zeroblob(4000))"))
            await asyncio.sleep(0.05)
        assert state["checkpointer"] is not None
        assert state["checkpointer"].error is None
        return (await asyncio.to_thread(wal.stat)).st_size // PAGE


async def test_the_service_checkpoints_so_the_log_stops_growing(sqlite_url: str) -> None:
    pages = await write_pages(sqlite_url, restart_frames=500)
    assert pages < 1000, "without the worker (SQLite's own checkpoint off) it grows past 3000"


async def test_requests_are_paused_only_once_the_log_holds_restart_frames(
    sqlite_url: str,
) -> None:
    engine = create_engine(sqlite_url, autocheckpoint=False)
    path = str(make_url(sqlite_url).database)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table pages (b blob)"))
        for _ in range(300):
            async with engine.begin() as conn:
                await conn.execute(text("insert into pages values (zeroblob(4000))"))
        async with engine.connect():  # a request of ours, holding the one connection
            small = Checkpointer(engine, path, poll_seconds=1, restart_frames=1000)
            await asyncio.wait_for(small.step(), 5)  # copied beside the request
            big = Checkpointer(engine, path, poll_seconds=1, restart_frames=100)
            with pytest.raises(TimeoutError):  # waits for the request to finish
                await asyncio.wait_for(big.step(), 0.5)
    finally:
        await engine.dispose()
