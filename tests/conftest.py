"""Shared fixtures: real SQLite and PostgreSQL databases, a real Redis.

The migrations run once per session, into a template of each kind; every test gets a copy of
it (a copied SQLite file, a PostgreSQL database created from the template). The tests of the
migrations themselves start from an empty database and run them for real."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import asyncpg
import pytest

from server.migrate import upgrade
from storage.db import AsyncSession, create_engine, create_sessionmaker
from tests.services import shared_postgres, shared_redis

pytest_plugins = ["tests.fake_twilio"]

# Supervision's test alarm writes an outbox job every round, which tests that count jobs or
# texts would count: off unless a test turns it on (tests/server/test_supervision.py). The
# processes tests start inherit it.
os.environ.setdefault("TENWATCH_SUPERVISION_SECONDS", "0")


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """Put the root logger back after each test: a command run in-process (`tenwatch serve`
    through the CLI runner) configures the process's logging onto a stream that closes with
    the runner, and every later line would fail to write."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


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


async def _admin(server_dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _create_database(server_dsn: str, *, template: str | None = None) -> str:
    name = f"tenwatch_test_{uuid.uuid4().hex[:12]}"
    from_template = f' TEMPLATE "{template}"' if template else ""
    await _admin(server_dsn, f'CREATE DATABASE "{name}"{from_template}')
    return name


async def _drop_database(server_dsn: str, name: str) -> None:
    await _admin(server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sqlalchemy_url(server_dsn: str, database: str) -> str:
    base = server_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


@contextmanager
def fresh_postgres(server_dsn: str, *, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database on the server, a copy of template (else empty); dropped
    afterwards."""
    name = asyncio.run(_create_database(server_dsn, template=template))
    try:
        yield _sqlalchemy_url(server_dsn, name)
    finally:
        asyncio.run(_drop_database(server_dsn, name))


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    """The name of a PostgreSQL database migrated once for the session, which takes no
    connections (so that CREATE DATABASE can copy it); dropped at the end."""
    name = f"tenwatch_template_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(postgres_server, f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(upgrade(_sqlalchemy_url(postgres_server, name)))
        asyncio.run(
            _admin(
                postgres_server, f'ALTER DATABASE "{name}" IS_TEMPLATE true ALLOW_CONNECTIONS false'
            )
        )
        yield name
    finally:
        asyncio.run(
            _admin(
                postgres_server,
                f'ALTER DATABASE "{name}" IS_TEMPLATE false',
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            )
        )


@pytest.fixture
def postgres_url(postgres_server: str, postgres_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (a copy of the session's template)."""
    with fresh_postgres(postgres_server, template=postgres_template) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database: a SQLite file, then a new PostgreSQL database."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def _fold_log_into(path: Path) -> None:
    """Make the database file at path the whole database: checkpoint any write-ahead log into
    it; closing the last connection then removes the log and its index."""
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    left = [
        p.name for p in (path.with_name(f"{path.name}-{s}") for s in ("wal", "shm")) if p.exists()
    ]
    assert not left, (
        f"{left} outlived the last connection: a copy of {path.name} alone would lose them"
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once for the session, for tests to copy and never to open."""
    path = tmp_path_factory.mktemp("template") / "tenwatch.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    _fold_log_into(path)
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A fresh, migrated SQLite database (a copy of the session's template), for tests that need
    only the embedded default."""
    path = tmp_path / "tenwatch.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database with no schema, for the tests of the migrations: a SQLite file, then
    a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    with fresh_postgres(request.getfixturevalue("postgres_server")) as url:
        yield url


@pytest.fixture
async def session(db_url: str) -> AsyncIterator[AsyncSession]:
    """A session on the fresh database (SQLite and PostgreSQL in turn)."""
    engine = create_engine(db_url)
    try:
        async with create_sessionmaker(engine)() as s:
            yield s
    finally:
        await engine.dispose()
