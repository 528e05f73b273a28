"""The register (登记造册) kept by the community admin: households and their residents, their
groups and leaders, staff, alarm numbers and the duty roster, each change recorded in the audit
log with what it was before and after.

Every function works in the caller's session and never commits (the route commits once). A
change that leaves a group below the policy's size is done, and says so: its `notes` (and its
audit entry) read "group B11-1 #1 now has 6 households, below 8".

Lookups take the community: another community's ids are LookupError, like ids that don't exist.
Bad values are ValueError with a sentence; the web turns them into 404 and 422.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import selectinload

from groups import audit, directory, duty
from groups.audit import Actor
from groups.directory import NewResident, check_name, parse_phone
from groups.grouping import HIGH
from groups.models import (
    LANGUAGES,
    RESIDENT_ROLES,
    STAFF_ROLES,
    AlarmNumber,
    DutyOverride,
    DutyShift,
    Grid,
    Group,
    Household,
    Resident,
    Staff,
)
from storage.db import AsyncSession, utcnow

CONTEXT = ("spare_key_holder", "care_note", "away_until")


@dataclass(frozen=True)
class Done:
    """What a change did: the id of what it made or changed, and what the admin should know."""

    id: int | None = None
    notes: list[str] = field(default_factory=list)


def mask(phone: str | None) -> str | None:
    """A phone as people who don't need it see it: +86•••••••0001."""
    if not phone:
        return phone
    return phone[:3] + "•" * max(len(phone) - 7, 0) + phone[-4:]


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A household as the register lists it: with its residents, group and grid names."""

    household: Household
    group: str | None
    grid: str | None
    leader: bool


async def households(
    session: AsyncSession,
    *,
    community_id: int,
    text: str | None = None,
    group_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Entry], int]:
    """The community's households (of one group, if given) whose address or a resident's name
    or phone contains text, in address order; and how many match in all."""
    where = [Household.community_id == community_id]
    if group_id is not None:
        where.append(Household.group_id == group_id)
    if text:
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        people = select(Resident.household_id).where(
            or_(Resident.name.like(like, escape="\\"), Resident.phone.like(like, escape="\\"))
        )
        where.append(
            or_(Household.address.like(like.upper(), escape="\\"), Household.id.in_(people))
        )
    total = await session.scalar(select(func.count()).select_from(Household).where(*where))
    rows = await session.execute(
        select(Household, Group.name, Grid.name, Group.leader_household_id)
        .outerjoin(Group, Household.group_id == Group.id)
        .outerjoin(Grid, Household.grid_id == Grid.id)
        .where(*where)
        .options(selectinload(Household.residents))
    )
    entries = [
        Entry(household=h, group=g, grid=grid, leader=leader == h.id) for h, g, grid, leader in rows
    ]
    entries.sort(key=lambda e: directory.address_of(e.household).sort_key)
    return entries[offset : offset + limit], total or 0


async def entry(session: AsyncSession, *, community_id: int, household_id: int) -> Entry:
    """One household of the community as the register lists it; LookupError if none."""
    row = (
        await session.execute(
            select(Household, Group.name, Grid.name, Group.leader_household_id)
            .outerjoin(Group, Household.group_id == Group.id)
            .outerjoin(Grid, Household.grid_id == Grid.id)
            .where(Household.id == household_id, Household.community_id == community_id)
            .options(selectinload(Household.residents))
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise LookupError(f"no household {household_id} in your community")
    h, group, grid, leader = row
    return Entry(household=h, group=group, grid=grid, leader=leader == h.id)


def snapshot(e: Entry) -> dict[str, Any]:
    """A household as the audit log keeps it (before and after a change)."""
    h = e.household
    return {
        "address": h.address,
        "group": e.group,
        "grid": e.grid,
        "language": h.language,
        "residents": [
            {"name": r.name, "phone": r.phone, "roles": sorted(r.role_set)} for r in h.residents
        ],
        **{name: getattr(h, name) for name in CONTEXT},
    }


@dataclass(frozen=True)
class GroupEntry:
    """A group with its size and its leader's address."""

    group: Group
    size: int
    leader: str | None


async def groups(session: AsyncSession, *, community_id: int) -> list[GroupEntry]:
    """The community's groups in address order, with sizes and leaders."""
    return [
        GroupEntry(
            group=r.group, size=len(r.members), leader=r.leader.address if r.leader else None
        )
        for r in await directory.list_groups(session, community_id=community_id)
    ]


