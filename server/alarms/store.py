"""The alarm's store: the reads and writes of an alarm's transaction.

A press, a step of the alarm's life and a deadline each lock their community, read the alarms
they act on, write the alarm, its events (published when the transaction commits) and its
deadlines through here; who is told and their outbox rows are `recipients`. New rows are written
together at the commit (`storage.deferred`); what a transaction reads twice is in its memo, and
a batch of presses reads it all at once (`prefetch`). Statements are built once at import
(SQLAlchemy caches their compiled form); the services (`press`, `lifecycle`, `escalation`)
decide, and hold no SQL of their own.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select, update

from groups.models import Community, Group, Household, Resident, Staff
from server.accounts import board_channel, grid_channel, group_channel
from server.alarms import recipients, sounders
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
    Status,
)
from server.alarms.policy import FIELDS, Locked, Policy
from server.runtime.work import last_recorded, publish_later
from storage import deferred
from storage.db import AsyncSession, memo, read, table_of, update_one

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
    """Lock the community's row for this transaction, so its events commit in id order (once:
    a batch of presses takes it for all)."""
    held: Locked | None = memo(session).get(("lock", community_id))
    if held is None:
        timezone, *stored = (await read(session, _LOCK, {"community_id": community_id})).one()
        held = memo(session)[("lock", community_id)] = _locked(community_id, timezone, stored)
    return held


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
    first: what a press may join or confirm. Later presses of the same transaction read them
    from memory, with the alarms the transaction raised (`insert_alarm` adds them)."""
    scope = ("open", "group", group_id) if group_id else ("open", "household", household_id)
    known: list[Alert] | None = memo(session).get((*scope, drill))
    if known is not None:
        return await lock(session, community_id), known
    params = {
        "community_id": community_id,
        "group_id": group_id,
        "household_id": household_id,
        "drill": drill,
    }
    statement = _LOCK_WITH_OPEN_OF_GROUP if group_id is not None else _LOCK_WITH_OPEN_OF_HOUSEHOLD
    rows = (await session.execute(statement, params)).all()
    timezone, *stored = rows[0][:-1]
    locked = memo(session).setdefault(
        ("lock", community_id), _locked(community_id, timezone, stored)
    )
    found = memo(session)[(*scope, drill)] = [row[-1] for row in rows if row[-1]]
    return locked, found


@dataclass(frozen=True, slots=True)
class Pressing:
    """Who presses, and when, as `prefetch` needs it."""

    group_id: int | None
    household_id: int
    resident_id: int
    key: str | None
    drill: bool
    now: datetime


_KEYS_OF = select(IdempotencyKey.resident_id, IdempotencyKey.key, IdempotencyKey.alert_id).where(
    IdempotencyKey.resident_id.in_(bindparam("residents", expanding=True))
)


_EVENTS_OF_COMMUNITY = table_of(AlertEvent)
_LOCK_AND_NEWEST = _LOCK.add_columns(
    select(func.max(_EVENTS_OF_COMMUNITY.c.id))
    .where(_EVENTS_OF_COMMUNITY.c.community_id == Community.id)
    .scalar_subquery()
)
_OPEN_OF_COMMUNITY = (
    Alert.community_id == bindparam("community_id"),
    Alert.status.in_(OPEN),
    Alert.masked.is_(False),
    Alert.drill == bindparam("drill"),
)
_OLDEST_IN_WINDOW = (
    select(func.min(Alert.id))
    .where(
        *_OPEN_OF_COMMUNITY,
        Alert.group_id.in_(bindparam("groups", expanding=True)),
        Alert.created_at >= bindparam("since"),
    )
    .group_by(Alert.group_id)
)
_OPEN_FOR_BATCH = (
    select(Alert)
    .where(
        *_OPEN_OF_COMMUNITY,
        or_(
            Alert.household_id.in_(bindparam("households", expanding=True)),
            Alert.id.in_(_OLDEST_IN_WINDOW),
        ),
    )
    .order_by(Alert.id)
)


