"""Fixtures for the service: seeded databases and settings for each bus."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from server.runtime.clock import ManualClock
from server.settings import Settings, get_settings
from tests.harness import Seed, seed
from tests.server.world import World

SAMPLE = Path(__file__).parent.parent / "groups" / "data" / "sample.csv"


@pytest.fixture
def seeded(sqlite_url: str) -> Seed:
    """The demo community (four groups of ten) in a fresh SQLite database."""
    return asyncio.run(seed(sqlite_url))


@pytest.fixture(params=["memory", "redis"])
def settings(request: pytest.FixtureRequest, sqlite_url: str) -> Settings:
    """Embedded settings, on the in-process bus and then on a real Redis."""
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    return Settings(
        database_url=sqlite_url,
        redis_url=redis_url,
        outbox_poll_seconds=0.05,
        ws_heartbeat_seconds=5,
    )


@pytest.fixture(
    params=["memory+sqlite", pytest.param("redis+postgres", marks=pytest.mark.postgres)]
)
def world(request: pytest.FixtureRequest) -> World:
    """The demo community served on the in-process bus and SQLite, then on Redis and PostgreSQL."""
    bus, db = request.param.split("+")
    url: str = request.getfixturevalue(f"{db}_url")
    redis_url = request.getfixturevalue("redis_url") if bus == "redis" else None
    settings = Settings(
        database_url=url,
        redis_url=redis_url,
        outbox_poll_seconds=0.05,
        scheduler_poll_seconds=0.05,
        ws_heartbeat_seconds=5,
    )
    return World(url, settings, asyncio.run(seed(url)), ManualClock())


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The `tenwatch` CLI on a fresh SQLite file."""
    monkeypatch.setenv("TENWATCH_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
