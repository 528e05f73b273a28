"""Alarms as people read them: what a principal may see, with the names it is read by."""

from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select

from groups import audit
from groups.models import PATROL_ROLES, Grid, Group, Household, Resident, Staff
from server.accounts import Principal
from server.alarms.change import Change, Pressed
from server.alarms.models import (
    OPEN,
    Alert,
    AlertDeadline,
    AlertEvent,
    AlertGroup,
    AlertResponse,
    EventType,
)
from server.errors import NotFound
from storage.db import AsyncSession, read


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alarm with the names a person reads it by; `hidden` when the principal must be shown
    a duress alarm as cancelled (the raiser and its group); `board` for staff, who see notes."""

    alert: Alert
    group: str | None
    raised_by: str | None
    taken_by: str | None
    hidden: bool
    board: bool = False
    next_escalation_at: datetime | None = None
    """When the alarm's next stored deadline falls due (the board's countdown)."""
    police: bool = False
    """The police office was called in (the board's: it sorts the police's first)."""
    grid: str | None = None
    """The grid's name (the board's filter)."""


def _visible(principal: Principal) -> Select[Alert, str, str, str]:
    query = (
        select(Alert, Group.name, Resident.name, Staff.name)
        .outerjoin(Group, Alert.group_id == Group.id)
        .outerjoin(Resident, Alert.raised_by_resident_id == Resident.id)
        .outerjoin(Staff, Alert.taken_by_staff_id == Staff.id)
        .where(Alert.community_id == principal.community_id)
    )
    if principal.kind == "resident":
        widened = select(AlertGroup.alert_id).where(AlertGroup.group_id == principal.group_id)
        mine = or_(Alert.group_id == principal.group_id, Alert.id.in_(widened))
        if "building_leader" in principal.roles and principal.building:  # 楼栋长: the building
            mine = or_(mine, Alert.address.startswith(f"{principal.building}-", autoescape=True))
        query = query.where(mine)
    elif principal.grid_scope is not None:
        query = query.where(Alert.grid_id == principal.grid_scope)
    return query


def _view(principal: Principal, row: tuple[Alert, str, str, str]) -> AlertView:
    alert, group, raised_by, taken_by = row
    return AlertView(
        alert=alert,
        group=group,
        raised_by=raised_by,
        taken_by=taken_by,
        hidden=principal.kind == "resident" and alert.masked,
        board=principal.kind == "staff",
    )


_NAMES = select(
    select(Group.name).where(Group.id == bindparam("group_id")).scalar_subquery(),
    select(Resident.name).where(Resident.id == bindparam("resident_id")).scalar_subquery(),
    select(Staff.name).where(Staff.id == bindparam("staff_id")).scalar_subquery(),
)


async def pressed(
    session: AsyncSession, *, principal: Principal, change: Change[Pressed]
) -> AlertView:
    """The alarm a resident's own press raised, joined or repeated, as that resident sees it."""
    alert = change.alert
    if change.outcome == Pressed.RAISED:
        return AlertView(alert, principal.group_name, principal.name, taken_by=None, hidden=False)
    params = {
        "group_id": alert.group_id,
        "resident_id": alert.raised_by_resident_id,
        "staff_id": alert.taken_by_staff_id,
    }
    group, raised_by, taken_by = (await read(session, _NAMES, params)).one()
    return AlertView(alert, group, raised_by, taken_by, hidden=alert.masked)


LIST_LIMIT = 200
"""Alarms a list gives at a time unless asked for fewer or more (at most LIST_MAX)."""
LIST_MAX = 1000


async def list_open(
    session: AsyncSession,
    *,
    principal: Principal,
    limit: int = LIST_LIMIT,
    before_id: int | None = None,
) -> list[AlertView]:
    """The open alarms the principal may see (its group's, or its whole community's), newest
    first, at most limit of them, older than before_id if given (the next page)."""
    query = _visible(principal).where(Alert.status.in_(OPEN))
    if principal.kind == "resident":
        query = query.where(Alert.masked.is_(False))
    return await _page(session, principal, query, limit=limit, before_id=before_id)


async def list_closed(
    session: AsyncSession,
    *,
    principal: Principal,
    since: datetime,
    limit: int = LIST_LIMIT,
    before_id: int | None = None,
) -> list[AlertView]:
    """The alarms closed since a time that the principal may see, newest first, paged as
    list_open is."""
    closed: ColumnElement[bool] = Alert.status.not_in(OPEN)
    lately: ColumnElement[bool] = Alert.updated_at >= since
    if principal.kind == "resident":  # a duress alarm closed, for them, when it was cancelled
        closed = or_(closed, Alert.masked.is_(True))
        lately = func.coalesce(Alert.shown_cancelled_at, Alert.updated_at) >= since
    query = _visible(principal).where(closed, lately)
    return await _page(session, principal, query, limit=limit, before_id=before_id)


