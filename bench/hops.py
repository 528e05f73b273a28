"""`python -m bench.hops`: what aiosqlite's thread costs a unit of work on SQLite.

aiosqlite runs every call on a thread of its own, and SQLAlchemy's adapter makes several calls a
statement (cursor, execute, fetch, close), each a hand-over to that thread and back through the
event loop. This runs the same unit of work (a transaction of N keyed selects and an insert on a
migrated database file) three ways, through public APIs only, and prints the CPU of each:

- async: `storage.db.create_engine` (aiosqlite), as the service runs it;
- sync, inline: SQLAlchemy's pysqlite engine called on the loop's own thread (no hand-over at
  all: what SQLAlchemy and SQLite cost alone; it blocks the loop, so only for measuring);
- sync, one hop: the same sync unit of work handed to a thread once (`asyncio.to_thread`), the
  shape in which the hand-over is paid once per unit of work.

    .venv/bin/python -m bench.hops             # ≈ 20 s
"""

import argparse
import asyncio
import itertools
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import Engine, bindparam, event, insert, select
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.orm import Session

from groups.models import Community
from server.migrate import upgrade
from storage.db import AsyncSession, create_engine, create_sessionmaker, table_of

_COMMUNITIES = table_of(Community)
_READ = select(_COMMUNITIES.c.id, _COMMUNITIES.c.name).where(_COMMUNITIES.c.id == bindparam("i"))
_INSERT = insert(_COMMUNITIES).returning(_COMMUNITIES.c.id)
_names = (f"社区{n}" for n in itertools.count())


async def _async_unit(session: AsyncSession, reads: int) -> None:
    connection = await session.connection()
    for i in range(reads):
        (await connection.execute(_READ, {"i": i})).all()
    await connection.execute(_INSERT, {"name": next(_names)})
    await session.commit()


def _sync_unit(session: Session, reads: int) -> None:
    connection = session.connection()
    for i in range(reads):
        connection.execute(_READ, {"i": i}).all()
    connection.execute(_INSERT, {"name": next(_names)})
    session.commit()


def _sync_engine(path: Path) -> Engine:
    """pysqlite with the service's SQLite settings (WAL, BEGIN IMMEDIATE from the begin event)."""
    engine = create_sync_engine(f"sqlite:///{path}", pool_size=1, max_overflow=0)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            dbapi_connection.execute(f"PRAGMA {pragma}")  # type: ignore[attr-defined]

    @event.listens_for(engine, "begin")
    def _on_begin(connection: object) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # type: ignore[attr-defined]

    return engine


async def _cpu(run: Callable[[], Awaitable[None]], units: int) -> float:
    """CPU of every thread of the process per unit, in µs."""
    for _ in range(units // 5):
        await run()
    started = time.process_time()
    for _ in range(units):
        await run()
    return 1e6 * (time.process_time() - started) / units


async def _measure(reads: int, units: int) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="tenwatch-hops-"))
    path = workdir / "hops.db"
    try:
        await upgrade(f"sqlite+aiosqlite:///{path}")
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        sessions = create_sessionmaker(engine)
        sync = _sync_engine(path)

        async def in_async() -> None:
            async with sessions() as session:
                await _async_unit(session, reads)

        def in_sync() -> None:
            with Session(sync) as session:
                _sync_unit(session, reads)

        async def inline() -> None:
            in_sync()

        async def one_hop() -> None:
            await asyncio.to_thread(in_sync)

        figures = {}
        for name, run in (
            ("async", in_async),
            ("sync, inline", inline),
            ("sync, one hop", one_hop),
        ):
            figures[name] = await _cpu(run, units)
        await engine.dispose()
        sync.dispose()
        return figures
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    """Print the CPU of a unit of work each way, and what a statement's hand-overs cost."""
    parser = argparse.ArgumentParser(prog="python -m bench.hops", description=__doc__)
    parser.add_argument("--reads", type=int, default=12, help="selects in a unit of work")
    parser.add_argument("--units", type=int, default=1000, help="units of work measured")
    args = parser.parse_args()
    figures = asyncio.run(_measure(args.reads, args.units))
    statements = args.reads + 2  # and BEGIN IMMEDIATE
    for name, cpu in figures.items():
        print(f"{name:>14}: {cpu:8.1f} µs CPU a unit of {statements} statements")
    hops = figures["async"] - figures["sync, inline"]
    print(f"hand-overs and the async layer: {hops / statements:.1f} µs CPU a statement")
    once = figures["sync, one hop"] - figures["sync, inline"]
    print(f"one hand-over a unit of work: {once:.1f} µs CPU")


if __name__ == "__main__":
    main()
