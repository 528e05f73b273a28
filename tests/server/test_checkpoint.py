"""SQLite's log is checkpointed by the service's own worker, off the event loop, and stays small."""

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from server.app import create_app
from server.settings import Settings

PAGE = 4096


async def test_the_service_checkpoints_so_the_log_stops_growing(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, sqlite_checkpoint_seconds=0.01)
    app = create_app(settings)
    wal = Path(str(make_url(sqlite_url).database) + "-wal")
    async with app.router.lifespan_context(app) as state:
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
        size = (await asyncio.to_thread(wal.stat)).st_size
        assert size < 1000 * PAGE, "3000 pages written, yet the log restarted"
