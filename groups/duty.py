"""The duty roster: who of the patrol is on duty when (weekly shifts and one-off overrides)."""

import re
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, or_, select

from groups.models import PATROL_ROLES, DutyOverride, DutyShift, Household, Staff
from storage.db import AsyncSession, read

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
DAY = 24 * 60


def parse_time(text: str) -> int:
    """Minutes after midnight of a local time like 08:00."""
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time like 08:00")
    return int(match[1]) * 60 + int(match[2])


def parse_days(text: str) -> list[int]:
    """Weekdays (0 = Monday) from 'mon,tue', 'mon-fri' or 'daily'."""
    if text.strip().lower() in ("daily", "all", "*"):
        return list(range(7))
    days: set[int] = set()
    for part in text.lower().split(","):
        first, _, last = part.strip().partition("-")
        try:
            start = WEEKDAYS.index(first[:3])
            end = WEEKDAYS.index(last[:3]) if last else start
        except ValueError:
            raise ValueError(f"{part.strip()!r} is not a weekday like mon or mon-fri") from None
        days.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)])
    return sorted(days)


class Member(NamedTuple):
    """A patrol member as the roster reads them."""

    id: int
    name: str
    role: str
    phone: str
    grid_id: int | None
    language: str = "zh"


class Shift(NamedTuple):
    """The hours of a weekly shift."""

    weekday: int
    starts_minute: int
    ends_minute: int


class Override(NamedTuple):
    """A one-off change to the roster."""

    id: int
    starts_at: datetime
    ends_at: datetime
    on_duty: bool


def covers(shift: Shift | DutyShift, local: datetime) -> bool:
    """Whether a weekly shift covers a local time; a shift ending at or before it starts runs
    past midnight into the next day."""
    minute = local.hour * 60 + local.minute
    day = local.weekday()
    if shift.starts_minute < shift.ends_minute:
        return shift.weekday == day and shift.starts_minute <= minute < shift.ends_minute
    return (shift.weekday == day and minute >= shift.starts_minute) or (
        (shift.weekday + 1) % 7 == day and minute < shift.ends_minute
    )


def is_on_duty(
    *,
    shifts: Iterable[Shift | DutyShift],
    overrides: Iterable[Override | DutyOverride],
    at: datetime,
    timezone: str,
) -> bool:
    """On duty at an instant: the latest override covering it decides, else the weekly shifts."""
    for override in sorted(overrides, key=lambda o: o.id, reverse=True):
        if override.starts_at <= at < override.ends_at:
            return override.on_duty
    local = at.astimezone(ZoneInfo(timezone))
    return any(covers(shift, local) for shift in shifts)


# Built once: on the press path, building a statement costs more than running it. One query
# for the roster and the overrides in force: a staff member's row repeats once per shift and
# override (a handful), which costs less than a second round trip to the database.
_ROSTER = (
    select(
        Staff.id,
        Staff.name,
        Staff.role,
        Staff.phone,
        Staff.grid_id,
        Staff.language,
        DutyShift.id,
        DutyShift.weekday,
        DutyShift.starts_minute,
        DutyShift.ends_minute,
        DutyOverride.id,
        DutyOverride.starts_at,
        DutyOverride.ends_at,
        DutyOverride.on_duty,
    )
    .outerjoin(DutyShift, DutyShift.staff_id == Staff.id)
    .outerjoin(
        DutyOverride,
        and_(
            DutyOverride.staff_id == Staff.id,
            DutyOverride.starts_at <= bindparam("at"),
            DutyOverride.ends_at > bindparam("at"),
        ),
    )
    .where(Staff.community_id == bindparam("community_id"), Staff.role.in_(PATROL_ROLES))
    .order_by(Staff.id)
)
_GRID = select(Household.grid_id).where(Household.id == bindparam("household_id")).scalar_subquery()
_ROSTER_OF_AREA = _ROSTER.where(
    or_(Staff.grid_id.is_(None), _GRID.is_(None), Staff.grid_id == _GRID)
)


async def on_duty(
    session: AsyncSession,
    *,
    community_id: int,
    at: datetime,
    timezone: str,
    household_id: int | None = None,
) -> list[Member]:
    """The patrol members on duty at an instant for an area: a household's grid (staff of no
    grid cover every grid), or the whole community."""
    params = {"community_id": community_id, "household_id": household_id, "at": at}
    rows = await read(session, _ROSTER if household_id is None else _ROSTER_OF_AREA, params)
    staff: dict[int, tuple[Member, dict[int, Shift], dict[int, Override]]] = {}
    for staff_id, name, role, phone, grid_id, language, shift_id, *rest in rows:
        hours, (override_id, *override) = rest[:3], rest[3:]
        if staff_id not in staff:
            member = Member(staff_id, name, role, phone, grid_id, language or "zh")
            staff[staff_id] = (member, {}, {})
        _, shifts, overrides = staff[staff_id]
        if shift_id is not None:
            shifts[shift_id] = Shift(*hours)
        if override_id is not None:
            overrides[override_id] = Override(override_id, *override)
    return [
        member
        for member, shifts, overrides in staff.values()
        if is_on_duty(
            shifts=shifts.values(), overrides=overrides.values(), at=at, timezone=timezone
        )
    ]


async def add_shift(
    session: AsyncSession, *, staff: Staff, days: Iterable[int], starts: int, ends: int
) -> list[DutyShift]:
    """Put a staff member on a weekly shift on the given weekdays."""
    if starts == ends:
        raise ValueError("a shift needs a start and an end that differ")
    rows = [
        DutyShift(
            community_id=staff.community_id,
            staff_id=staff.id,
            weekday=day,
            starts_minute=starts,
            ends_minute=ends,
        )
        for day in days
    ]
    session.add_all(rows)
    await session.flush()
    return rows


async def add_override(
    session: AsyncSession, *, staff: Staff, starts_at: datetime, ends_at: datetime, on_duty: bool
) -> DutyOverride:
    """A one-off change to the roster: on or off duty between two instants."""
    if ends_at <= starts_at:
        raise ValueError("an override ends after it starts")
    row = DutyOverride(
        community_id=staff.community_id,
        staff_id=staff.id,
        starts_at=starts_at,
        ends_at=ends_at,
        on_duty=on_duty,
    )
    session.add(row)
    await session.flush()
    return row


async def find_staff(session: AsyncSession, *, community_id: int, phone: str) -> Staff:
    """The staff member with that phone; LookupError if there is none."""
    staff = await session.scalar(
        select(Staff).where(Staff.community_id == community_id, Staff.phone == phone)
    )
    if staff is None:
        raise LookupError(f"no staff member with phone {phone}")
    return staff
