"""Texts to staff follow each staff member's language, as texts to households follow theirs."""

from __future__ import annotations

from sqlalchemy import select, update

from groups.models import Staff
from notifier.models import OutboxMessage
from server.settings import Settings
from storage.db import create_engine, create_sessionmaker
from tests.actors import Person, resident
from tests.harness import running, seed

POLICE = "+8613900000004"


async def test_the_police_office_is_texted_in_its_own_language(sqlite_url: str) -> None:
    seeded = await seed(sqlite_url)
    engine = create_engine(sqlite_url)
    try:
        async with create_sessionmaker(engine)() as session:
            await session.execute(update(Staff).where(Staff.phone == POLICE).values(language="en"))
            await session.commit()
        async with running(Settings(database_url=sqlite_url)) as base:
            alarm = await resident(base, seeded, "B11-1-101").raise_alarm("intrusion")
            patrol = Person(base, seeded.staff["patrol_member"])
            assert (await patrol.take(alarm)).status_code == 200
            assert (await patrol.escalate(alarm)).status_code == 200
        async with create_sessionmaker(engine)() as session:
            bodies = list(
                await session.scalars(select(OutboxMessage.body).where(OutboxMessage.to == POLICE))
            )
    finally:
        await engine.dispose()
    assert len(bodies) == 1
    assert bodies[0].isascii(), bodies[0]
