"""A roll call's events: stored with the alarms' events (of no alarm: `alert_id` is null) and
published when the transaction commits, so a socket that drops and comes back replays them
like any other.

Who hears what: the question (`rollcall.asked`) goes to each asked group's channel only; the
start, the call-out and the close (`rollcall.started`, `rollcall.called`, `rollcall.closed`)
to the community's board only; an answer (`rollcall.answered`) to the household's group (its
other phones stop asking) and the board. The replay's rules (`server.alarms.events`) read them
the same way. A grid manager's board (`grid:{id}`) hears no roll call event: its page reads
the tally instead.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select

from server.accounts import board_channel, group_channel
from server.alarms.models import AlertEvent, Audience, Channel, EventType
from server.alarms.store import lock, wire
from server.runtime.work import last_recorded, publish_later
from storage import deferred
from storage.db import AsyncSession, read, table_of

_EVENTS = table_of(AlertEvent)
_PREV = select(func.max(_EVENTS.c.id)).where(
    _EVENTS.c.community_id == bindparam("community_id"), _EVENTS.c.id < bindparam("event_id")
)


async def _prev(session: AsyncSession, community_id: int, event_id: int) -> int:
    """The community's event before this one (its lock is held: none other is written)."""
    known = last_recorded(session, community_id)
    if known is not None:
        return known
    newest = await read(session, _PREV, {"community_id": community_id, "event_id": event_id})
    return int(newest.scalar_one() or 0)


async def record(
    session: AsyncSession,
    *,
    community_id: int,
    type: EventType,
    audience: Audience,
    actor: str,
    now: datetime,
    data: dict[str, Any],
    group_id: int | None = None,
    channel: Channel = Channel.SYSTEM,
) -> int:
    """Store one roll call event, published on its audience's channels at the commit (the
    community is locked first, so events commit in id order); returns its id."""
    await lock(session, community_id)
    event_id = await deferred.next_id(session, _EVENTS)
    row = {
        "id": event_id,
        "alert_id": None,
        "community_id": community_id,
        "group_id": group_id,
        "type": type,
        "actor": actor,
        "channel": channel,
        "audience": audience,
        "data": data,
        "created_at": now,
    }
    deferred.add(session, _EVENTS, row)
    channels: list[str] = []
    if audience != Audience.BOARD and group_id is not None:
        channels.append(group_channel(group_id))
    if audience != Audience.GROUP:
        channels.append(board_channel(community_id))
    publish_later(
        session,
        community_id=community_id,
        event_id=event_id,
        prev=await _prev(session, community_id, event_id),
        channels=tuple(channels),
        text=wire(event_id, row),
        type=type,
    )
    return event_id
