"""The alarm's store: every read and write of an alarm's transaction, in one place.

A press, a step of the alarm's life and a deadline each lock their community, read the alarms
they act on, write the alarm, its events (published when the transaction commits), its outbox
rows (one per phone) and its deadlines, all through here. Statements are built once at import
(SQLAlchemy caches their compiled form); the services (`press`, `lifecycle`, `escalation`)
decide, and hold no SQL of their own.
"""

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, insert, or_, select, update

from groups import duty
from groups.models import Community, Group, Household, Resident, Staff
from notifier.models import PENDING, SENDING, SENT, WITHDRAWN, OutboxMessage
from server.accounts import board_channel, group_channel
from server.alarms import texts
from server.alarms.change import Change
from server.alarms.models import (
    OPEN,
    Alert,
    AlertDeadline,
    AlertEvent,
    AlertGroup,
    AlertResponse,
    Answer,
    Audience,
    Channel,
    Deadline,
    EscalationPolicy,
    EventType,
    Fired,
    IdempotencyKey,
)
from server.alarms.policy import FIELDS, Locked, Policy
from server.runtime.work import last_recorded, publish_later, texts_queued
from storage.db import (
    AsyncSession,
    insert_one,
    read,
    table_of,
    update_one,
    write,
)

# -- the community's lock ---------------------------------------------------------------------

_LOCK = (
    select(Community.timezone, *(getattr(EscalationPolicy, name) for name in FIELDS))
    .outerjoin(EscalationPolicy, EscalationPolicy.community_id == Community.id)
    .where(Community.id == bindparam("community_id"))
    .with_for_update(of=Community)
)


def _locked(community_id: int, timezone: str, stored: Sequence[Any]) -> Locked:
    policy = Policy(*stored) if stored[0] is not None else Policy()
    return Locked(community_id=community_id, timezone=timezone, policy=policy)


async def lock(session: AsyncSession, community_id: int) -> Locked:
    """Lock the community's row for this transaction, so its events commit in id order."""
    timezone, *stored = (await read(session, _LOCK, {"community_id": community_id})).one()
    return _locked(community_id, timezone, stored)


def _lock_with_open(scope: Any) -> Select[Any]:
    """The community's lock and, in the same round trip, the open alarms a press may join."""
    open_alarms = and_(
        Alert.community_id == Community.id,
        scope,
        Alert.status.in_(OPEN),
        Alert.masked.is_(False),
        Alert.drill == bindparam("drill"),
    )
    return _LOCK.add_columns(Alert).outerjoin(Alert, open_alarms).order_by(Alert.id)


_LOCK_WITH_OPEN_OF_GROUP = _lock_with_open(Alert.group_id == bindparam("group_id"))
_LOCK_WITH_OPEN_OF_HOUSEHOLD = _lock_with_open(Alert.household_id == bindparam("household_id"))


async def lock_for_press(
    session: AsyncSession,
    *,
    community_id: int,
    group_id: int | None,
    household_id: int | None,
    drill: bool,
) -> tuple[Locked, list[Alert]]:
    """Lock the community as `lock` does and read, in the same statement, the open unmasked
    alarms (drills or real ones) of a group, or of one household when it has no group, oldest
    first: what a press may join or confirm."""
    params = {
        "community_id": community_id,
        "group_id": group_id,
        "household_id": household_id,
        "drill": drill,
    }
    statement = _LOCK_WITH_OPEN_OF_GROUP if group_id is not None else _LOCK_WITH_OPEN_OF_HOUSEHOLD
    rows = (await session.execute(statement, params)).all()
    timezone, *stored = rows[0][:-1]
    return _locked(community_id, timezone, stored), [row[-1] for row in rows if row[-1]]


# -- alarms -----------------------------------------------------------------------------------


