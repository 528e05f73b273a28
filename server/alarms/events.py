"""An alarm's events read back: a channel's head and replay for a socket, a community's events
for the hub to fill a gap with, a timeline for the API. They are written by
`server.alarms.store.record`, in the wire form all share."""

from collections.abc import Callable, Sequence

from sqlalchemy import Select, and_, bindparam, func, or_, select

from server.accounts import board_channel, grid_channel, group_channel
from server.alarms.models import Alert, AlertEvent, AlertGroup, Audience
from server.alarms.store import WIRE, wire
from storage.db import AsyncSession, read

PAGE = 500
"""Events read at a time where a caller pages through them."""


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
_IN_GRID = and_(  # a grid manager's board: the board's events of the grid's alarms
    AlertEvent.alert_id.in_(select(Alert.id).where(Alert.grid_id == bindparam("ident"))),
    AlertEvent.audience != Audience.GROUP,
)
_SCOPES = (("group", _IN_GROUP), ("board", _IN_BOARD), ("grid", _IN_GRID))
_AFTER = {
    scope: select(AlertEvent.id, *(getattr(AlertEvent, key) for key in WIRE))
    .where(within, AlertEvent.id > bindparam("after"))
    .order_by(AlertEvent.id)
    .limit(bindparam("limit"))
    for scope, within in _SCOPES
}
_COUNT = {
    scope: select(func.count()).where(
        within, AlertEvent.id > bindparam("after"), AlertEvent.id <= bindparam("upto")
    )
    for scope, within in _SCOPES
}
_HEAD: dict[str | None, Select[int]] = {
    None: select(func.max(AlertEvent.id)),
    "group": select(func.max(AlertEvent.id)).where(_IN_GROUP),
    "board": select(func.max(AlertEvent.id)).where(_IN_BOARD),
    "grid": select(func.max(AlertEvent.id)).where(_IN_GRID),
}


def _scope(channel: str) -> tuple[str, int]:
    scope, _, ident = channel.partition(":")
    if scope not in ("group", "board", "grid") or not ident.isdigit():
        raise ValueError(f"unknown channel {channel!r}")
    return scope, int(ident)


async def after(
    session: AsyncSession, *, channel: str, event_id: int, limit: int = PAGE
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


async def count(session: AsyncSession, *, channel: str, after: int, upto: int) -> int:
    """How many events of a channel there are after one id, up to another."""
    scope, ident = _scope(channel)
    params = {"ident": ident, "after": after, "upto": upto}
    return int((await read(session, _COUNT[scope], params)).scalar_one())


_OF_COMMUNITY = (
    select(
        AlertEvent.id,
        AlertEvent.audience,
        select(Alert.grid_id).where(Alert.id == AlertEvent.alert_id).scalar_subquery(),
        *(getattr(AlertEvent, key) for key in WIRE),
    )
    .where(AlertEvent.community_id == bindparam("community_id"), AlertEvent.id > bindparam("after"))
    .order_by(AlertEvent.id)
    .limit(bindparam("limit"))
)
_WIDENED = select(AlertGroup.alert_id, AlertGroup.group_id).where(
    AlertGroup.alert_id.in_(bindparam("alert_ids", expanding=True))
)
_HEADS = (
    select(AlertEvent.community_id, func.max(AlertEvent.id))
    .where(AlertEvent.community_id.in_(bindparam("community_ids", expanding=True)))
    .group_by(AlertEvent.community_id)
)


async def of_community(
    session: AsyncSession, *, community_id: int, after: int, limit: int = PAGE
) -> list[tuple[int, tuple[str, ...], str]]:
    """A community's events newer than an id, oldest first: each with the socket channels it is
    for by the rule a replay follows (its group and the groups its alarm was widened to unless
    it is for the board only, the board unless it is for the group only), and its wire form."""
    params = {"community_id": community_id, "after": after, "limit": limit}
    rows = (await read(session, _OF_COMMUNITY, params)).all()
    widened: dict[int, list[int]] = {}
    if rows:
        alert_ids = sorted({row[4] for row in rows if row[4] is not None})  # a roll call's: none
        for alert_id, group_id in await read(session, _WIDENED, {"alert_ids": alert_ids}):
            widened.setdefault(alert_id, []).append(group_id)
    found = []
    for event_id, audience, grid_id, *columns in rows:
        stored = dict(zip(WIRE, columns, strict=True))
        channels: list[str] = []
        if audience != Audience.BOARD:
            groups = [stored["group_id"]] if stored["group_id"] is not None else []
            channels += [group_channel(g) for g in groups + widened.get(stored["alert_id"], [])]
        if audience != Audience.GROUP:
            channels.append(board_channel(community_id))
            if grid_id is not None:
                channels.append(grid_channel(grid_id))
        found.append((event_id, tuple(channels), wire(event_id, stored)))
    return found


async def heads(session: AsyncSession, *, community_ids: Sequence[int]) -> dict[int, int]:
    """The newest event id of each of these communities that has any (one query)."""
    rows = await read(session, _HEADS, {"community_ids": list(community_ids)})
    return dict(rows.all())


class Reader:
    """The event store as the hub reads it (`notifier.hub.Store`), a short session a read."""

    def __init__(self, sessions: Callable[[], AsyncSession]) -> None:
        self._sessions = sessions

    async def heads(self, community_ids: Sequence[int]) -> dict[int, int]:
        """The newest event id of each community."""
        async with self._sessions() as session:
            return await heads(session, community_ids=community_ids)

    async def community_after(
        self, community_id: int, after_id: int, limit: int
    ) -> Sequence[tuple[int, tuple[str, ...], str]]:
        """A community's events after an id, with their socket channels."""
        async with self._sessions() as session:
            return await of_community(
                session, community_id=community_id, after=after_id, limit=limit
            )

    async def channel_after(
        self, channel: str, after_id: int, limit: int
    ) -> Sequence[tuple[int, str]]:
        """A socket channel's events after an id."""
        async with self._sessions() as session:
            return await after(session, channel=channel, event_id=after_id, limit=limit)


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