async def prefetch(
    session: AsyncSession, *, community_id: int, pressing: Sequence[Pressing], at: datetime
) -> None:
    """Lock the community and read at once what a batch of its presses will ask one by one —
    the open alarms they may join or confirm, the groups' residents and grids, the roster, the
    keys already used — so that the presses themselves read nothing (what `lock_for_press`,
    `recipients` and `repeated` find in this transaction's memo) and their rows are written in
    one go at the commit.

    Of a group's open alarms only those a press can use are read: its own household's (to
    join) and the oldest within the confirm window (to confirm). In a storm a group holds many
    open alarms, and reading them all for every batch grew with the storm."""
    cache = memo(session)
    params: dict[str, Any] = {"community_id": community_id}
    timezone, *stored, newest = (await read(session, _LOCK_AND_NEWEST, params)).one()
    locked = cache.setdefault(("lock", community_id), _locked(community_id, timezone, stored))
    cache[("newest", community_id)] = int(newest or 0)
    groups = sorted({p.group_id for p in pressing if p.group_id})
    alone = sorted({p.household_id for p in pressing if not p.group_id})
    window = timedelta(seconds=locked.policy.confirm_seconds)
    params |= {
        "groups": groups,
        "households": sorted({p.household_id for p in pressing}),
        "since": max(p.now for p in pressing) - window,  # in every press's window
    }
    for drill in sorted({p.drill for p in pressing}):
        found = await session.scalars(_OPEN_FOR_BATCH, {**params, "drill": drill})
        of_scope: dict[Any, list[Alert]] = {("group", g): [] for g in groups}
        of_scope.update({("household", h): [] for h in alone})
        for alert in found:
            scope = (
                ("group", alert.group_id) if alert.group_id else ("household", alert.household_id)
            )
            of_scope.setdefault(scope, []).append(alert)
        for (kind, ident), alerts in of_scope.items():
            cache[("open", kind, ident, drill)] = alerts
    # Ids are reserved under the lock, so that the community's events commit in id order.
    presses = len(pressing)  # each raises an alarm, with up to three events
    await deferred.reserve(session, {_ALERTS: presses, _EVENTS: 3 * presses})
    await recipients.prefetch(
        session,
        community_id=community_id,
        group_ids=groups,
        at=at,
        timezone=locked.timezone,
        police=len(pressing) > 1,
    )
    await sounders.prefetch(session, community_id=community_id)  # the sirens: once a batch
    await _prefetch_cancels(
        session,
        households=sorted({p.household_id for p in pressing}),
        since=min(p.now for p in pressing) - QUIET_AFTER_CANCEL,
    )
    keyed = {(p.resident_id, p.key) for p in pressing if p.key is not None}
    if keyed:
        residents = {"residents": sorted({r for r, _ in keyed})}
        known = {(r, k): a for r, k, a in (await read(session, _KEYS_OF, residents)).all()}
        for resident, key in keyed:
            alert_id = known.get((resident, key))
            cache[("key", resident, key)] = (
                await session.get(Alert, alert_id) if alert_id is not None else None
            )


QUIET_AFTER_CANCEL = timedelta(seconds=60)
"""How long after a household cancelled its alarm (a false alarm, with its PIN) a new press of
the same household re-alerts without texting everyone again (`press`; docs/lifecycle.md)."""

_CANCELLED_SINCE = (
    select(Alert.household_id, Alert.drill, Alert.id, Alert.closed_at)
    .where(
        Alert.household_id.in_(bindparam("households", expanding=True)),
        Alert.closed_at >= bindparam("since"),
        Alert.status == Status.CANCELLED,
    )
    .order_by(Alert.id)
)


async def _prefetch_cancels(
    session: AsyncSession, *, households: Sequence[int], since: datetime
) -> None:
    """Read at once the alarms these households cancelled since a time (the newest of each,
    drills apart), for `cancelled_lately` to find in the memo."""
    cache = memo(session)
    for household_id in households:
        for drill in (False, True):
            cache[("cancelled", household_id, drill)] = None
    params = {"households": list(households), "since": since}
    for whose, drill, alert_id, closed_at in await read(session, _CANCELLED_SINCE, params):
        cache[("cancelled", whose, drill)] = (alert_id, closed_at)


async def cancelled_lately(
    session: AsyncSession, *, household_id: int, drill: bool, now: datetime
) -> int | None:
    """The household's alarm (a drill or a real one) that it cancelled within
    QUIET_AFTER_CANCEL before now, if any (the newest)."""
    since = now - QUIET_AFTER_CANCEL
    cache = memo(session)
    key = ("cancelled", household_id, drill)
    if key not in cache:
        await _prefetch_cancels(session, households=[household_id], since=since)
    found: tuple[int, datetime] | None = cache[key]
    return found[0] if found is not None and found[1] >= since else None


_OPEN_OF_CALLER = (
    select(Alert)
    .where(
        Alert.community_id == bindparam("community_id"),
        Alert.status.in_(OPEN),
        Alert.caller == bindparam("caller"),
        Alert.drill.is_(False),
    )
    .order_by(Alert.id)
    .limit(1)
)


async def open_of_caller(session: AsyncSession, *, community_id: int, caller: str) -> Alert | None:
    """The open alarm an unidentified caller raised in a community (by call or text, on any of
    its alarm numbers), that a later call or text of the same phone joins."""
    params = {"community_id": community_id, "caller": caller}
    found: Alert | None = await session.scalar(_OPEN_OF_CALLER, params)
    return found


def _opened(session: AsyncSession, alert: Alert) -> None:
    """A new alarm is open: the presses after it in this transaction may join or confirm it."""
    cache = memo(session)
    for scope in (("open", "group", alert.group_id), ("open", "household", alert.household_id)):
        known: list[Alert] | None = cache.get((*scope, alert.drill))
        if known is not None and not alert.masked:
            known.append(alert)