async def repeated(session: AsyncSession, *, resident_id: int, key: str) -> Alert | None:
    """The alarm a resident's press with this Idempotency-Key raised, if it was made before."""
    known = await session.get(IdempotencyKey, (resident_id, key))
    return await session.get(Alert, known.alert_id) if known is not None else None


def remember(
    session: AsyncSession, *, resident_id: int, key: str, alert_id: int, now: datetime
) -> None:
    """Keep a press's Idempotency-Key, so a repeat of it gets the same alarm."""
    session.add(IdempotencyKey(resident_id=resident_id, key=key, alert_id=alert_id, created_at=now))


async def insert_alarm(session: AsyncSession, alert: Alert) -> None:
    """Store a new alarm (its id set); later changes to it flush as usual."""
    await insert_one(session, alert)


async def change_alarm(session: AsyncSession, alert: Alert, **values: Any) -> None:
    """Change columns of a stored alarm in one UPDATE of its row."""
    await update_one(session, alert, **values)


async def alarm(session: AsyncSession, *, alert_id: int) -> Alert | None:
    """An alarm as stored now (not as this session last saw it: another process may have
    changed it before this transaction took the lock)."""
    return await session.get(Alert, alert_id, populate_existing=True)


async def widened_to(session: AsyncSession, *, alert_id: int, group_id: int | None) -> bool:
    """Whether an alarm was widened to a group."""
    return await session.get(AlertGroup, (alert_id, group_id or 0)) is not None


async def group_name(session: AsyncSession, *, group_id: int | None) -> str | None:
    """A group's name."""
    return await session.scalar(select(Group.name).where(Group.id == group_id))


async def household(session: AsyncSession, *, household_id: int | None) -> Household | None:
    """A household, if there is one."""
    return await session.get(Household, household_id) if household_id is not None else None


async def taker(session: AsyncSession, *, alert: Alert) -> str | None:
    """The name of the staff member who took an alarm."""
    return await session.scalar(select(Staff.name).where(Staff.id == alert.taken_by_staff_id))


async def answerable(
    session: AsyncSession, *, group_id: int, household_id: int | None
) -> Alert | None:
    """The newest open alarm a household of a group can answer (of its group, or widened to it;
    not its own)."""
    widened = select(AlertGroup.alert_id).where(AlertGroup.group_id == group_id)
    return await session.scalar(
        select(Alert)
        .where(
            or_(Alert.group_id == group_id, Alert.id.in_(widened)),
            Alert.status.in_(OPEN),
            Alert.masked.is_(False),
            Alert.household_id != household_id,
        )
        .order_by(Alert.id.desc())
        .limit(1)
    )


# -- neighbours' answers ----------------------------------------------------------------------


async def answer(
    session: AsyncSession,
    *,
    alert: Alert,
    household_id: int,
    resident_id: int | None,
    answer: Answer,
    channel: Channel,
    now: datetime,
) -> int:
    """Store a household's answer (a later one replaces it); returns how many are coming."""
    row = await session.scalar(
        select(AlertResponse).where(
            AlertResponse.alert_id == alert.id, AlertResponse.household_id == household_id
        )
    )
    if row is None:
        row = AlertResponse(alert_id=alert.id, household_id=household_id)
        session.add(row)
    row.resident_id, row.answer, row.channel, row.created_at = resident_id, answer, channel, now
    await session.flush()
    coming = await session.scalar(
        select(func.count()).where(
            AlertResponse.alert_id == alert.id, AlertResponse.answer == Answer.COMING
        )
    )
    return coming or 0


async def answered(session: AsyncSession, *, alert_id: int) -> set[int]:
    """The households that answered an alarm, whatever they said."""
    return set(
        await session.scalars(
            select(AlertResponse.household_id).where(AlertResponse.alert_id == alert_id)
        )
    )


# -- widening to the building -----------------------------------------------------------------


