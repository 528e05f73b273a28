"""The directory over a real database (SQLite and PostgreSQL): households, groups, staff."""

import pytest
from sqlalchemy import func, select

from groups.directory import (
    GroupRoster,
    NewResident,
    add_household,
    add_staff,
    find_household,
    get_or_create_community,
    list_groups,
    parse_phone,
    regroup,
    remove_household,
)
from groups.models import Group, Household
from storage.db import AsyncSession


async def build(session: AsyncSession, units: dict[tuple[str, int], int]) -> int:
    """A community whose units hold the given numbers of households, grouped."""
    community = await get_or_create_community(session, name="丰乐社区")
    for (building, unit), size in units.items():
        for k in range(size):
            address = f"{building}-{unit}-{100 * (k // 2 + 1) + k % 2 + 1}"
            await add_household(
                session,
                community_id=community.id,
                address=address,
                residents=[NewResident(name=f"住户{k}", phone=f"+86138{k:08d}")],
            )
    return community.id


def memberships(rosters: list[GroupRoster]) -> dict[int, set[str]]:
    return {r.group.id: {h.address for h in r.members} for r in rosters}


async def test_a_community_is_found_again_by_name(session: AsyncSession) -> None:
    first = await get_or_create_community(session, name="丰乐社区")
    again = await get_or_create_community(session, name="丰乐社区")
    assert first.id == again.id


async def test_households_registered_one_by_one_fill_groups_of_at_most_12(
    session: AsyncSession,
) -> None:
    community_id = await build(session, {("B11", 1): 30})
    rosters = await list_groups(session, community_id=community_id)
    assert sum(len(r.members) for r in rosters) == 30
    assert all(len(r.members) <= 12 for r in rosters)
    assert all(r.leader in r.members for r in rosters)
    assert rosters[0].group.name == "B11-1 #1"


async def test_a_new_household_only_changes_its_own_group(session: AsyncSession) -> None:
    community_id = await build(session, {("B2", 1): 8, ("B11", 1): 8})
    before = memberships(await list_groups(session, community_id=community_id))
    household = await add_household(
        session,
        community_id=community_id,
        address="B11-1-501",
        residents=[NewResident(name="王建国", phone="+8613800000099", roles=frozenset())],
    )
    after = memberships(await list_groups(session, community_id=community_id))
    assert household.group_id is not None
    assert after[household.group_id] == before[household.group_id] | {"B11-1-501"}
    assert {k: v for k, v in after.items() if k != household.group_id} == {
        k: v for k, v in before.items() if k != household.group_id
    }


async def test_a_stairwell_leader_moving_in_becomes_the_group_leader(
    session: AsyncSession,
) -> None:
    community_id = await build(session, {("B11", 1): 5})
    leader = await add_household(
        session,
        community_id=community_id,
        address="B11-1-601",
        residents=[NewResident(name="赵国华", roles=frozenset({"stairwell_leader"}))],
    )
    [roster] = await list_groups(session, community_id=community_id)
    assert roster.leader is not None
    assert roster.leader.id == leader.id


async def test_a_household_moving_out_leaves_other_groups_untouched(
    session: AsyncSession,
) -> None:
    community_id = await build(session, {("B2", 1): 8, ("B11", 1): 8})
    rosters = await list_groups(session, community_id=community_id)
    before = memberships(rosters)
    leaving = rosters[0].leader
    assert leaving is not None
    await remove_household(session, household_id=leaving.id)
    after = await list_groups(session, community_id=community_id)
    assert memberships(after)[rosters[0].group.id] == before[rosters[0].group.id] - {
        leaving.address
    }
    assert memberships(after)[rosters[1].group.id] == before[rosters[1].group.id]
    assert after[0].leader is not None
    assert after[0].leader.id != leaving.id
    assert await find_household(session, community_id=community_id, address=leaving.address) is None


async def test_the_last_household_moving_out_removes_its_group(session: AsyncSession) -> None:
    community_id = await build(session, {("B2", 1): 1})
    household = await find_household(session, community_id=community_id, address="B2-1-101")
    assert household is not None
    await remove_household(session, household_id=household.id)
    assert await session.scalar(select(func.count()).select_from(Group)) == 0


async def test_regroup_groups_only_the_ungrouped_and_leaves_groups_alone(
    session: AsyncSession,
) -> None:
    community_id = await build(session, {("B2", 1): 10})
    before = memberships(await list_groups(session, community_id=community_id))
    assert await regroup(session, community_id=community_id) == []
    assert memberships(await list_groups(session, community_id=community_id)) == before


async def test_registering_the_same_address_twice_is_refused(session: AsyncSession) -> None:
    community_id = await build(session, {("B2", 1): 1})
    with pytest.raises(ValueError, match="already registered"):
        await add_household(session, community_id=community_id, address="b2-1-101")
    count = select(func.count()).select_from(Household)
    assert await session.scalar(count) == 1


async def test_staff_are_registered_with_a_checked_phone_and_role(session: AsyncSession) -> None:
    community = await get_or_create_community(session, name="丰乐社区")
    staff = await add_staff(
        session,
        community_id=community.id,
        name="赵队长",
        phone="+86 139 0000 0001",
        role="patrol_leader",
        grid="网格1",
    )
    assert staff.phone == "+8613900000001"
    assert staff.grid_id is not None
    with pytest.raises(ValueError, match="already registered"):
        await add_staff(
            session,
            community_id=community.id,
            name="钱",
            phone="+8613900000001",
            role="patrol_member",
        )
    with pytest.raises(ValueError, match="unknown staff role"):
        await add_staff(
            session, community_id=community.id, name="钱", phone="+8613900000002", role="mayor"
        )


@pytest.mark.parametrize(
    ("phone", "says"),
    [
        ("13800000001", "start with \\+"),
        ("+86", "8 to 15 digits"),
        ("+861380000000123456", "8 to 15"),
    ],
)
def test_a_phone_that_is_not_e164_is_refused_with_a_reason(phone: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_phone(phone)