async def _group(session: AsyncSession, *, community_id: int, group_id: int) -> Group:
    group = await session.get(Group, group_id)
    if group is None or group.community_id != community_id:
        raise LookupError(f"no group {group_id} in your community")
    return group


# -- households ------------------------------------------------------------------------------


async def move_in(
    session: AsyncSession,
    *,
    community_id: int,
    actor: Actor,
    address: str,
    residents: Sequence[NewResident],
    grid: str | None = None,
    language: str = "zh",
    context: Mapping[str, Any] | None = None,
) -> Done:
    """Register a household that moves in and group it beside its neighbours."""
    _language(language)
    placed = await directory.move_in(
        session,
        community_id=community_id,
        address=address,
        residents=residents,
        grid=grid,
        language=language,
    )
    for name, value in (context or {}).items():
        setattr(placed.household, _context(name), value)
    await session.flush()
    notes = await directory.small_groups(session, group_ids=placed.groups)
    after = await entry(session, community_id=community_id, household_id=placed.household.id)
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action="move_in",
        subject=f"household {after.household.address}",
        after=snapshot(after),
        note="; ".join(notes) or None,
    )
    return Done(id=placed.household.id, notes=notes)


async def move_out(
    session: AsyncSession, *, community_id: int, actor: Actor, household_id: int
) -> Done:
    """Remove a household that moves out (its residents and their credentials with it)."""
    before = await entry(session, community_id=community_id, household_id=household_id)
    left = await directory.remove_household(session, household_id=household_id)
    notes = await directory.small_groups(session, group_ids=[left] if left else [])
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action="move_out",
        subject=f"household {before.household.address}",
        before=snapshot(before),
        note="; ".join(notes) or None,
    )
    return Done(id=household_id, notes=notes)


async def edit_household(
    session: AsyncSession,
    *,
    community_id: int,
    actor: Actor,
    household_id: int,
    changes: Mapping[str, Any],
) -> Done:
    """Change a household's language, grid (by name; None for none) or responder context."""
    before = await entry(session, community_id=community_id, household_id=household_id)
    was = snapshot(before)
    household = before.household
    for name, value in changes.items():
        if name == "language":
            household.language = _language(value)
        elif name == "grid":
            household.grid_id = await _grid_id(session, community_id=community_id, name=value)
        else:
            setattr(household, _context(name), value)
    await session.flush()
    after = await entry(session, community_id=community_id, household_id=household_id)
    _record_change(session, community_id, actor, "edit_household", after, was)
    return Done(id=household_id)


async def add_resident(
    session: AsyncSession,
    *,
    community_id: int,
    actor: Actor,
    household_id: int,
    resident: NewResident,
) -> Done:
    """Register one more person in a household."""
    before = await entry(session, community_id=community_id, household_id=household_id)
    was = snapshot(before)
    person = _person(resident)
    row = Resident(name=person.name, phone=person.phone, roles=",".join(sorted(person.roles)))
    before.household.residents.append(row)
    await session.flush()
    after = await entry(session, community_id=community_id, household_id=household_id)
    _record_change(session, community_id, actor, "add_resident", after, was)
    return Done(id=row.id)


async def edit_resident(
    session: AsyncSession,
    *,
    community_id: int,
    actor: Actor,
    resident_id: int,
    changes: Mapping[str, Any],
) -> Done:
    """Change a resident's name, phone (None for none) or roles."""
    resident, before = await _resident(session, community_id=community_id, resident_id=resident_id)
    was = snapshot(before)
    if "name" in changes:
        resident.name = check_name(changes["name"])
    if "phone" in changes:
        resident.phone = parse_phone(changes["phone"]) if changes["phone"] else None
    if "roles" in changes:
        roles = frozenset(changes["roles"])
        _roles(roles)
        resident.roles = ",".join(sorted(roles))
    await session.flush()
    after = await entry(session, community_id=community_id, household_id=resident.household_id)
    _record_change(session, community_id, actor, "edit_resident", after, was)
    return Done(id=resident_id)


async def remove_resident(
    session: AsyncSession, *, community_id: int, actor: Actor, resident_id: int
) -> Done:
    """Take a person off a household (the household stays; move it out to remove it)."""
    resident, before = await _resident(session, community_id=community_id, resident_id=resident_id)
    was = snapshot(before)
    before.household.residents.remove(resident)
    await session.flush()
    after = await entry(session, community_id=community_id, household_id=before.household.id)
    _record_change(session, community_id, actor, "remove_resident", after, was)
    return Done(id=resident_id)


