"""Credentials checked a moment ago are trusted for a few seconds, and only those."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event, update

from groups.db import create_engine, create_sessionmaker
from groups.models import Household
from server.auth import Principals
from tests.harness import Seed


def _credential_reads(statements: list[str]) -> Callable[..., None]:
    def seen(*args: Any) -> None:
        if "FROM credentials" in args[2]:
            statements.append(args[2])

    return seen


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_known_token_is_asked_for_once_within_its_seconds(
    seeded: Seed, sqlite_url: str
) -> None:
    engine = create_engine(sqlite_url)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", _credential_reads(statements))
    clock = Ticks()
    principals = Principals(seconds=5, clock=clock)
    token = seeded.households["B11-2-501"]
    try:
        async with create_sessionmaker(engine)() as session:
            first = await principals.authenticate(session, token)
            asked = len(statements)
            again = await principals.authenticate(session, token)
            assert first is not None
            assert again == first
            assert len(statements) == asked, "a fresh credential must not be asked for again"

            await session.execute(
                update(Household).where(Household.id == first.household_id).values(group_id=None)
            )
            clock.now += 4.9
            assert await principals.authenticate(session, token) == first
            clock.now += 0.2
            moved = await principals.authenticate(session, token)
            assert moved is not None
            assert moved.group_id is None, "after its seconds it is re-read"
    finally:
        await engine.dispose()


async def test_unknown_tokens_are_not_remembered_and_zero_seconds_caches_nothing(
    seeded: Seed, sqlite_url: str
) -> None:
    engine = create_engine(sqlite_url)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", _credential_reads(statements))
    try:
        async with create_sessionmaker(engine)() as session:
            for principals in (Principals(seconds=5), Principals(seconds=0)):
                before = len(statements)
                for _ in range(2):
                    assert await principals.authenticate(session, "tw_nobody") is None
                assert len(statements) == before + 2
            never = Principals(seconds=0)
            before = len(statements)
            for _ in range(2):
                assert await never.authenticate(session, seeded.households["B11-2-501"])
            assert len(statements) == before + 2
    finally:
        await engine.dispose()