# -- alarms -----------------------------------------------------------------------------------


_KEYS = table_of(IdempotencyKey)
_ALERTS = table_of(Alert)


async def repeated(session: AsyncSession, *, resident_id: int, key: str) -> Alert | None:
    """The alarm a resident's press with this Idempotency-Key raised, if it was made before
    (or earlier in this transaction)."""
    cache = memo(session)
    if ("key", resident_id, key) in cache:
        found: Alert | None = cache[("key", resident_id, key)]
        return found
    known = await session.get(IdempotencyKey, (resident_id, key))
    return await session.get(Alert, known.alert_id) if known is not None else None


def remember(
    session: AsyncSession, *, resident_id: int, key: str, alert: Alert, now: datetime
) -> None:
    """Keep a press's Idempotency-Key, so a repeat of it gets the same alarm."""
    row = {"resident_id": resident_id, "key": key, "alert_id": alert.id, "created_at": now}
    deferred.add(session, _KEYS, row)
    memo(session)[("key", resident_id, key)] = alert


async def insert_alarm(session: AsyncSession, alert: Alert) -> None:
    """Store a new alarm, written with the transaction's other new rows; its id is set at once
    and later changes to it are part of what is written."""
    alert.id = await deferred.next_id(session, _ALERTS)
    deferred.add_object(session, alert)
    _opened(session, alert)


async def change_alarm(session: AsyncSession, alert: Alert, **values: Any) -> None:
    """Change columns of an alarm: one UPDATE of a stored one's row, or the values of one this
    transaction is still to write."""
    if "status" in values or "masked" in values:
        for key in [k for k in memo(session) if k[0] == "open"]:
            del memo(session)[key]  # what presses may join is read again
    update_one(session, alert, **values)


async def alarm(session: AsyncSession, *, alert_id: int) -> Alert | None:
    """An alarm as stored now (not as this session last saw it: another process may have
    changed it before this transaction took the lock)."""
    return await session.get(Alert, alert_id, populate_existing=True)


async def widened_to(session: AsyncSession, *, alert_id: int, group_id: int | None) -> bool:
    """Whether an alarm was widened to a group."""
    return await session.get(AlertGroup, (alert_id, group_id or 0)) is not None


async def raiser_name(session: AsyncSession, *, alert: Alert) -> str | None:
    """The name of the resident who raised the alarm (None for a caller or a device)."""
    if alert.raised_by_resident_id is None:
        return None
    return await session.scalar(
        select(Resident.name).where(Resident.id == alert.raised_by_resident_id)
    )


async def group_name(session: AsyncSession, *, group_id: int | None) -> str | None:
    """A group's name."""
    return await session.scalar(select(Group.name).where(Group.id == group_id))


async def household(session: AsyncSession, *, household_id: int | None) -> Household | None:
    """A household, if there is one."""
    return await session.get(Household, household_id) if household_id is not None else None


async def taker(session: AsyncSession, *, alert: Alert) -> str | None:
    """The name of the staff member who took an alarm."""
    return await session.scalar(select(Staff.name).where(Staff.id == alert.taken_by_staff_id))


async def staff_member(session: AsyncSession, *, community_id: int, staff_id: int) -> Staff | None:
    """A staff member of the community (None for another community's or no one)."""
    found = await session.get(Staff, staff_id)
    return found if found is not None and found.community_id == community_id else None


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
_PREV = select(func.max(_EVENTS.c.id)).where(
    _EVENTS.c.community_id == bindparam("community_id"), _EVENTS.c.id < bindparam("event_id")
)


async def _prev(session: AsyncSession, community_id: int, event_id: int) -> int:
    """The id of the community's event before this one (0 if none): the last this transaction
    recorded, else the newest stored (the community's lock is held: none other is written)."""
    known = last_recorded(session, community_id)
    if known is None:
        known = memo(session).get(("newest", community_id))  # read with the lock (`prefetch`)
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
    event_id = await deferred.next_id(session, _EVENTS)
    row = {
        "id": event_id,
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
    deferred.add(session, _EVENTS, row)
    channels: list[str] = []
    if audience != Audience.BOARD:
        channels += [group_channel(g) for g in await audience_groups(session, alert)]
    if audience != Audience.GROUP:
        channels.append(board_channel(alert.community_id))
        if alert.grid_id is not None:
            channels.append(grid_channel(alert.grid_id))
    publish_later(
        session,
        community_id=alert.community_id,
        event_id=event_id,
        prev=await _prev(session, alert.community_id, event_id),
        channels=tuple(channels),
        text=wire(event_id, row),
        type=type,
        alarm_id=alert.id,
    )
    if change.event_id is None:
        change.event_id = event_id
    return event_id


# -- deadlines --------------------------------------------------------------------------------

_DEADLINES = table_of(AlertDeadline)


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
    deferred.add_all(session, _DEADLINES, rows)


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
