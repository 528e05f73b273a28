"""Fixtures for the service: seeded databases and settings for each bus."""

from __future__ import annotations

import asyncio

import pytest

from server.settings import Settings
from tests.harness import Seed, seed


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
