"""The neighbourhood directory over the database: communities, households, groups, staff.

Every function works in the caller's session and never commits: one commit per request or job.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from groups.address import Address, parse_address
from groups.grouping import LOW, Candidate, Join, NewGroup, choose_leader, partition, place
from groups.models import (
    RESIDENT_ROLES,
    STAFF_ROLES,
    AlarmNumber,
    Community,
    Grid,
    Group,
    Household,
    Resident,
    Staff,
)
from storage.db import AsyncSession

_E164 = re.compile(r"\+[1-9]\d{7,14}")


@dataclass(frozen=True)
class NewResident:
    """A person to register in a household; roles from RESIDENT_ROLES."""

    name: str
    phone: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class GroupRoster:
    """A group with its member households (in address order) and its leader."""

    group: Group
    members: list[Household]
    leader: Household | None


def parse_phone(text: str) -> str:
    """An E.164 phone number (+ and 8–15 digits); spaces and dashes are dropped."""
    phone = re.sub(r"[\s-]", "", text)
    if not phone.startswith("+"):
        raise ValueError(f"phone {text!r} should start with + and the country code: +8613800000001")
    if not _E164.fullmatch(phone):
        raise ValueError(f"phone {text!r} should be + then 8 to 15 digits, like +8613800000001")
    return phone


def check_name(name: str) -> str:
    """A person's name, trimmed; a ValueError when it is empty or longer than 100 characters."""
    name = name.strip()
    if not name:
        raise ValueError("name is missing")
    if len(name) > 100:
        raise ValueError("name is longer than 100 characters")
    return name


def address_of(household: Household) -> Address:
    """The household's address as an Address."""
    return Address(building=household.building, unit=household.unit, room=household.room)


async def get_or_create_community(session: AsyncSession, *, name: str) -> Community:
    """The community with this name, created when it does not exist yet."""
    community = await session.scalar(select(Community).where(Community.name == name))
    if community is None:
        community = Community(name=name)
        session.add(community)
        await session.flush()
    return community


async def get_or_create_grid(session: AsyncSession, *, community_id: int, name: str) -> Grid:
    """The community's grid with this name, created when it does not exist yet."""
    query = select(Grid).where(Grid.community_id == community_id, Grid.name == name)
    grid = await session.scalar(query)
    if grid is None:
        grid = Grid(community_id=community_id, name=name)
        session.add(grid)
        await session.flush()
    return grid


def new_household(
    *, community_id: int, address: Address, residents: Sequence[NewResident], grid_id: int | None
) -> Household:
    """An unsaved, ungrouped household with its residents (inputs already validated)."""
    return Household(
        community_id=community_id,
        address=str(address),
        building=address.building,
        unit=address.unit,
        floor=address.floor,
        room=address.room,
        grid_id=grid_id,
        residents=[
            Resident(name=r.name, phone=r.phone, roles=",".join(sorted(r.roles))) for r in residents
        ],
    )


async def find_household(
    session: AsyncSession, *, community_id: int, address: str | Address
) -> Household | None:
    """The household at this address, with its residents, or None."""
    where = str(parse_address(address) if isinstance(address, str) else address)
    query = (
        select(Household)
        .where(Household.community_id == community_id, Household.address == where)
        .options(selectinload(Household.residents))
    )
    return await session.scalar(query)


@dataclass(frozen=True)
class Placed:
    """A household registered and grouped, and every group whose members changed for it."""

    household: Household
    groups: frozenset[int]


async def add_household(
    session: AsyncSession,
    *,
    community_id: int,
    address: str | Address,
    residents: Sequence[NewResident] = (),
    grid: str | None = None,
) -> Household:
    """Register a household and put it in a group beside its neighbours; others stay put."""
    placed = await move_in(
        session, community_id=community_id, address=address, residents=residents, grid=grid
    )
    return placed.household


async def move_in(
    session: AsyncSession,
    *,
    community_id: int,
    address: str | Address,
    residents: Sequence[NewResident] = (),
    grid: str | None = None,
    language: str = "zh",
) -> Placed:
    """Register a household and group it (grouping.place); says which groups changed."""
    where = parse_address(address) if isinstance(address, str) else address
    if await find_household(session, community_id=community_id, address=where) is not None:
        raise ValueError(f"{where} is already registered")
    people = [_checked(r) for r in residents]
    grid_id = None
    if grid:
        grid_id = (await get_or_create_grid(session, community_id=community_id, name=grid)).id
    household = new_household(
        community_id=community_id, address=where, residents=people, grid_id=grid_id
    )
    household.language = language
    session.add(household)
    await session.flush()
    book = await _Book.load(session, community_id)
    await book.place(household)
    return Placed(household=household, groups=frozenset(book.touched))


def _checked(resident: NewResident) -> NewResident:
    unknown = resident.roles - RESIDENT_ROLES
    if unknown:
        raise ValueError(f"unknown resident role(s): {', '.join(sorted(unknown))}")
    phone = parse_phone(resident.phone) if resident.phone else None
    return NewResident(name=check_name(resident.name), phone=phone, roles=resident.roles)


