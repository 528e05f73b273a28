"""A household's responder context (spare key, care note, away) is shown to the patrol and
the group's leader on an open alarm only, and every look is in the audit log."""

from __future__ import annotations

from sqlalchemy import select, update

from groups.models import AuditEntry, Group, Household
from server.settings import Settings
from storage.db import create_engine, create_sessionmaker
from tests.actors import Person, resident
from tests.harness import running, seed

RAISER = "B11-1-101"


async def _prepare(url: str) -> str:
    """Give the raiser's household a context; the address of its group's leader household."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            await session.execute(
                update(Household)
                .where(Household.address == RAISER)
                .values(spare_key_holder="302 王姐", care_note="行动不便，坐轮椅")
            )
            leader = await session.scalar(
                select(Household.address)
                .join(Group, Group.leader_household_id == Household.id)
                .where(
                    Group.id
                    == select(Household.group_id)
                    .where(Household.address == RAISER)
                    .scalar_subquery()
                )
            )
            await session.commit()
            assert leader is not None
            return leader
    finally:
        await engine.dispose()


async def _looks(url: str) -> list[tuple[str, str, str | None]]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(AuditEntry.actor, AuditEntry.subject, AuditEntry.note)
                .where(AuditEntry.action == "viewed")
                .order_by(AuditEntry.id)
            )
            return [(a, s, n) for a, s, n in rows]
    finally:
        await engine.dispose()


async def test_the_patrol_and_the_group_leader_see_the_context_of_an_open_alarm_and_are_logged(
    sqlite_url: str,
) -> None:
    seeded = await seed(sqlite_url)
    leader_address = await _prepare(sqlite_url)
    neighbour = next(a for a in seeded.group_of(RAISER) if a not in (RAISER, leader_address))
    async with running(Settings(database_url=sqlite_url)) as base:
        alarm = await resident(base, seeded, RAISER).raise_alarm("medical")
        patrol = Person(base, seeded.staff["patrol_member"])
        seen = await patrol.look_at(alarm)
        assert seen["responder"] == {
            "spare_key_holder": "302 王姐",
            "care_note": "行动不便，坐轮椅",
            "away_until": None,
        }
        assert (await resident(base, seeded, leader_address).look_at(alarm))[
            "responder"
        ] is not None
        assert (await resident(base, seeded, neighbour).look_at(alarm))["responder"] is None
        assert (await patrol.take(alarm)).status_code == 200
        assert (await patrol.resolve(alarm, "handled")).status_code == 200
        assert (await patrol.look_at(alarm))["responder"] is None  # closed: no more
    every = await _looks(sqlite_url)
    looks = [look for look in every if look[1].startswith("household ")]
    assert [(s, n) for _, s, n in looks] == [
        (f"household {RAISER}", f"responder context, alarm {alarm}"),
    ] * 2
    assert [s for _, s, _ in every if s.startswith("raiser ")] == [f"raiser of alarm {alarm}"]
    assert looks[0][0].startswith("巡逻队员")
