"""Alert events as every client sees them: written once, published after commit, replayed alike."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, insert, or_, select

from server.accounts import board_channel, group_channel
from server.alarms.change import Change
from server.alarms.models import Alert, AlertEvent, AlertGroup, Audience, Channel, EventType
from server.runtime.work import publish_later
from storage.db import AsyncSession, read, table_of, write

REPLAY_LIMIT = 1000


_WIRE = ("type", "alert_id", "community_id", "group_id", "created_at", "actor", "channel", "data")
"""The columns of a stored event its wire form is made of, besides its id."""


def render(event: AlertEvent) -> str:
    """The event's wire form; its id comes first, and is what a client resumes from."""
    return _wire(event.id, {key: getattr(event, key) for key in _WIRE})


def _wire(event_id: int, row: dict[str, Any]) -> str:
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


_TABLE = table_of(AlertEvent)
_INSERT = insert(_TABLE).returning(_TABLE.c.id)


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
    event_id: int = (await write(session, _INSERT, row)).scalar_one()
    channels: list[str] = []
    if audience != Audience.BOARD:
        channels += [group_channel(g) for g in await audience_groups(session, alert)]
    if audience != Audience.GROUP:
        channels.append(board_channel(alert.community_id))
    publish_later(session, tuple(channels), _wire(event_id, row))
    if change.event_id is None:
        change.event_id = event_id
    return event_id


_IN_GROUP = and_(  # a group hears its own alarms' events and those of alarms widened to it
    or_(
        AlertEvent.group_id == bindparam("ident"),
        AlertEvent.alert_id.in_(
            select(AlertGroup.alert_id).where(AlertGroup.group_id == bindparam("ident"))
        ),
    ),
    AlertEvent.audience != Audience.BOARD,
)
_IN_BOARD = and_(
    AlertEvent.community_id == bindparam("ident"), AlertEvent.audience != Audience.GROUP
)
_AFTER = {
    scope: select(AlertEvent.id, *(getattr(AlertEvent, key) for key in _WIRE))
    .where(within, AlertEvent.id > bindparam("after"))
    .order_by(AlertEvent.id)
    .limit(bindparam("limit"))
    for scope, within in (("group", _IN_GROUP), ("board", _IN_BOARD))
}
_HEAD: dict[str | None, Select[int]] = {
    None: select(func.max(AlertEvent.id)),
    "group": select(func.max(AlertEvent.id)).where(_IN_GROUP),
    "board": select(func.max(AlertEvent.id)).where(_IN_BOARD),
}


def _scope(channel: str) -> tuple[str, int]:
    scope, _, ident = channel.partition(":")
    if scope not in ("group", "board") or not ident.isdigit():
        raise ValueError(f"unknown channel {channel!r}")
    return scope, int(ident)


async def after(
    session: AsyncSession, *, channel: str, event_id: int, limit: int = REPLAY_LIMIT
) -> Sequence[tuple[int, str]]:
    """The events of a channel newer than event_id, oldest first, rendered (read past the ORM:
    a resuming socket's handshake asks)."""
    scope, ident = _scope(channel)
    rows = await read(session, _AFTER[scope], {"ident": ident, "after": event_id, "limit": limit})
    return [(row[0], _wire(row[0], dict(zip(_WIRE, row[1:], strict=True)))) for row in rows]


async def head(session: AsyncSession, *, channel: str | None = None) -> int:
    """The newest event id of a channel (of all channels when none is given), 0 if none; its
    statements are built once and run past the ORM (`read`): a socket's handshake asks."""
    if channel is None:
        newest = (await read(session, _HEAD[None])).scalar_one()
    else:
        scope, ident = _scope(channel)
        newest = (await read(session, _HEAD[scope], {"ident": ident})).scalar_one()
    return int(newest or 0)


async def of_alert(
    session: AsyncSession, *, alert_id: int, audience: Audience = Audience.ALL
) -> Sequence[AlertEvent]:
    """An alarm's timeline, oldest first, as the given audience may read it."""
    query = select(AlertEvent).where(AlertEvent.alert_id == alert_id)
    if audience == Audience.GROUP:
        query = query.where(AlertEvent.audience != Audience.BOARD)
    elif audience == Audience.BOARD:
        query = query.where(AlertEvent.audience != Audience.GROUP)
    return list(await session.scalars(query.order_by(AlertEvent.id)))