async def remove_household(session: AsyncSession, *, household_id: int) -> int | None:
    """Remove a household (and its residents) from the directory; only its group changes.
    Returns the id of the group it left, if that group still has members."""
    household = await session.get(Household, household_id)
    if household is None:
        raise ValueError(f"no household {household_id}")
    group_id = household.group_id
    await session.delete(household)
    await session.flush()
    if group_id is None:
        return None
    group = await session.get(Group, group_id)
    if group is None:
        return None
    query = (
        select(Household)
        .where(Household.group_id == group_id)
        .options(selectinload(Household.residents))
    )
    members = list(await session.scalars(query))
    if not members:
        await session.delete(group)
        await session.flush()
        return None
    keep_leader(group, members)
    await session.flush()
    return group_id


async def regroup(session: AsyncSession, *, community_id: int) -> list[Group]:
    """Group every ungrouped household; returns the groups it created. Grouped ones stay put.

    Households of units where nobody is grouped yet are partitioned together (the first
    grouping); late arrivals in a unit that already has groups are placed one by one.
    """
    book = await _Book.load(session, community_id)
    ungrouped = sorted(book.ungrouped, key=lambda h: address_of(h).sort_key)
    occupied = {(h.building, h.unit) for h in book.grouped}
    fresh = [h for h in ungrouped if (h.building, h.unit) not in occupied]
    late = [h for h in ungrouped if (h.building, h.unit) in occupied]
    runs = partition([address_of(h) for h in fresh])
    if book.grouped:  # a run too small for a group of its own joins its neighbours' instead
        late += [fresh[i] for run in runs if len(run) < LOW for i in run]
        runs = [run for run in runs if len(run) >= LOW]
    created = await book.new_groups([[fresh[i] for i in run] for run in runs]) if runs else []
    for household in late:
        created.extend(await book.place(household))
    return created


async def list_groups(session: AsyncSession, *, community_id: int) -> list[GroupRoster]:
    """Every group of the community with members, residents and leader, in address order."""
    query = (
        select(Group)
        .where(Group.community_id == community_id)
        .options(selectinload(Group.households).selectinload(Household.residents))
        .execution_options(populate_existing=True)
    )
    rosters = []
    for group in await session.scalars(query):
        members = sorted(group.households, key=lambda h: address_of(h).sort_key)
        leader = next((h for h in members if h.id == group.leader_household_id), None)
        rosters.append(GroupRoster(group=group, members=members, leader=leader))
    rosters.sort(key=lambda r: address_of(r.members[0]).sort_key if r.members else ("", 0, 0, 0, 0))
    return rosters


async def add_staff(
    session: AsyncSession,
    *,
    community_id: int,
    name: str,
    phone: str,
    role: str,
    grid: str | None = None,
) -> Staff:
    """Register a patrol member or leader, grid manager or police-office contact."""
    if role not in STAFF_ROLES:
        raise ValueError(f"unknown staff role {role!r}; one of {', '.join(sorted(STAFF_ROLES))}")
    phone = parse_phone(phone)
    taken = select(Staff.id).where(Staff.community_id == community_id, Staff.phone == phone)
    if await session.scalar(taken) is not None:
        raise ValueError(f"phone {phone} is already registered for staff of this community")
    grid_id = None
    if grid:
        grid_id = (await get_or_create_grid(session, community_id=community_id, name=grid)).id
    staff = Staff(
        community_id=community_id, name=check_name(name), phone=phone, role=role, grid_id=grid_id
    )
    session.add(staff)
    await session.flush()
    return staff


def keep_leader(group: Group, members: Sequence[Household]) -> None:
    """Set the group's leader: the one the admin chose while it stays a member, else the
    stairwell leader, else the first registered household."""
    chosen = group.leader_chosen_at is not None and any(
        h.id == group.leader_household_id for h in members
    )
    if not chosen:
        group.leader_household_id = _leader(members)
        group.leader_chosen_at = None


def _leader(members: Sequence[Household]) -> int | None:
    return choose_leader(
        Candidate(
            household=h.id,
            stairwell_leader=any("stairwell_leader" in r.role_set for r in h.residents),
            registered=(h.registered_at, h.id),
        )
        for h in members
    )


