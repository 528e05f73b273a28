"""Who is told about an alarm, and their outbox rows: one bulk insert, one row per phone."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, insert, or_, select

from groups import duty
from groups.models import Household, Resident, Staff
from notifier.models import OutboxMessage
from server.alarms import texts
from server.alarms.models import Alert
from server.runtime.work import texts_queued
from storage.db import AsyncSession, read, table_of, write

SMS_VALID_FOR = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A phone to text, whose it is, and the language to text it in."""

    to: str
    language: str = "zh"
    resident_id: int | None = None
    staff_id: int | None = None
    household_id: int | None = None


def _residents(rows: Iterable[tuple[int, str | None, int, str]]) -> list[Recipient]:
    return [
        Recipient(to=phone, language=language, resident_id=rid, household_id=hid)
        for rid, phone, hid, language in rows
        if phone
    ]


def _staff(rows: Iterable[Staff | duty.Member]) -> list[Recipient]:
    return [Recipient(to=member.phone, staff_id=member.id) for member in rows]


_NEIGHBOURS = (
    select(Resident.id, Resident.phone, Household.id, Household.language)
    .join(Household, Resident.household_id == Household.id)
    .where(
        Household.group_id.in_(bindparam("group_ids", expanding=True)),
        Household.id != bindparam("exclude"),
    )
)
_INSERT_OUTBOX = insert(table_of(OutboxMessage))
_POLICE_OFFICE = select(Staff.phone, Staff.id).where(
    Staff.community_id == bindparam("community_id"), Staff.role == "police_office"
)


async def neighbours(
    session: AsyncSession, *, group_ids: Iterable[int], exclude_household: int | None
) -> tuple[list[Recipient], int]:
    """The residents of the given groups but the raising household, and how many households."""
    params = {"group_ids": list(group_ids), "exclude": exclude_household or 0}
    rows = (await read(session, _NEIGHBOURS, params)).all()
    return _residents(rows), len({row[2] for row in rows})


async def patrol(
    session: AsyncSession, *, alert: Alert, at: datetime, timezone: str
) -> list[Recipient]:
    """The patrol members on duty for the alarm's area."""
    members = await duty.on_duty(
        session,
        community_id=alert.community_id,
        at=at,
        timezone=timezone,
        household_id=alert.household_id,
    )
    return _staff(members)


async def police_office(session: AsyncSession, *, community_id: int) -> list[Recipient]:
    """The police office's contacts of a community."""
    rows = await read(session, _POLICE_OFFICE, {"community_id": community_id})
    return [Recipient(to=phone, staff_id=staff_id) for phone, staff_id in rows]


async def leaders(session: AsyncSession, *, household: Household) -> list[Recipient]:
    """The building leaders of the household's building and the grid managers of its grid."""
    wanted = [
        and_(
            Household.building == household.building,
            Resident.roles.contains("building_leader"),
        )
    ]
    if household.grid_id is not None:
        wanted.append(
            and_(Household.grid_id == household.grid_id, Resident.roles.contains("grid_manager"))
        )
    residents = (
        await session.execute(
            select(Resident.id, Resident.phone, Household.id, Household.language)
            .join(Household, Resident.household_id == Household.id)
            .where(Household.community_id == household.community_id, or_(*wanted))
        )
    ).all()
    managers = await session.scalars(
        select(Staff).where(
            Staff.community_id == household.community_id,
            Staff.role == "grid_manager",
            or_(Staff.grid_id.is_(None), Staff.grid_id == household.grid_id),
        )
    )
    return _residents(residents) + _staff(managers)


async def queue(
    session: AsyncSession,
    *,
    alert: Alert,
    event_id: int | None,
    recipients: Iterable[Recipient],
    text: Callable[[Recipient], str],
    now: datetime,
    channel: str = "sms",
) -> int:
    """Write one outbox row per distinct phone; returns how many."""
    seen: set[str] = set()
    rows = []
    for recipient in recipients:
        if recipient.to in seen:
            continue
        seen.add(recipient.to)
        rows.append(
            {
                "community_id": alert.community_id,
                "alert_id": alert.id,
                "event_id": event_id,
                "resident_id": recipient.resident_id,
                "staff_id": recipient.staff_id,
                "to": recipient.to,
                "channel": channel,
                "body": text(recipient),
                "next_attempt_at": now,
                "expires_at": now + SMS_VALID_FOR,
                "created_at": now,
            }
        )
    if rows:
        await write(session, _INSERT_OUTBOX, rows)
        texts_queued(session, len(rows))
    return len(rows)


async def tell(
    session: AsyncSession,
    *,
    alert: Alert,
    kind: texts.Kind,
    event_id: int | None,
    recipients: Iterable[Recipient],
    now: datetime,
    channel: str = "sms",
    cycle: int = 1,
    outcome: str = "handled",
) -> int:
    """Queue one text (or call) of a kind about the alarm for each recipient, in their
    language; returns how many."""
    return await queue(
        session,
        alert=alert,
        event_id=event_id,
        recipients=recipients,
        now=now,
        channel=channel,
        text=lambda r: texts.body(
            kind,
            language=r.language,
            address=alert.address or "?",
            alert_type=alert.type,
            drill=alert.drill,
            cycle=cycle,
            outcome=outcome,
        ),
    )
