"""Alert events as every client sees them: one JSON text per event, live and on replay alike."""

import json
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select

from groups.db import AsyncSession
from server.models import AlertEvent

REPLAY_LIMIT = 1000


def render(event: AlertEvent) -> str:
    """The event's wire form; its id comes first, and is what a client resumes from."""
    return json.dumps(
        {
            "id": event.id,
            "type": event.type,
            "alert_id": event.alert_id,
            "community_id": event.community_id,
            "group_id": event.group_id,
            "at": event.created_at.isoformat().replace("+00:00", "Z"),
            "actor": event.actor,
            "channel": event.channel,
            "data": event.data,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _in_channel(channel: str) -> ColumnElement[bool]:
    scope, _, ident = channel.partition(":")
    if scope == "group":
        return AlertEvent.group_id == int(ident)
    if scope == "board":
        return AlertEvent.community_id == int(ident)
    raise ValueError(f"unknown channel {channel!r}")


async def after(
    session: AsyncSession, *, channel: str, event_id: int, limit: int = REPLAY_LIMIT
) -> Sequence[tuple[int, str]]:
    """The events of a channel newer than event_id, oldest first, rendered."""
    rows = await session.scalars(
        select(AlertEvent)
        .where(_in_channel(channel), AlertEvent.id > event_id)
        .order_by(AlertEvent.id)
        .limit(limit)
    )
    return [(row.id, render(row)) for row in rows]


async def head(session: AsyncSession, *, channel: str | None = None) -> int:
    """The newest event id of a channel (of all channels when none is given), 0 if none."""
    query = select(func.max(AlertEvent.id))
    if channel is not None:
        query = query.where(_in_channel(channel))
    return int(await session.scalar(query) or 0)