class _Book:
    """The community's households and groups in memory, for placing several households."""

    def __init__(self, session: AsyncSession, community_id: int, households: list[Household]):
        self.session = session
        self.community_id = community_id
        self.members: dict[int, list[Household]] = {}
        self.ungrouped: list[Household] = []
        for h in households:
            if h.group_id is None:
                self.ungrouped.append(h)
            else:
                self.members.setdefault(h.group_id, []).append(h)
        self.grouped = [h for hs in self.members.values() for h in hs]
        self.names: set[str] = set()
        self.touched: set[int] = set()

    @classmethod
    async def load(cls, session: AsyncSession, community_id: int) -> "_Book":
        query = (
            select(Household)
            .where(Household.community_id == community_id)
            .options(selectinload(Household.residents))
            .execution_options(populate_existing=True)
        )
        book = cls(session, community_id, list(await session.scalars(query)))
        names = select(Group.name).where(Group.community_id == community_id)
        book.names = set(await session.scalars(names))
        return book

    async def new_group(self, households: Sequence[Household]) -> Group:
        """A new group of these households, named after the first one's building and unit."""
        [group] = await self.new_groups([households])
        return group

    async def new_groups(self, runs: Sequence[Sequence[Household]]) -> list[Group]:
        """New groups, one per run of households, written in one flush."""
        groups = [Group(community_id=self.community_id, name=self._name(run)) for run in runs]
        self.session.add_all(groups)
        await self.session.flush()
        for group, run in zip(groups, runs, strict=True):
            self._assign(group, list(run))
        await self.session.flush()
        return groups

    def _name(self, households: Sequence[Household]) -> str:
        first = min(households, key=lambda h: address_of(h).sort_key)
        number = 1
        while f"{first.building}-{first.unit} #{number}" in self.names:
            number += 1
        self.names.add(name := f"{first.building}-{first.unit} #{number}")
        return name

    async def place(self, household: Household) -> list[Group]:
        """Put one ungrouped household in a group; returns the groups created for it, if any."""
        mine = address_of(household)
        by_address = {address_of(h): h for hs in self.members.values() for h in hs}
        by_address[mine] = household
        placement = place(mine, {k: [address_of(h) for h in v] for k, v in self.members.items()})
        if isinstance(placement, NewGroup):
            return [await self.new_group([household])]
        if isinstance(placement, Join):
            group = await self.session.get(Group, placement.group)
            assert group is not None
            self._assign(group, [*self.members[group.id], household])
            await self.session.flush()
            return []
        for key, addresses in placement.groups:
            changed = await self.session.get(Group, key)
            assert changed is not None
            self._assign(changed, [by_address[a] for a in addresses])
        await self.session.flush()
        runs = [[by_address[a] for a in run] for run in placement.new]
        return await self.new_groups(runs) if runs else []

    def _assign(self, group: Group, households: list[Household]) -> None:
        for h in households:
            h.group_id = group.id
        self.members[group.id] = households
        self.touched.add(group.id)
        keep_leader(group, households)


# -- alarm numbers: the phone as a help button ------------------------------------------------


@dataclass(frozen=True)
class PhoneMatch:
    """A resident whose phone number matched, with the household and group they belong to."""

    resident: Resident
    household: Household
    group_name: str | None


async def add_alarm_number(
    session: AsyncSession, *, community_id: int, number: str, group_id: int | None = None
) -> AlarmNumber:
    """Register a number people call or text for help: a group's, or (no group) the community's."""
    number = parse_phone(number)
    if await find_alarm_number(session, number=number) is not None:
        raise ValueError(f"{number} is already an alarm number")
    if group_id is not None:
        group = await session.get(Group, group_id)
        if group is None or group.community_id != community_id:
            raise ValueError(f"group {group_id} is not in this community")
    alarm_number = AlarmNumber(number=number, community_id=community_id, group_id=group_id)
    session.add(alarm_number)
    await session.flush()
    return alarm_number


async def find_alarm_number(session: AsyncSession, *, number: str) -> AlarmNumber | None:
    """The alarm number registered as `number` (E.164), or None."""
    return await session.scalar(select(AlarmNumber).where(AlarmNumber.number == number))


async def list_alarm_numbers(
    session: AsyncSession, *, community_id: int
) -> list[tuple[AlarmNumber, str | None]]:
    """The community's alarm numbers with the name of the group each serves (None: all)."""
    rows = await session.execute(
        select(AlarmNumber, Group.name)
        .outerjoin(Group, AlarmNumber.group_id == Group.id)
        .where(AlarmNumber.community_id == community_id)
        .order_by(AlarmNumber.number)
    )
    return [(number, name) for number, name in rows]


async def find_by_phone(
    session: AsyncSession, *, phone: str, community_id: int | None = None
) -> list[PhoneMatch]:
    """The residents registered with this phone (in a community, or anywhere), oldest first."""
    query = (
        select(Resident, Household, Group.name)
        .join(Household, Resident.household_id == Household.id)
        .outerjoin(Group, Household.group_id == Group.id)
        .where(Resident.phone == phone)
        .order_by(Resident.id)
    )
    if community_id is not None:
        query = query.where(Household.community_id == community_id)
    rows = await session.execute(query)
    return [PhoneMatch(resident, household, name) for resident, household, name in rows]


# -- how big the groups a change touched are ----------------------------------------------------


async def small_groups(
    session: AsyncSession, *, group_ids: Iterable[int], low: int = LOW
) -> list[str]:
    """A sentence for each of these groups that has fewer than `low` households: what a change's
    answer (and its audit entry) says, as it is not an error but should be seen to."""
    ids = sorted(set(group_ids))
    if not ids:
        return []
    rows = await session.execute(
        select(Group.name, func.count(Household.id))
        .outerjoin(Household, Household.group_id == Group.id)
        .where(Group.id.in_(ids))
        .group_by(Group.id, Group.name)
        .order_by(Group.name)
    )
    return [
        f"group {name} now has {count} household{'s' if count != 1 else ''}, below {low}"
        for name, count in rows
        if count < low
    ]