async def move_to_group(
    session: AsyncSession, *, community_id: int, actor: Actor, household_id: int, group_id: int
) -> Done:
    """Move a household into another group of its community (one of at most HIGH)."""
    before = await entry(session, community_id=community_id, household_id=household_id)
    target = await _group(session, community_id=community_id, group_id=group_id)
    household = before.household
    source_id = household.group_id
    if source_id == target.id:
        raise ValueError(f"{household.address} is already in group {target.name}")
    size = await _size(session, target.id)
    if size >= HIGH:
        raise ValueError(f"group {target.name} already has {size} households, the most a group has")
    household.group_id = target.id
    await session.flush()
    for gid in (source_id, target.id):
        if gid is not None:
            await _regroup_leader(session, gid)
    await session.flush()
    notes = await directory.small_groups(
        session, group_ids=[g for g in (source_id, target.id) if g is not None]
    )
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action="move_to_group",
        subject=f"household {household.address}",
        before={"group": before.group},
        after={"group": target.name},
        note="; ".join(notes) or None,
    )
    return Done(id=household_id, notes=notes)


async def choose_leader(
    session: AsyncSession, *, community_id: int, actor: Actor, group_id: int, household_id: int
) -> Done:
    """Make a household of the group its leader household (十户长); it stays leader while it
    stays in the group, whatever regrouping does."""
    group = await _group(session, community_id=community_id, group_id=group_id)
    chosen = await entry(session, community_id=community_id, household_id=household_id)
    if chosen.household.group_id != group.id:
        raise ValueError(f"{chosen.household.address} is not in group {group.name}")
    old = await session.get(Household, group.leader_household_id or 0)
    group.leader_household_id = household_id
    group.leader_chosen_at = utcnow()
    await session.flush()
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action="choose_leader",
        subject=f"group {group.name}",
        before={"leader": old.address if old else None},
        after={"leader": chosen.household.address},
    )
    return Done(id=group_id)


# -- staff -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffEntry:
    """A staff member with the name of their grid."""

    staff: Staff
    grid: str | None


async def staff(session: AsyncSession, *, community_id: int) -> list[StaffEntry]:
    """The community's staff, by role then name."""
    rows = await session.execute(
        select(Staff, Grid.name)
        .outerjoin(Grid, Staff.grid_id == Grid.id)
        .where(Staff.community_id == community_id)
        .order_by(Staff.role, Staff.name, Staff.id)
    )
    return [StaffEntry(staff=s, grid=g) for s, g in rows]


def _staff_snapshot(s: Staff, grid: str | None) -> dict[str, Any]:
    return {
        "name": s.name,
        "phone": s.phone,
        "role": s.role,
        "grid": grid,
        "language": s.language,
    }


async def _one_staff(session: AsyncSession, *, community_id: int, staff_id: int) -> StaffEntry:
    for e in await staff(session, community_id=community_id):
        if e.staff.id == staff_id:
            return e
    raise LookupError(f"no staff member {staff_id} in your community")


async def add_staff(
    session: AsyncSession,
    *,
    community_id: int,
    actor: Actor,
    name: str,
    phone: str,
    role: str,
    grid: str | None = None,
    language: str = "zh",
) -> Done:
    """Register a patrol member or leader, grid manager, police-office contact or admin."""
    _language(language)
    member = await directory.add_staff(
        session, community_id=community_id, name=name, phone=phone, role=role, grid=grid
    )
    member.language = language
    await session.flush()
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action="add_staff",
        subject=f"staff {member.name}",
        after=_staff_snapshot(member, grid),
    )
    return Done(id=member.id)


async def edit_staff(
    session: AsyncSession,
    *,
    community_id: int,
    actor: Actor,
    staff_id: int,
    changes: Mapping[str, Any],
) -> Done:
    """Change a staff member's name, phone, role, grid (by name; None for none) or language."""
    found = await _one_staff(session, community_id=community_id, staff_id=staff_id)
    member, was = found.staff, _staff_snapshot(found.staff, found.grid)
    grid = found.grid
    if "name" in changes:
        member.name = check_name(changes["name"])
    if "phone" in changes:
        phone = parse_phone(changes["phone"] or "")
        taken = select(Staff.id).where(
            Staff.community_id == community_id, Staff.phone == phone, Staff.id != staff_id
        )
        if await session.scalar(taken) is not None:
            raise ValueError(f"phone {phone} is already registered for staff of this community")
        member.phone = phone
    if "role" in changes:
        if changes["role"] not in STAFF_ROLES:
            raise ValueError(f"unknown staff role; one of {', '.join(sorted(STAFF_ROLES))}")
        member.role = changes["role"]
    if "grid" in changes:
        grid = changes["grid"] or None
        member.grid_id = await _grid_id(session, community_id=community_id, name=grid)
    if "language" in changes:
        member.language = _language(changes["language"])
    await session.flush()
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action="edit_staff",
        subject=f"staff {member.name}",
        before=was,
        after=_staff_snapshot(member, grid),
    )
    return Done(id=staff_id)


