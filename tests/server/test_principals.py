"""Credentials checked a moment ago are trusted for a few seconds, and only those."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, update

from groups.models import Household
from server.accounts import Principals
from storage.db import AsyncSession, create_engine, create_sessionmaker
from tests.harness import Seed


class Reads:
    """A session on the seeded database, and every credential read it made."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.count = 0

    def seen(self, *args: Any) -> None:
        if "FROM credentials" in args[2]:
            self.count += 1


@pytest.fixture
async def reads(seeded: Seed, sqlite_url: str) -> AsyncIterator[Reads]:
    engine = create_engine(sqlite_url)
    try:
        async with create_sessionmaker(engine)() as session:
            watched = Reads(session)
            event.listen(engine.sync_engine, "before_cursor_execute", watched.seen)
            yield watched
    finally:
        await engine.dispose()


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_known_token_is_asked_for_once_within_its_seconds(
    seeded: Seed, reads: Reads
) -> None:
    clock = Ticks()
    principals = Principals(seconds=5, clock=clock)
    token = seeded.households["B11-2-501"]
    first = await principals.authenticate(reads.session, token)
    asked = reads.count
    again = await principals.authenticate(reads.session, token)
    assert first is not None
    assert again == first
    assert reads.count == asked, "a fresh credential must not be asked for again"

    await reads.session.execute(
        update(Household).where(Household.id == first.household_id).values(group_id=None)
    )
    clock.now += 4.9
    assert await principals.authenticate(reads.session, token) == first
    clock.now += 0.2
    moved = await principals.authenticate(reads.session, token)
    assert moved is not None
    assert moved.group_id is None, "after its seconds it is re-read"


async def test_unknown_tokens_are_not_remembered_and_zero_seconds_caches_nothing(
    seeded: Seed, reads: Reads
) -> None:
    for principals in (Principals(seconds=5), Principals(seconds=0)):
        before = reads.count
        for _ in range(2):
            assert await principals.authenticate(reads.session, "tw_nobody") is None
        assert reads.count == before + 2
    never = Principals(seconds=0)
    before = reads.count
    for _ in range(2):
        assert await never.authenticate(reads.session, seeded.households["B11-2-501"])
    assert reads.count == before + 2


async def test_tokens_checked_together_are_read_in_one_query(seeded: Seed, sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            watched = Reads(session)
        event.listen(engine.sync_engine, "before_cursor_execute", watched.seen)
        principals = Principals(seconds=5, reads=sessions)
        tokens = sorted(seeded.households.values())[:20]
        found = await asyncio.gather(*(principals.check(t) for t in [*tokens, "tw_nobody"]))
        assert [p is not None for p in found] == [True] * 20 + [False]
        assert len({p.household_id for p in found if p is not None}) == 20
        assert watched.count <= 2, "a token alone, then the others that came meanwhile"
        before = watched.count
        assert await principals.check(tokens[0]) == found[0], "fresh in memory"
        assert watched.count == before
    finally:
        await engine.dispose()
