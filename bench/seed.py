"""A fresh SQLite database with N households in units of exactly ten, and a token for each."""

import io
import math
from dataclasses import dataclass, field

from sqlalchemy import select

from groups import importer
from groups.models import Community, Household, Resident, Staff
from server import accounts
from server.migrate import upgrade
from storage.db import create_engine, create_sessionmaker

COMMUNITY = "bench 压测社区"
UNITS_PER_BUILDING = 4
FLOORS, ROOMS = 5, 2  # 5 floors × 2 rooms = the ten households of one unit


@dataclass
class Seeded:
    """Tokens to connect with: one per household (with its group) and a few board tokens."""

    households: list[tuple[str, int]] = field(default_factory=list)  # (token, group id)
    boards: list[str] = field(default_factory=list)
    community_id: int = 0
    household_ids: list[int] = field(default_factory=list)  # beside households, in its order
    resident_ids: list[int] = field(default_factory=list)  # the household's one resident

    @property
    def groups(self) -> int:
        """How many distinct groups the households fall into."""
        return len({group for _, group in self.households})


def community_csv(households: int, *, boards: int, phones: bool) -> str:
    """Buildings × units × floors × rooms, ten households per unit, plus `boards` patrol members."""
    rows = ["address,name,phone,grid,roles"]
    for n in range(math.ceil(households / 10) * 10):
        unit_no, slot = divmod(n, FLOORS * ROOMS)
        building, unit = divmod(unit_no, UNITS_PER_BUILDING)
        floor, room = divmod(slot, ROOMS)
        phone = f"+86138{n:08d}" if phones else ""
        rows.append(f"B{building + 1}-{unit + 1}-{floor + 1}{room + 1:02d},住户{n},{phone},,")
    rows += [f",巡逻队员{i},+86139{i:08d},,patrol_member" for i in range(boards)]
    return "\n".join(rows) + "\n"


async def seed(url: str, *, households: int, boards: int, phones: bool = True) -> Seeded:
    """Migrate a fresh database at url, import the community, and issue every token at once."""
    await upgrade(url)
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            csv = community_csv(households, boards=boards, phones=phones)
            await importer.import_csv(session, source=io.StringIO(csv), community=COMMUNITY)
            community_id = await session.scalar(select(Community.id))
            assert community_id is not None
            seeded = Seeded(community_id=community_id)
            rows = await session.execute(
                select(Resident.id, Household.group_id, Household.id)
                .join(Household, Resident.household_id == Household.id)
                .order_by(Household.id)
            )
            for resident_id, group_id, household_id in rows.all():
                assert group_id is not None, "the import puts every household in a group"
                token = await accounts.issue(
                    session, community_id=community_id, resident_id=resident_id
                )
                seeded.households.append((token, group_id))
                seeded.household_ids.append(household_id)
                seeded.resident_ids.append(resident_id)
            for staff_id in (await session.scalars(select(Staff.id).order_by(Staff.id))).all():
                seeded.boards.append(
                    await accounts.issue(session, community_id=community_id, staff_id=staff_id)
                )
            await session.commit()
    finally:
        await engine.dispose()
    return seeded