async def remove_staff(
    session: AsyncSession, *, community_id: int, actor: Actor, staff_id: int
) -> Done:
    """Take a staff member off the register (their shifts and credentials go with them)."""
    found = await _one_staff(session, community_id=community_id, staff_id=staff_id)
    if actor.kind == "staff" and actor.id == staff_id:
        raise ValueError("you cannot remove yourself; ask another admin")
    was = _staff_snapshot(found.staff, found.grid)
    await session.delete(found.staff)
    await session.flush()
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action="remove_staff",
        subject=f"staff {was['name']}",
        before=was,
    )
    return Done(id=staff_id)


# -- alarm numbers ---------------------------------------------------------------------------


async def add_alarm_number(
    session: AsyncSession,
    *,
    community_id: int,
    actor: Actor,
    number: str,
    group_id: int | None = None,
) -> Done:
    """Register a number people call or text for help: a group's, or the community's."""
    if group_id is not None:
        await _group(session, community_id=community_id, group_id=group_id)
    row = await directory.add_alarm_number(
        session, community_id=community_id, number=number, group_id=group_id
    )
    group = await session.get(Group, group_id) if group_id is not None else None
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action="add_alarm_number",
        subject=f"alarm number {row.number}",
        after={"number": row.number, "group": group.name if group else None},
    )
    return Done(id=row.id)


async def remove_alarm_number(
    session: AsyncSession, *, community_id: int, actor: Actor, number_id: int
) -> Done:
    """Stop a number raising alarms for the community."""
    row = await session.get(AlarmNumber, number_id)
    if row is None or row.community_id != community_id:
        raise LookupError(f"no alarm number {number_id} in your community")
    was = {"number": row.number, "group_id": row.group_id}
    await session.delete(row)
    await session.flush()
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action="remove_alarm_number",
        subject=f"alarm number {was['number']}",
        before=was,
    )
    return Done(id=number_id)


# -- the duty roster -------------------------------------------------------------------------


async def roster(
    session: AsyncSession, *, community_id: int
) -> tuple[list[tuple[DutyShift, Staff]], list[tuple[DutyOverride, Staff]]]:
    """The weekly shifts and the one-off overrides of the community, with their staff."""
    shifts = await session.execute(
        select(DutyShift, Staff)
        .join(Staff, DutyShift.staff_id == Staff.id)
        .where(DutyShift.community_id == community_id)
        .order_by(Staff.name, DutyShift.weekday, DutyShift.starts_minute, DutyShift.id)
    )
    overrides = await session.execute(
        select(DutyOverride, Staff)
        .join(Staff, DutyOverride.staff_id == Staff.id)
        .where(DutyOverride.community_id == community_id)
        .order_by(DutyOverride.starts_at.desc(), DutyOverride.id)
    )
    return [(a, b) for a, b in shifts], [(a, b) for a, b in overrides]


async def add_shift(
    session: AsyncSession,
    *,
    community_id: int,
    actor: Actor,
    staff_id: int,
    days: str,
    starts: str,
    ends: str,
) -> Done:
    """Put a staff member on a weekly shift (days like mon-fri, times like 08:00)."""
    member = (await _one_staff(session, community_id=community_id, staff_id=staff_id)).staff
    parsed = duty.parse_days(days)
    rows = await duty.add_shift(
        session,
        staff=member,
        days=parsed,
        starts=duty.parse_time(starts),
        ends=duty.parse_time(ends),
    )
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action="add_shift",
        subject=f"staff {member.name}",
        after={"days": [duty.WEEKDAYS[d] for d in parsed], "starts": starts, "ends": ends},
    )
    return Done(id=rows[0].id if rows else None)


