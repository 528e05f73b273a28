"""The alert lifecycle's first step: a press becomes a stored alarm, its event and its SMS jobs."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, insert, select

from groups.db import AsyncSession, utcnow
from groups.models import Community, Group, Household, Resident
from notifier.models import OutboxMessage
from server.auth import Principal, board_channel, group_channel
from server.events import render
from server.models import ALERT_TYPES, Alert, AlertEvent

SMS_VALID_FOR = timedelta(minutes=30)

TYPE_NAMES = {
    "zh": {
        "help": "求助",
        "medical": "急病",
        "fire": "火情",
        "intrusion": "入室",
        "dispute": "纠纷",
        "other": "其他",
    },
    "en": {
        "help": "help",
        "medical": "medical",
        "fire": "fire",
        "intrusion": "intrusion",
        "dispute": "dispute",
        "other": "other",
    },
}


class Forbidden(Exception):
    """The principal may not do this."""


@dataclass(frozen=True, slots=True)
class Raised:
    """A stored alarm and what is to be published about it."""

    alert: Alert
    event: AlertEvent
    message: str
    channels: tuple[str, ...]
    neighbours: int
    texts: int


def sms_body(*, language: str, address: str, alert_type: str) -> str:
    """The alarm text a neighbour receives, in the neighbour household's language."""
    if language == "en":
        kind = "" if alert_type == "help" else f" ({TYPE_NAMES['en'][alert_type]})"
        return f"[TenWatch] {address} needs help{kind}. Your neighbour needs you now."
    kind = "" if alert_type == "help" else f"（{TYPE_NAMES['zh'][alert_type]}）"
    return f"【十户联防】{address} 求助{kind}，请邻居速往支援。"


async def create(
    session: AsyncSession,
    *,
    principal: Principal,
    alert_type: str,
    address: str | None = None,
    source: str = "app",
) -> Raised:
    """Store an alarm for the principal's own household, its first event and one SMS job per
    neighbour with a phone. The caller commits, then publishes."""
    if alert_type not in ALERT_TYPES:
        raise ValueError(f"unknown alert type {alert_type!r}; use one of {', '.join(ALERT_TYPES)}")
    if principal.kind != "resident" or principal.household_id is None:
        raise Forbidden("only a resident can raise an alarm for their household")
    if address is not None and address != principal.address:
        raise Forbidden("a resident can raise an alarm only for their own household")

    # Events of one community commit in id order: a client resuming from id N misses nothing.
    await session.execute(
        select(Community.id).where(Community.id == principal.community_id).with_for_update()
    )
    now = utcnow()
    alert = Alert(
        community_id=principal.community_id,
        group_id=principal.group_id,
        household_id=principal.household_id,
        raised_by_resident_id=principal.resident_id,
        type=alert_type,
        source=source,
        created_at=now,
        updated_at=now,
    )
    session.add(alert)
    await session.flush()
    event = AlertEvent(
        alert_id=alert.id,
        community_id=alert.community_id,
        group_id=alert.group_id,
        type="alert.raised",
        actor=f"resident:{principal.resident_id}",
        channel=source,
        created_at=now,
        data={
            "alert_type": alert_type,
            "status": alert.status,
            "household": principal.address,
            "raised_by": principal.name,
            "group": principal.group_name,
        },
    )
    session.add(event)
    await session.flush()

    neighbours = (
        (
            await session.execute(
                select(Resident.id, Resident.phone, Household.id, Household.language)
                .join(Household, Resident.household_id == Household.id)
                .where(
                    Household.group_id == principal.group_id,
                    Household.id != principal.household_id,
                )
            )
        ).all()
        if principal.group_id
        else []
    )
    jobs = [
        {
            "community_id": alert.community_id,
            "alert_id": alert.id,
            "event_id": event.id,
            "resident_id": resident_id,
            "to": phone,
            "channel": "sms",
            "body": sms_body(
                language=language, address=principal.address or "", alert_type=alert_type
            ),
            "next_attempt_at": now,
            "expires_at": now + SMS_VALID_FOR,
            "created_at": now,
        }
        for resident_id, phone, _household_id, language in neighbours
        if phone
    ]
    if jobs:
        await session.execute(insert(OutboxMessage), jobs)
    channels: tuple[str, ...] = (board_channel(alert.community_id),)
    if alert.group_id is not None:
        channels = (group_channel(alert.group_id), *channels)
    return Raised(
        alert=alert,
        event=event,
        message=render(event),
        channels=channels,
        neighbours=len({row[2] for row in neighbours}),
        texts=len(jobs),
    )


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alarm with the names a person reads it by."""

    alert: Alert
    household: str | None
    group: str | None
    raised_by: str | None


def _visible(principal: Principal) -> Select[Alert, str, str, str]:
    query = (
        select(Alert, Household.address, Group.name, Resident.name)
        .outerjoin(Household, Alert.household_id == Household.id)
        .outerjoin(Group, Alert.group_id == Group.id)
        .outerjoin(Resident, Alert.raised_by_resident_id == Resident.id)
        .where(Alert.community_id == principal.community_id)
    )
    if principal.kind == "resident":
        query = query.where(Alert.group_id == principal.group_id)
    return query


async def list_open(session: AsyncSession, *, principal: Principal) -> list[AlertView]:
    """The open alarms the principal may see (its group's, or its whole community's)."""
    query = _visible(principal).where(Alert.status == "open")
    rows = await session.execute(query.order_by(Alert.id.desc()).limit(200))
    return [AlertView(alert, address, group, name) for alert, address, group, name in rows]


async def get(session: AsyncSession, *, principal: Principal, alert_id: int) -> AlertView | None:
    """One alarm, if the principal may see it."""
    rows = await session.execute(_visible(principal).where(Alert.id == alert_id))
    for alert, address, group, name in rows:
        return AlertView(alert, address, group, name)
    return None


async def create_unidentified(
    session: AsyncSession,
    *,
    community_id: int,
    group_id: int | None,
    caller: str,
    source: str,
    alert_type: str = "help",
) -> Raised:
    """Store an alarm from a phone no household is registered with: on the called number's group
    (or community) board, with the caller's number to call back. Never refused; no texts.
    The caller commits, then publishes."""
    if alert_type not in ALERT_TYPES:
        raise ValueError(f"unknown alert type {alert_type!r}; use one of {', '.join(ALERT_TYPES)}")
    await session.execute(
        select(Community.id).where(Community.id == community_id).with_for_update()
    )
    group_name = await session.scalar(select(Group.name).where(Group.id == group_id))
    now = utcnow()
    alert = Alert(
        community_id=community_id,
        group_id=group_id,
        type=alert_type,
        source=source,
        caller=caller,
        created_at=now,
        updated_at=now,
    )
    session.add(alert)
    await session.flush()
    event = AlertEvent(
        alert_id=alert.id,
        community_id=community_id,
        group_id=group_id,
        type="alert.raised",
        actor=f"phone:{caller}",
        channel=source,
        created_at=now,
        data={
            "alert_type": alert_type,
            "status": alert.status,
            "household": None,
            "raised_by": "unidentified caller",
            "caller": caller,
            "group": group_name,
        },
    )
    session.add(event)
    await session.flush()
    channels: tuple[str, ...] = (board_channel(community_id),)
    if group_id is not None:
        channels = (group_channel(group_id), *channels)
    return Raised(
        alert=alert, event=event, message=render(event), channels=channels, neighbours=0, texts=0
    )
