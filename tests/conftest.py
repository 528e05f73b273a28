"""Shared fixtures: real SQLite and PostgreSQL databases, a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest

from server.migrate import upgrade
from storage.db import AsyncSession, create_engine, create_sessionmaker
from tests.services import shared_postgres, shared_redis

pytest_plugins = ["tests.fake_twilio"]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a real Redis server."""
    with shared_redis() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A plain DSN of a real PostgreSQL server (its maintenance database)."""
    with shared_postgres() as dsn:
        yield dsn


async def _create_database(server_dsn: str) -> str:
    name = f"tenwatch_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_database(server_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _sqlalchemy_url(server_dsn: str, database: str) -> str:
    base = server_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


@contextmanager
def fresh_postgres(server_dsn: str) -> Iterator[str]:
    """A new, migrated PostgreSQL database on the server, dropped afterwards."""
    name = asyncio.run(_create_database(server_dsn))
    url = _sqlalchemy_url(server_dsn, name)
    try:
        asyncio.run(upgrade(url))
        yield url
    finally:
        asyncio.run(_drop_database(server_dsn, name))


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database."""
    with fresh_postgres(postgres_server) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database: a SQLite file, then a new PostgreSQL database."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, migrated SQLite database, for tests that need only the embedded default."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'tenwatch.db'}"
    asyncio.run(upgrade(url))
    return url


@pytest.fixture
async def session(db_url: str) -> AsyncIterator[AsyncSession]:
    """A session on the fresh database (SQLite and PostgreSQL in turn)."""
    engine = create_engine(db_url)
    try:
        async with create_sessionmaker(engine)() as s:
            yield s
    finally:
        await engine.dispose()