async def _page(
    session: AsyncSession,
    principal: Principal,
    query: Select[Alert, str, str, str],
    *,
    limit: int,
    before_id: int | None,
) -> list[AlertView]:
    # Paged by id, newest first: a page never repeats or skips an alarm however many are
    # raised or closed while a client pages (an alarm that changes list moves to the other).
    if before_id is not None:
        query = query.where(Alert.id < before_id)
    rows = await session.execute(query.order_by(Alert.id.desc()).limit(min(limit, LIST_MAX)))
    return await for_board(session, [_view(principal, row) for row in rows])


_NEXT_DUE = (
    select(AlertDeadline.alert_id, func.min(AlertDeadline.due_at))
    .where(
        AlertDeadline.alert_id.in_(bindparam("ids", expanding=True)),
        AlertDeadline.done_at.is_(None),
    )
    .group_by(AlertDeadline.alert_id)
)
_ESCALATIONS = select(AlertEvent.alert_id, AlertEvent.data).where(
    AlertEvent.alert_id.in_(bindparam("ids", expanding=True)),
    AlertEvent.type == EventType.ESCALATED,
)

_GRIDS = select(Grid.id, Grid.name).where(Grid.id.in_(bindparam("ids", expanding=True)))


async def for_board(session: AsyncSession, found: list[AlertView]) -> list[AlertView]:
    """The staff's views with what only the board shows: the next deadline's due time and
    whether the police office was called in (two queries for the whole list)."""
    ids = [v.alert.id for v in found if v.board]
    if not ids:
        return found
    due: dict[int, datetime] = {}
    for alert_id, at in await read(session, _NEXT_DUE, {"ids": ids}):
        due[alert_id] = at
    police = {
        alert_id
        for alert_id, data in await read(session, _ESCALATIONS, {"ids": ids})
        if (data or {}).get("police")
    }
    grid_ids = sorted({v.alert.grid_id for v in found if v.alert.grid_id is not None})
    grids: dict[int, str] = {}
    if grid_ids:
        for grid_id, name in await read(session, _GRIDS, {"ids": grid_ids}):
            grids[grid_id] = name
    return [
        replace(
            v,
            next_escalation_at=due.get(v.alert.id),
            police=v.alert.id in police,
            grid=grids.get(v.alert.grid_id or 0),
        )
        if v.board
        else v
        for v in found
    ]


async def history(
    session: AsyncSession,
    *,
    principal: Principal,
    since: datetime | None = None,
    until: datetime | None = None,
    alert_type: str | None = None,
    group_id: int | None = None,
    grid_id: int | None = None,
    outcome: str | None = None,
    text: str | None = None,
    limit: int = LIST_LIMIT,
    before_id: int | None = None,
) -> list[AlertView]:
    """The closed alarms the principal may see, raised between since and until, of a type,
    group, grid or outcome, whose address or raiser's name holds text; newest first, paged as
    list_open is (a grid manager's are their grid's whatever grid is asked)."""
    query = _visible(principal).where(Alert.status.not_in(OPEN))
    if principal.kind == "resident":
        query = query.where(Alert.masked.is_(False))
    if since is not None:
        query = query.where(Alert.created_at >= since)
    if until is not None:
        query = query.where(Alert.created_at < until)
    for column, wanted in (
        (Alert.type, alert_type),
        (Alert.group_id, group_id),
        (Alert.grid_id, grid_id),
        (Alert.outcome, outcome),
    ):
        if wanted is not None:
            query = query.where(column == wanted)
    if text:
        query = query.where(
            or_(
                Alert.address.contains(text, autoescape=True),
                Resident.name.contains(text, autoescape=True),
            )
        )
    return await _page(session, principal, query, limit=limit, before_id=before_id)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who took a step of an alarm, as a person reads it: a name and what they are."""

    name: str
    role: str
    """The staff member's role, "resident" (with the household's address), or "system"."""
    household: str | None = None


_STAFF_NAMES = select(Staff.id, Staff.name, Staff.role).where(
    Staff.id.in_(bindparam("ids", expanding=True))
)
_RESIDENT_NAMES = (
    select(Resident.id, Resident.name, Household.address)
    .join(Household, Resident.household_id == Household.id)
    .where(Resident.id.in_(bindparam("ids", expanding=True)))
)


async def actors(session: AsyncSession, *, community_id: int, keys: set[str]) -> dict[str, Actor]:
    """The people behind events' actors (`staff:3`, `resident:7`) of a community, by name and
    role; an actor not found (or `system`) is left out."""
    wanted: dict[str, list[int]] = {"staff": [], "resident": []}
    for key in keys:
        kind, _, ident = key.partition(":")
        if kind in wanted and ident.isdigit():
            wanted[kind].append(int(ident))
    found: dict[str, Actor] = {}
    if wanted["staff"]:
        query = _STAFF_NAMES.where(Staff.community_id == community_id)
        for staff_id, name, role in await session.execute(query, {"ids": wanted["staff"]}):
            found[f"staff:{staff_id}"] = Actor(name=name, role=role)
    if wanted["resident"]:
        query = _RESIDENT_NAMES.where(Household.community_id == community_id)
        for resident_id, name, address in await session.execute(query, {"ids": wanted["resident"]}):
            found[f"resident:{resident_id}"] = Actor(name=name, role="resident", household=address)
    return found


_PATROL = (
    select(Staff.id, Staff.name, Staff.role)
    .where(Staff.community_id == bindparam("community_id"), Staff.role.in_(sorted(PATROL_ROLES)))
    .order_by(Staff.name, Staff.id)
)


async def patrol(session: AsyncSession, *, community_id: int) -> list[tuple[int, str, str]]:
    """The community's patrol members and leaders (id, name, role): whom an alarm can go to."""
    return [(i, n, r) for i, n, r in await read(session, _PATROL, {"community_id": community_id})]


