"""The plan: the community's households drawn from their addresses (building → unit → floor
→ room), each lit by what it is now — alarm (an open alarm of it), coming (it answered an open
alarm "coming"), unreachable (no channel works, see `reachability`), away (the register says
so) — and one household's card.

Scope: staff see their community (a grid manager their grid); a building leader sees their
building. The card's spare-key holder and care note are the responder context: the admin sees
them always, other staff while the household has an open alarm, a building leader never; each
look is in the audit log, as `server.alarms.views.responder_context` records it.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select

from groups import audit
from groups.address import building_key
from groups.models import Community, Grid, Group, Household, Resident
from groups.register import mask
from server.accounts import Principal
from server.alarms.models import OPEN, Alert, AlertResponse, Answer
from server.errors import Forbidden, NotFound
from server.reach import reachability, routine
from server.reach.reachability import Reach
from storage.db import AsyncSession

STATES = ("alarm", "coming", "unreachable", "away")


@dataclass(frozen=True, slots=True)
class Scope:
    """What of the community a principal may see on the plan."""

    community_id: int
    grid_id: int | None = None
    building: str | None = None
    staff: bool = False
    admin: bool = False

    def where(self) -> list[ColumnElement[bool]]:
        """The households of the scope."""
        found = [Household.community_id == self.community_id]
        if self.grid_id is not None:
            found.append(Household.grid_id == self.grid_id)
        if self.building is not None:
            found.append(Household.building == self.building)
        return found


def scope_of(principal: Principal) -> Scope:
    """The plan's scope for a principal; Forbidden for a resident who leads no building."""
    if principal.kind == "staff":
        return Scope(
            community_id=principal.community_id,
            grid_id=principal.grid_scope,
            staff=True,
            admin=principal.role == "admin",
        )
    if "building_leader" in principal.roles and principal.building:
        return Scope(community_id=principal.community_id, building=principal.building)
    raise Forbidden("the plan is for staff and building leaders")


@dataclass(slots=True)
class Place:
    """One household on the plan."""

    id: int
    address: str
    building: str
    unit: int
    floor: int
    room: int
    group: str | None
    away_until: date | None
    states: list[str] = field(default_factory=list)
    alert_id: int | None = None
    """The open alarm that lights it (its own, or the one it is coming to)."""
    reach: Reach | None = None


async def today(session: AsyncSession, *, community_id: int, now: datetime) -> date:
    """The community's date now (its time zone)."""
    zone = await session.scalar(select(Community.timezone).where(Community.id == community_id))
    try:
        return now.astimezone(ZoneInfo(zone or "Asia/Shanghai")).date()
    except (KeyError, ValueError):
        return now.date()


async def places(session: AsyncSession, *, scope: Scope, now: datetime) -> list[Place]:
    """Every household of the scope, in the natural order of their addresses, lit."""
    rows = await session.execute(
        select(
            Household.id,
            Household.address,
            Household.building,
            Household.unit,
            Household.floor,
            Household.room,
            Group.name,
            Household.away_until,
        )
        .outerjoin(Group, Group.id == Household.group_id)
        .where(*scope.where())
    )
    found = {row[0]: Place(*row) for row in rows}
    if not found:
        return []
    opened = select(Alert.household_id, Alert.id).where(
        Alert.community_id == scope.community_id,
        Alert.status.in_(OPEN),
        Alert.household_id.is_not(None),
    )
    if not scope.staff:  # a duress alarm looks cancelled to residents
        opened = opened.where(Alert.masked.is_(False))
    alarms = dict((await session.execute(opened.order_by(Alert.id))).all())
    coming = await session.execute(
        select(AlertResponse.household_id, Alert.id)
        .join(Alert, Alert.id == AlertResponse.alert_id)
        .where(
            Alert.community_id == scope.community_id,
            Alert.status.in_(OPEN),
            AlertResponse.answer == Answer.COMING,
            *([] if scope.staff else [Alert.masked.is_(False)]),
        )
        .order_by(Alert.id)
    )
    comes = dict(coming.all())
    day = await today(session, community_id=scope.community_id, now=now)
    reach = await reachability.of_households(
        session, community_id=scope.community_id, households=found, now=now
    )
    for place in found.values():
        place.reach = reach.get(place.id)
        if place.id in alarms:
            place.states.append("alarm")
            place.alert_id = alarms[place.id]
        if place.id in comes:
            place.states.append("coming")
            place.alert_id = place.alert_id or comes[place.id]
        if place.reach is not None and not place.reach.reachable:
            place.states.append("unreachable")
        if place.away_until is not None and place.away_until >= day:
            place.states.append("away")
    return sorted(
        found.values(), key=lambda p: (*building_key(p.building), p.unit, p.floor, p.room)
    )


@dataclass(frozen=True, slots=True)
class Person:
    """A resident as the card shows them: the phone masked."""

    name: str
    phone: str | None
    roles: list[str]


@dataclass(frozen=True, slots=True)
class Card:
    """One household as the plan's card shows it."""

    place: Place
    grid: str | None
    residents: list[Person]
    spare_key_holder: str | None
    care_note: str | None
    context_shown: bool
    """Whether the responder context was shown (and the look recorded)."""
    context_withheld: bool
    """The household has a responder context this principal may not read now."""
    tests: list[routine.TestView]


async def card(
    session: AsyncSession, *, principal: Principal, household_id: int, now: datetime
) -> Card:
    """One household of the principal's scope (NotFound outside it); a look at its responder
    context is recorded in the audit log (the caller commits)."""
    scope = scope_of(principal)
    home = await session.scalar(
        select(Household).where(Household.id == household_id, *scope.where())
    )
    if home is None:
        raise NotFound("no household {household_id} in your scope", household_id=household_id)
    place = (await _one(session, scope=scope, home=home, now=now))[0]
    grid = (
        await session.scalar(select(Grid.name).where(Grid.id == home.grid_id))
        if home.grid_id is not None
        else None
    )
    people = await session.execute(
        select(Resident.name, Resident.phone, Resident.roles)
        .where(Resident.household_id == home.id)
        .order_by(Resident.id)
    )
    residents = [
        Person(name=n, phone=mask(p), roles=[r for r in (roles or "").split(",") if r])
        for n, p, roles in people
    ]
    shown = scope.admin or (scope.staff and "alarm" in place.states)
    has_context = bool(home.spare_key_holder or home.care_note)
    if shown and has_context:
        audit.record(
            session,
            community_id=home.community_id,
            actor=audit.Actor(
                name=principal.name,
                kind=principal.kind,
                id=principal.staff_id if principal.kind == "staff" else principal.resident_id,
            ),
            action="viewed",
            subject=f"household {home.address}",
            note="responder context, the plan's card"
            + (f", alarm {place.alert_id}" if place.alert_id and "alarm" in place.states else ""),
            at=now,
        )
    return Card(
        place=place,
        grid=grid,
        residents=residents,
        spare_key_holder=home.spare_key_holder if shown else None,
        care_note=home.care_note if shown else None,
        context_shown=shown and has_context,
        context_withheld=has_context and not shown,
        tests=await routine.of_household(session, household_id=home.id, now=now, limit=5),
    )


async def _one(
    session: AsyncSession, *, scope: Scope, home: Household, now: datetime
) -> list[Place]:
    one = Scope(
        community_id=scope.community_id,
        grid_id=scope.grid_id,
        building=home.building,
        staff=scope.staff,
        admin=scope.admin,
    )
    return [p for p in await places(session, scope=one, now=now) if p.id == home.id]
