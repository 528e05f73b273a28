"""An alarm's events read back: a channel's head and replay for a socket, a timeline for the
API. They are written by `server.alarms.store.record`, in the wire form both share."""

from collections.abc import Sequence

from sqlalchemy import Select, and_, bindparam, func, or_, select

from server.alarms.models import AlertEvent, AlertGroup, Audience
from server.alarms.store import WIRE, wire
from storage.db import AsyncSession, read

REPLAY_LIMIT = 1000


def render(event: AlertEvent) -> str:
    """The event's wire form; its id comes first, and is what a client resumes from."""
    return wire(event.id, {key: getattr(event, key) for key in WIRE})


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
    scope: select(AlertEvent.id, *(getattr(AlertEvent, key) for key in WIRE))
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
    return [(row[0], wire(row[0], dict(zip(WIRE, row[1:], strict=True)))) for row in rows]


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