_PHONE = select(Resident.phone).where(Resident.id == bindparam("resident_id"))


async def raiser_phone(
    session: AsyncSession, *, principal: Principal, view: AlertView
) -> str | None:
    """The raiser's phone, to call back: for staff alone, while the alarm is open, and each look
    is in the audit log."""
    alert = view.alert
    if principal.kind != "staff" or alert.raised_by_resident_id is None or alert.status not in OPEN:
        return None
    row = (await read(session, _PHONE, {"resident_id": alert.raised_by_resident_id})).one_or_none()
    phone = row[0] if row is not None else None
    if phone:
        audit.record(
            session,
            community_id=alert.community_id,
            actor=audit.Actor(name=principal.name, kind="staff", id=principal.staff_id),
            action="viewed",
            subject=f"raiser of alarm {alert.id}",
            note="the raiser's phone, to call back",
        )
    return phone


async def get(session: AsyncSession, *, principal: Principal, alert_id: int) -> AlertView | None:
    """One alarm, if the principal may see it."""
    row = (await session.execute(_visible(principal).where(Alert.id == alert_id))).first()
    return (await for_board(session, [_view(principal, row)]))[0] if row is not None else None


async def one(session: AsyncSession, *, principal: Principal, alert_id: int) -> AlertView:
    """One alarm the principal may see; NotFound when it is not in its scope."""
    found = await get(session, principal=principal, alert_id=alert_id)
    if found is None:
        raise NotFound("no alarm {alert_id} in your scope", alert_id=alert_id)
    return found


async def responses(
    session: AsyncSession, *, alert_id: int
) -> list[tuple[str, str | None, str, str]]:
    """The neighbours' answers to an alarm: (household, name, answer, channel), oldest first."""
    rows = await session.execute(
        select(Household.address, Resident.name, AlertResponse.answer, AlertResponse.channel)
        .join(Household, AlertResponse.household_id == Household.id)
        .outerjoin(Resident, AlertResponse.resident_id == Resident.id)
        .where(AlertResponse.alert_id == alert_id)
        .order_by(AlertResponse.created_at, AlertResponse.id)
    )
    return [(h, n, a, c) for h, n, a, c in rows]


@dataclass(frozen=True, slots=True)
class ResponderContext:
    """What a responder should know at the door: who holds a spare key, a mobility or medical
    note, whether the household said it is away."""

    spare_key_holder: str | None
    care_note: str | None
    away_until: date | None


_CONTEXT = select(Household.spare_key_holder, Household.care_note, Household.away_until).where(
    Household.id == bindparam("household_id")
)


async def responder_context(
    session: AsyncSession, *, principal: Principal, view: AlertView
) -> ResponderContext | None:
    """The household's responder context, for the patrol and staff on an open alarm and for
    the leader of the alarm's group; None for anyone else or a closed alarm. Each look is in
    the audit log, as is a staff member's look at an unknown caller's whole number."""
    alert = view.alert
    leader = principal.group_leader and principal.group_id == alert.group_id
    if alert.status not in OPEN or not (principal.kind == "staff" or leader):
        return None
    actor = audit.Actor(
        name=principal.name,
        kind=principal.kind,
        id=principal.staff_id if principal.kind == "staff" else principal.resident_id,
    )
    if principal.kind == "staff" and alert.caller:
        audit.record(
            session,
            community_id=alert.community_id,
            actor=actor,
            action="viewed",
            subject=f"caller of alarm {alert.id}",
            note="the unknown caller's whole number",
        )
    if alert.household_id is None:
        return None
    row = (await read(session, _CONTEXT, {"household_id": alert.household_id})).one_or_none()
    if row is None or not any(row):
        return None
    audit.record(
        session,
        community_id=alert.community_id,
        actor=actor,
        action="viewed",
        subject=f"household {alert.address}",
        note=f"responder context, alarm {alert.id}",
    )
    return ResponderContext(*row)