async def add_override(
    session: AsyncSession,
    *,
    community_id: int,
    actor: Actor,
    staff_id: int,
    starts_at: datetime,
    ends_at: datetime,
    on_duty: bool,
) -> Done:
    """Put a staff member on (or off) duty between two instants."""
    member = (await _one_staff(session, community_id=community_id, staff_id=staff_id)).staff
    row = await duty.add_override(
        session, staff=member, starts_at=starts_at, ends_at=ends_at, on_duty=on_duty
    )
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action="add_override",
        subject=f"staff {member.name}",
        after={"starts_at": starts_at, "ends_at": ends_at, "on_duty": on_duty},
    )
    return Done(id=row.id)


async def delete_shift(
    session: AsyncSession, *, community_id: int, actor: Actor, shift_id: int
) -> Done:
    """Take one weekly shift off the roster."""
    shift = await session.get(DutyShift, shift_id)
    if shift is None or shift.community_id != community_id:
        raise LookupError(f"no shift {shift_id} in your community")
    member = await session.get(Staff, shift.staff_id)
    was = {
        "day": duty.WEEKDAYS[shift.weekday],
        "starts": _hhmm(shift.starts_minute),
        "ends": _hhmm(shift.ends_minute),
    }
    await session.execute(delete(DutyShift).where(DutyShift.id == shift_id))
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action="delete_shift",
        subject=f"staff {member.name if member else shift.staff_id}",
        before=was,
    )
    return Done(id=shift_id)


async def delete_override(
    session: AsyncSession, *, community_id: int, actor: Actor, override_id: int
) -> Done:
    """Take one override off the roster."""
    row = await session.get(DutyOverride, override_id)
    if row is None or row.community_id != community_id:
        raise LookupError(f"no override {override_id} in your community")
    member = await session.get(Staff, row.staff_id)
    was = {"starts_at": row.starts_at, "ends_at": row.ends_at, "on_duty": row.on_duty}
    await session.execute(delete(DutyOverride).where(DutyOverride.id == override_id))
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action="delete_override",
        subject=f"staff {member.name if member else row.staff_id}",
        before=was,
    )
    return Done(id=override_id)


# -- helpers ---------------------------------------------------------------------------------


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _language(value: Any) -> str:
    if value not in LANGUAGES:
        raise ValueError(f"language should be one of {', '.join(LANGUAGES)}")
    return str(value)


def _context(name: str) -> str:
    if name not in CONTEXT:
        raise ValueError(f"{name} is not part of a household's responder context")
    return name


def _roles(roles: frozenset[str]) -> None:
    unknown = roles - RESIDENT_ROLES
    if unknown:
        raise ValueError(
            f"unknown resident role(s) {', '.join(sorted(unknown))};"
            f" one of {', '.join(sorted(RESIDENT_ROLES))}"
        )


def _person(resident: NewResident) -> NewResident:
    _roles(resident.roles)
    phone = parse_phone(resident.phone) if resident.phone else None
    return NewResident(name=check_name(resident.name), phone=phone, roles=resident.roles)


async def _grid_id(session: AsyncSession, *, community_id: int, name: str | None) -> int | None:
    if not name:
        return None
    if len(name) > 50:
        raise ValueError("grid name is longer than 50 characters")
    return (await directory.get_or_create_grid(session, community_id=community_id, name=name)).id


async def _resident(
    session: AsyncSession, *, community_id: int, resident_id: int
) -> tuple[Resident, Entry]:
    resident = await session.get(Resident, resident_id)
    if resident is None:
        raise LookupError(f"no resident {resident_id} in your community")
    try:
        home = await entry(session, community_id=community_id, household_id=resident.household_id)
    except LookupError:
        raise LookupError(f"no resident {resident_id} in your community") from None
    found = next(r for r in home.household.residents if r.id == resident_id)
    return found, home


async def _size(session: AsyncSession, group_id: int) -> int:
    count = select(func.count()).select_from(Household).where(Household.group_id == group_id)
    return await session.scalar(count) or 0


async def _regroup_leader(session: AsyncSession, group_id: int) -> None:
    group = await session.get(Group, group_id)
    if group is None:
        return
    members = list(
        await session.scalars(
            select(Household)
            .where(Household.group_id == group_id)
            .options(selectinload(Household.residents))
        )
    )
    if members:
        directory.keep_leader(group, members)
    else:
        await session.delete(group)


def _record_change(
    session: AsyncSession,
    community_id: int,
    actor: Actor,
    action: str,
    after: Entry,
    was: dict[str, Any],
) -> None:
    now = snapshot(after)
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action=action,
        subject=f"household {after.household.address}",
        before={k: v for k, v in was.items() if now.get(k) != v},
        after={k: v for k, v in now.items() if was.get(k) != v},
    )
