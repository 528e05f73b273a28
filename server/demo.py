"""The demo community `serve --demo` seeds, and the credential helpers the CLI uses."""

import io
from datetime import datetime

from sqlalchemy import select

from groups import duty, importer, pins
from groups.models import PATROL_ROLES, Community, Household, Resident, Staff
from server import accounts
from storage.db import AsyncSession

DEMO_COMMUNITY = "丰乐社区 demo"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"


def demo_csv() -> str:
    """Forty households in two buildings (four groups of ten), a patrol team and a police office."""
    rows = ["address,name,phone,grid,roles"]
    n = 0
    for building in ("B11", "B12"):
        for unit in (1, 2):
            for floor in range(1, 6):
                for room in (1, 2):
                    n += 1
                    name = SURNAMES[n % 20] + GIVEN[(n * 7) % 20]
                    roles = "stairwell_leader" if floor == 3 and room == 1 else ""
                    if unit == 1 and floor == 5 and room == 2:
                        roles = "building_leader"
                    rows.append(
                        f"{building}-{unit}-{floor}{room:02d},{name},+86138000{n:05d},"
                        f"网格{1 if building == 'B11' else 2},{roles}"
                    )
    rows += [
        ",巡逻队长 刘强,+8613900000001,,patrol_leader",
        ",巡逻队员 陈军,+8613900000002,,patrol_member",
        ",网格员 赵敏,+8613900000003,网格1,grid_manager",
        ",警务室 值班,+8613900000004,,police_office",
        ",社区管理员 孙丽,+8613900000005,,admin",
    ]
    return "\n".join(rows) + "\n"


async def get_community(session: AsyncSession, *, name: str) -> Community:
    """The community of that name; LookupError if there is none."""
    found = await session.scalar(select(Community).where(Community.name == name))
    if found is None:
        raise LookupError(f"no community named {name!r}")
    return found


async def resident_token(
    session: AsyncSession,
    *,
    community: str,
    address: str,
    name: str | None = None,
    expires_at: datetime | None = None,
    label: str | None = None,
) -> str:
    """A new credential for a resident of the household at address (the first, unless named)."""
    found = await get_community(session, name=community)
    query = (
        select(Resident)
        .join(Household, Resident.household_id == Household.id)
        .where(Household.community_id == found.id, Household.address == address)
        .order_by(Resident.id)
    )
    if name is not None:
        query = query.where(Resident.name == name)
    resident = await session.scalar(query)
    if resident is None:
        who = f"resident {name}" if name else "resident"
        raise LookupError(f"no {who} at {address} in {community}")
    return await accounts.issue(
        session,
        community_id=found.id,
        resident_id=resident.id,
        expires_at=expires_at,
        device=label,
    )


async def staff_token(
    session: AsyncSession,
    *,
    community: str,
    phone: str,
    expires_at: datetime | None = None,
    label: str | None = None,
) -> str:
    """A new integration token for the staff member with this phone."""
    found = await get_community(session, name=community)
    staff = await session.scalar(
        select(Staff).where(Staff.community_id == found.id, Staff.phone == phone)
    )
    if staff is None:
        raise LookupError(f"no staff member with phone {phone} in {community}")
    return await accounts.issue(
        session, community_id=found.id, staff_id=staff.id, expires_at=expires_at, device=label
    )


DEMO_PIN, DEMO_DURESS_PIN = "1234", "9999"
LINKED = ("B11-1-101", "B11-1-102", "B11-1-201", "B12-1-101")


async def _roster_and_pins(session: AsyncSession) -> None:
    """The patrol leader and member on duty around the clock; PINs for the linked households."""
    found = await get_community(session, name=DEMO_COMMUNITY)
    patrol = await session.scalars(
        select(Staff).where(Staff.community_id == found.id, Staff.role.in_(PATROL_ROLES))
    )
    for member in patrol:
        await duty.add_shift(session, staff=member, days=range(7), starts=0, ends=duty.DAY)
    households = await session.scalars(
        select(Household).where(Household.community_id == found.id, Household.address.in_(LINKED))
    )
    for household in households:
        household.pin_hash = pins.hash_pin(DEMO_PIN)
        household.duress_pin_hash = pins.hash_pin(DEMO_DURESS_PIN)


async def seed(session: AsyncSession) -> list[tuple[str, str]]:
    """Seed the demo community once; return who may sign in to try it: (who, phone)."""
    exists = await session.scalar(select(Community.id).where(Community.name == DEMO_COMMUNITY))
    if exists is None:
        await importer.import_csv(session, source=io.StringIO(demo_csv()), community=DEMO_COMMUNITY)
        await _roster_and_pins(session)
    people = [("patrol leader 巡逻队长 (the board)", "+8613900000001")]
    people.append(("community admin 社区管理员 (the register)", "+8613900000005"))
    residents = await session.execute(
        select(Household.address, Resident.phone)
        .join(Resident, Resident.household_id == Household.id)
        .join(Community, Household.community_id == Community.id)
        .where(Community.name == DEMO_COMMUNITY, Household.address.in_(LINKED))
        .order_by(Household.address, Resident.id)
    )
    seen: set[str] = set()
    for address, phone in residents:
        if address not in seen and phone is not None:
            seen.add(address)
            people.append((f"resident 住户 {address}", phone))
    return people