async def widen(
    session: AsyncSession, *, alert: Alert, household: Household
) -> tuple[list[int], list[str]]:
    """Widen an alarm to the other groups of its household's building; returns their ids and
    names."""
    found = await session.scalars(
        select(Household.group_id)
        .where(
            Household.community_id == alert.community_id,
            Household.building == household.building,
            Household.group_id.is_not(None),
            Household.group_id != (alert.group_id or 0),
        )
        .distinct()
    )
    group_ids = sorted(g for g in found if g is not None)
    session.add_all(AlertGroup(alert_id=alert.id, group_id=g) for g in group_ids)
    names = await session.scalars(
        select(Group.name).where(Group.id.in_(group_ids)).order_by(Group.id)
    )
    return group_ids, list(names)


# -- who is told, and their outbox rows -----------------------------------------------------

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


# -- events -----------------------------------------------------------------------------------

WIRE = ("type", "alert_id", "community_id", "group_id", "created_at", "actor", "channel", "data")
"""The columns of a stored event its wire form is made of, besides its id."""


def wire(event_id: int, row: dict[str, Any]) -> str:
    """An event's wire form from its id and stored columns; the id comes first, and is what a
    client resumes from."""
    return json.dumps(
        {
            "id": event_id,
            "type": row["type"],
            "alert_id": row["alert_id"],
            "community_id": row["community_id"],
            "group_id": row["group_id"],
            "at": row["created_at"].isoformat().replace("+00:00", "Z"),
            "actor": row["actor"],
            "channel": row["channel"],
            "data": row["data"],
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def summary(alert: Alert) -> dict[str, Any]:
    """What every event says of its alarm, so a client that hears it first can show it."""
    data: dict[str, Any] = {
        "status": alert.status,
        "alert_type": alert.type,
        "household": alert.address,
    }
    if alert.drill:
        data["drill"] = True
        data["drill_label"] = alert.drill_label
    return data


async def audience_groups(session: AsyncSession, alert: Alert) -> list[int]:
    """The groups that hear an alarm: its own, then any it was widened to."""
    groups = [alert.group_id] if alert.group_id is not None else []
    if alert.widened:
        groups += list(
            await session.scalars(
                select(AlertGroup.group_id)
                .where(AlertGroup.alert_id == alert.id)
                .order_by(AlertGroup.group_id)
            )
        )
    return groups


_EVENTS = table_of(AlertEvent)
_INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.id)
_PREV = select(func.max(_EVENTS.c.id)).where(
    _EVENTS.c.community_id == bindparam("community_id"), _EVENTS.c.id < bindparam("event_id")
)


async def _prev(session: AsyncSession, community_id: int, event_id: int) -> int:
    """The id of the community's event before this one (0 if none): the last this transaction
    recorded, else the newest stored (the community's lock is held: none other is written)."""
    known = last_recorded(session, community_id)
    if known is not None:
        return known
    newest = await read(session, _PREV, {"community_id": community_id, "event_id": event_id})
    return int(newest.scalar_one() or 0)


async def record(
    session: AsyncSession,
    change: Change[Any],
    *,
    type: EventType,
    actor: str,
    channel: Channel,
    now: datetime,
    data: dict[str, Any] | None = None,
    audience: Audience = Audience.ALL,
    alert: Alert | None = None,
) -> int:
    """Store one event of an alarm (the change's own unless another is given), to be published
    on the channels of its audience when the transaction commits; returns the event's id. Once
    a raiser under duress has been shown the alarm cancelled, its group hears no more of it."""
    alert = alert or change.alert
    if alert.masked and audience == Audience.ALL:
        audience = Audience.BOARD
    row = {
        "alert_id": alert.id,
        "community_id": alert.community_id,
        "group_id": alert.group_id,
        "type": type,
        "actor": actor,
        "channel": channel,
        "audience": audience,
        "data": {**summary(alert), **(data or {})},
        "created_at": now,
    }
    event_id: int = (await write(session, _INSERT_EVENT, row)).scalar_one()
    channels: list[str] = []
    if audience != Audience.BOARD:
        channels += [group_channel(g) for g in await audience_groups(session, alert)]
    if audience != Audience.GROUP:
        channels.append(board_channel(alert.community_id))
    publish_later(
        session,
        community_id=alert.community_id,
        event_id=event_id,
        prev=await _prev(session, alert.community_id, event_id),
        channels=tuple(channels),
        text=wire(event_id, row),
    )
    if change.event_id is None:
        change.event_id = event_id
    return event_id


# -- deadlines --------------------------------------------------------------------------------

_INSERT_DEADLINES = insert(table_of(AlertDeadline))


async def schedule(
    session: AsyncSession, *, alert: Alert, due: dict[Deadline, datetime], cycle: int = 1
) -> None:
    """Set deadlines of an alarm, soonest first (one insert)."""
    rows = [
        {
            "community_id": alert.community_id,
            "alert_id": alert.id,
            "kind": kind,
            "cycle": cycle,
            "due_at": at,
        }
        for kind, at in sorted(due.items(), key=lambda item: item[1])
    ]
    await write(session, _INSERT_DEADLINES, rows)


async def settle(
    session: AsyncSession,
    *,
    alert_id: int,
    now: datetime,
    kinds: tuple[Deadline, ...] = (Deadline.QUORUM, Deadline.PATROL),
) -> None:
    """Stand down an alarm's pending deadlines (it was taken, closed, or went to the patrol)."""
    await session.execute(
        update(AlertDeadline)
        .where(
            AlertDeadline.alert_id == alert_id,
            AlertDeadline.done_at.is_(None),
            AlertDeadline.kind.in_(kinds),
        )
        .values(done_at=now, outcome=Fired.STOOD_DOWN)
    )


async def due_communities(session: AsyncSession, *, now: datetime) -> list[int]:
    """The communities with a deadline due by now."""
    due = (AlertDeadline.done_at.is_(None), AlertDeadline.due_at <= now)
    found = await session.scalars(select(AlertDeadline.community_id).where(*due).distinct())
    return list(found)


async def due(
    session: AsyncSession, *, community_id: int, now: datetime, limit: int = 100
) -> list[AlertDeadline]:
    """A community's deadlines due by now, soonest first (its lock held)."""
    found = await session.scalars(
        select(AlertDeadline)
        .where(
            AlertDeadline.community_id == community_id,
            AlertDeadline.done_at.is_(None),
            AlertDeadline.due_at <= now,
        )
        .order_by(AlertDeadline.due_at, AlertDeadline.id)
        .limit(limit)
    )
    return list(found)


# -- the all clear ----------------------------------------------------------------------------


async def withdraw_and_find_texted(
    session: AsyncSession, *, alert_id: int, event_id: int, residents: bool, staff: bool
) -> list["Recipient"]:
    """Withdraw an alarm's texts not yet sent (to residents, staff, or both) and return who was
    already texted about it before this event, to be told all clear."""
    whose = []
    if residents:
        whose.append(OutboxMessage.resident_id.is_not(None))
    if staff:
        whose.append(OutboxMessage.staff_id.is_not(None))
    if not whose:
        return []
    mine = (OutboxMessage.alert_id == alert_id, or_(*whose))
    await session.execute(
        update(OutboxMessage).where(*mine, OutboxMessage.status == PENDING).values(status=WITHDRAWN)
    )
    rows = await session.execute(
        select(
            OutboxMessage.to, OutboxMessage.resident_id, OutboxMessage.staff_id, Household.language
        )
        .outerjoin(Resident, OutboxMessage.resident_id == Resident.id)
        .outerjoin(Household, Resident.household_id == Household.id)
        .where(*mine, OutboxMessage.status.in_((SENDING, SENT)), OutboxMessage.event_id < event_id)
        .order_by(OutboxMessage.id)
    )
    return [
        Recipient(to=to, language=language or "zh", resident_id=rid, staff_id=sid)
        for to, rid, sid, language in rows
    ]
