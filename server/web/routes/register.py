"""The register (登记造册) in a browser: the community admin keeps households, residents, groups,
staff, alarm numbers, the roster and the policy; a group leader reads their own group.

Thin routes over groups/register.py (the decisions) and groups/audit.py (the log): a route
parses, authorizes, calls one service function and commits. Another community's ids are 404,
like ids that don't exist. Also serves the page (/register) and the pages' modules
(/static/js/…), and the consent notice of docs/register.md (/api/me/consent).
"""

import re
from datetime import date, datetime, time, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select

from groups import audit, consent, duty, importer, register
from groups.audit import Actor
from groups.directory import NewResident, list_alarm_numbers
from groups.models import Community, Resident, Staff
from server.accounts import Principal
from server.alarms import policy
from server.errors import Forbidden, Invalid, NotFound
from server.web.deps import CurrentPrincipal, Now, Session

api = APIRouter(prefix="/api/register", tags=["register"])
me = APIRouter(prefix="/api/me", tags=["register"])
pages = APIRouter(include_in_schema=False)
STATIC = FilePath(__file__).resolve().parent.parent / "static"
MAX_UPLOAD = importer.MAX_BYTES

Id = Annotated[int, Path(ge=1, le=2**31 - 1, description="An id (the columns are 32-bit).")]
Language = Literal["zh", "en"]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Phone = Annotated[str, Field(min_length=1, max_length=20, description="E.164: +8613800000001")]
ResidentRole = Literal["stairwell_leader", "building_leader", "grid_manager"]
StaffRole = Literal["patrol_member", "patrol_leader", "grid_manager", "police_office", "admin"]
Grid = Annotated[str | None, Field(max_length=50)]


# -- who may ---------------------------------------------------------------------------------


def _admin(principal: Principal) -> Actor:
    if principal.kind != "staff" or principal.role != "admin":
        raise Forbidden("only the community admin keeps the register")
    return actor_of(principal)


def _reader(principal: Principal) -> int | None:
    """The group a reader may see (None: the admin, every group)."""
    if principal.kind == "staff" and principal.role == "admin":
        return None
    if principal.kind == "resident" and principal.group_leader and principal.group_id:
        return principal.group_id
    raise Forbidden("only the community admin and group leaders read the register")


def actor_of(principal: Principal) -> Actor:
    """The audit log's actor for a principal."""
    person = principal.staff_id if principal.kind == "staff" else principal.resident_id
    return Actor(name=principal.name, kind=principal.kind, id=person)


def _refusing(exc: Exception) -> Exception:
    if isinstance(exc, LookupError):
        return NotFound(str(exc.args[0]) if exc.args else "not found")
    return Invalid(str(exc))


# -- shapes ----------------------------------------------------------------------------------


class ResidentOut(BaseModel):
    """A person of a household (phone masked for those who don't need it)."""

    id: int
    name: str
    phone: str | None
    roles: list[str]


class HouseholdOut(BaseModel):
    """A household as the register lists it."""

    id: int
    address: str
    group_id: int | None
    group: str | None
    leader: bool = Field(description="The group's leader household (十户长).")
    grid: str | None
    language: str
    residents: list[ResidentOut]
    spare_key_holder: str | None = None
    care_note: str | None = None
    away_until: date | None = None


class HouseholdPage(BaseModel):
    """One page of households and how many match in all."""

    households: list[HouseholdOut]
    total: int


class Changed(BaseModel):
    """What a change did: the id it made or changed, and what the admin should know (groups
    left below the policy's size)."""

    id: int | None
    notes: list[str] = []


class ResidentIn(BaseModel):
    """A person to register in a household."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    phone: Phone | None = None
    roles: list[ResidentRole] = Field(default=[], max_length=3)


class MoveIn(BaseModel):
    """A household moving in, with its residents and (optionally) its responder context."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=1, max_length=40, description="Like B11-1-301.")
    residents: list[ResidentIn] = Field(min_length=1, max_length=20)
    grid: Grid = None
    language: Language = "zh"
    spare_key_holder: str | None = Field(None, max_length=200)
    care_note: str | None = Field(None, max_length=500)
    away_until: date | None = None


class HouseholdEdit(BaseModel):
    """Fields of a household to change (a field left out stays; null clears it)."""

    model_config = ConfigDict(extra="forbid")

    language: Language | None = None
    grid: Grid = None
    spare_key_holder: str | None = Field(None, max_length=200)
    care_note: str | None = Field(None, max_length=500)
    away_until: date | None = None


class ResidentEdit(BaseModel):
    """Fields of a resident to change (phone null: no phone)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    phone: Phone | None = None
    roles: list[ResidentRole] | None = Field(None, max_length=3)


class GroupMove(BaseModel):
    """The group a household moves to."""

    model_config = ConfigDict(extra="forbid")

    group_id: int = Field(ge=1, le=2**31 - 1)


class LeaderChoice(BaseModel):
    """The household that leads the group."""

    model_config = ConfigDict(extra="forbid")

    household_id: int = Field(ge=1, le=2**31 - 1)


class GroupOut(BaseModel):
    """A ten-household group."""

    id: int
    name: str
    size: int
    leader: str | None = Field(description="The leader household's address.")
    leader_chosen: bool = Field(description="The admin chose the leader (it stays).")


class StaffOut(BaseModel):
    """A member of staff."""

    id: int
    name: str
    phone: str
    role: str
    grid: str | None
    language: str


class StaffIn(BaseModel):
    """A member of staff to register."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    phone: Phone
    role: StaffRole
    grid: Grid = None
    language: Language = "zh"


class StaffEdit(BaseModel):
    """Fields of a staff member to change."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    phone: Phone | None = None
    role: StaffRole | None = None
    grid: Grid = None
    language: Language | None = None


class AlarmNumberOut(BaseModel):
    """A number people call or text for help."""

    id: int
    number: str
    group_id: int | None
    group: str | None = Field(description="The group it serves; null: the whole community.")


class AlarmNumberIn(BaseModel):
    """A number to register for alarms."""

    model_config = ConfigDict(extra="forbid")

    number: Phone
    group_id: int | None = Field(None, ge=1, le=2**31 - 1)


class ShiftOut(BaseModel):
    """A weekly shift."""

    id: int
    staff_id: int
    staff: str
    day: str
    starts: str
    ends: str


class OverrideOut(BaseModel):
    """A one-off change to the roster."""

    id: int
    staff_id: int
    staff: str
    starts_at: datetime
    ends_at: datetime
    on_duty: bool


class RosterOut(BaseModel):
    """The duty roster."""

    shifts: list[ShiftOut]
    overrides: list[OverrideOut]


class ShiftIn(BaseModel):
    """A weekly shift of a staff member, in the community's local time."""

    model_config = ConfigDict(extra="forbid")

    staff_id: int = Field(ge=1, le=2**31 - 1)
    days: str = Field(min_length=1, max_length=40, description="mon, mon-fri, sat,sun or daily.")
    starts: str = Field(pattern=r"^\d{1,2}:\d{2}$", description="Like 08:00.")
    ends: str = Field(pattern=r"^\d{1,2}:\d{2}$", description="At or before starts: next day.")


class OverrideIn(BaseModel):
    """A staff member on (or off) duty for a while."""

    model_config = ConfigDict(extra="forbid")

    staff_id: int = Field(ge=1, le=2**31 - 1)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    on_duty: bool = True


class PolicyOut(BaseModel):
    """A community's escalation policy (seconds)."""

    quorum: int
    quorum_seconds: int
    patrol_seconds: int
    repeat_seconds: int
    max_cycles: int
    cancel_seconds: int
    confirm_seconds: int


class PolicyChange(BaseModel):
    """Fields of the policy to change."""

    model_config = ConfigDict(extra="forbid")

    quorum: int | None = Field(None, ge=0, le=50)
    quorum_seconds: int | None = Field(None, ge=1, le=86400)
    patrol_seconds: int | None = Field(None, ge=1, le=86400)
    repeat_seconds: int | None = Field(None, ge=1, le=86400)
    max_cycles: int | None = Field(None, ge=1, le=100)
    cancel_seconds: int | None = Field(None, ge=1, le=86400)
    confirm_seconds: int | None = Field(None, ge=1, le=86400)


class RowErrorOut(BaseModel):
    """One bad row of an import (rows numbered as a spreadsheet shows them, header = 1)."""

    row: int
    reason: str


class ImportRefused(BaseModel):
    """Why nothing was imported: the sentence, and each bad row."""

    detail: str
    errors: list[RowErrorOut] = []


class ImportOut(BaseModel):
    """What an import wrote."""

    households: int
    residents: int
    staff: int
    groups: int
    notes: list[str] = Field(description="Groups it left below the policy's size.")


class AuditOut(BaseModel):
    """One entry of the audit log."""

    id: int
    at: datetime
    actor: str
    actor_kind: str
    actor_id: int | None
    action: str
    subject: str
    before: Any
    after: Any
    note: str | None


class AuditPage(BaseModel):
    """One page of the audit log, newest first, and how many entries match in all."""

    entries: list[AuditOut]
    total: int


class ConsentOut(BaseModel):
    """What is kept about you and who sees it, in your language, and when you consented."""

    language: str
    title: str
    paragraphs: list[str]
    agree: str
    version: str
    consented_at: datetime | None


class LanguageOut(BaseModel):
    """The language the pages and texts use for you."""

    language: Language


class LanguageIn(BaseModel):
    """The language to use for you."""

    model_config = ConfigDict(extra="forbid")

    language: Language


# -- households ------------------------------------------------------------------------------


def _household(e: register.Entry, *, full: bool, own: bool = False) -> HouseholdOut:
    h = e.household
    show = full or own
    return HouseholdOut(
        id=h.id,
        address=h.address,
        group_id=h.group_id,
        group=e.group,
        leader=e.leader,
        grid=e.grid,
        language=h.language,
        residents=[
            ResidentOut(
                id=r.id,
                name=r.name,
                phone=r.phone if show else register.mask(r.phone),
                roles=sorted(r.role_set),
            )
            for r in h.residents
        ],
        spare_key_holder=h.spare_key_holder if full else None,
        care_note=h.care_note if full else None,
        away_until=h.away_until if full else None,
    )


@api.get("/households", response_model=HouseholdPage)
async def list_households(
    principal: CurrentPrincipal,
    session: Session,
    q: Annotated[str | None, Query(max_length=100, description="Address, name or phone.")] = None,
    group_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HouseholdPage:
    """Search the register's households (phones masked; open one to see them in full)."""
    scope = _reader(principal)
    if scope is not None:
        if group_id not in (None, scope):
            raise Forbidden("a group leader reads their own group only")
        group_id = scope
    entries, total = await register.households(
        session,
        community_id=principal.community_id,
        text=q,
        group_id=group_id,
        limit=limit,
        offset=offset,
    )
    return HouseholdPage(
        households=[
            _household(e, full=False, own=e.household.id == principal.household_id) for e in entries
        ],
        total=total,
    )


@api.get("/households/{household_id}", response_model=HouseholdOut)
async def get_household(
    household_id: Id, principal: CurrentPrincipal, session: Session
) -> HouseholdOut:
    """One household: for the admin with full phones and responder context (the look is
    recorded in the audit log); for a group leader, one of their group, masked."""
    scope = _reader(principal)
    try:
        found = await register.entry(
            session, community_id=principal.community_id, household_id=household_id
        )
    except LookupError as exc:
        raise _refusing(exc) from exc
    if scope is not None:
        if found.household.group_id != scope:
            raise NotFound(f"no household {household_id} in your group")
        return _household(found, full=False, own=household_id == principal.household_id)
    audit.record(
        session,
        community_id=principal.community_id,
        actor=actor_of(principal),
        action="viewed",
        subject=f"household {found.household.address}",
        note="full phone numbers and responder context",
    )
    await session.commit()
    return _household(found, full=True)


def _new_residents(people: list[ResidentIn]) -> list[NewResident]:
    return [NewResident(name=p.name, phone=p.phone, roles=frozenset(p.roles)) for p in people]


def _changed(done: register.Done) -> Changed:
    return Changed(id=done.id, notes=done.notes)


@api.post("/households", status_code=201, response_model=Changed)
async def move_in(body: MoveIn, principal: CurrentPrincipal, session: Session) -> Changed:
    """A household moves in: register it with its residents and group it with its neighbours."""
    actor = _admin(principal)
    context = body.model_dump(include=set(register.CONTEXT), exclude_none=True)
    try:
        done = await register.move_in(
            session,
            community_id=principal.community_id,
            actor=actor,
            address=body.address,
            residents=_new_residents(body.residents),
            grid=body.grid,
            language=body.language,
            context=context,
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


@api.patch("/households/{household_id}", response_model=Changed)
async def edit_household(
    household_id: Id, body: HouseholdEdit, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Change a household's language, grid or responder context."""
    actor = _admin(principal)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("language", "") is None:
        raise Invalid("language should be zh or en")
    try:
        done = await register.edit_household(
            session,
            community_id=principal.community_id,
            actor=actor,
            household_id=household_id,
            changes=changes,
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


@api.delete("/households/{household_id}", response_model=Changed)
async def move_out(household_id: Id, principal: CurrentPrincipal, session: Session) -> Changed:
    """A household moves out: remove it and its residents; its group says if it is now small."""
    actor = _admin(principal)
    try:
        done = await register.move_out(
            session, community_id=principal.community_id, actor=actor, household_id=household_id
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


@api.post("/households/{household_id}/group", response_model=Changed)
async def move_to_group(
    household_id: Id, body: GroupMove, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Move a household into another group."""
    actor = _admin(principal)
    try:
        done = await register.move_to_group(
            session,
            community_id=principal.community_id,
            actor=actor,
            household_id=household_id,
            group_id=body.group_id,
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


@api.post("/households/{household_id}/residents", status_code=201, response_model=Changed)
async def add_resident(
    household_id: Id, body: ResidentIn, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Register one more person in a household."""
    actor = _admin(principal)
    [person] = _new_residents([body])
    try:
        done = await register.add_resident(
            session,
            community_id=principal.community_id,
            actor=actor,
            household_id=household_id,
            resident=person,
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


@api.patch("/residents/{resident_id}", response_model=Changed)
async def edit_resident(
    resident_id: Id, body: ResidentEdit, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Change a resident's name, phone or roles."""
    actor = _admin(principal)
    changes = body.model_dump(exclude_unset=True)
    if any(changes.get(k, "") is None for k in ("name", "roles")):
        raise Invalid("name and roles cannot be null")
    try:
        done = await register.edit_resident(
            session,
            community_id=principal.community_id,
            actor=actor,
            resident_id=resident_id,
            changes=changes,
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


@api.delete("/residents/{resident_id}", response_model=Changed)
async def remove_resident(
    resident_id: Id, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Take a person off their household."""
    actor = _admin(principal)
    try:
        done = await register.remove_resident(
            session, community_id=principal.community_id, actor=actor, resident_id=resident_id
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


# -- groups ----------------------------------------------------------------------------------


@api.get("/groups", response_model=list[GroupOut])
async def list_groups(principal: CurrentPrincipal, session: Session) -> list[GroupOut]:
    """The community's groups (a group leader: their own), with sizes and leaders."""
    scope = _reader(principal)
    return [
        GroupOut(
            id=g.group.id,
            name=g.group.name,
            size=g.size,
            leader=g.leader,
            leader_chosen=g.group.leader_chosen_at is not None,
        )
        for g in await register.groups(session, community_id=principal.community_id)
        if scope is None or g.group.id == scope
    ]


@api.put("/groups/{group_id}/leader", response_model=Changed)
async def choose_leader(
    group_id: Id, body: LeaderChoice, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Choose the group's leader household (十户长)."""
    actor = _admin(principal)
    try:
        done = await register.choose_leader(
            session,
            community_id=principal.community_id,
            actor=actor,
            group_id=group_id,
            household_id=body.household_id,
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


# -- staff -----------------------------------------------------------------------------------


@api.get("/staff", response_model=list[StaffOut])
async def list_staff(principal: CurrentPrincipal, session: Session) -> list[StaffOut]:
    """The community's staff."""
    _admin(principal)
    return [
        StaffOut(
            id=e.staff.id,
            name=e.staff.name,
            phone=e.staff.phone,
            role=e.staff.role,
            grid=e.grid,
            language=e.staff.language,
        )
        for e in await register.staff(session, community_id=principal.community_id)
    ]


@api.post("/staff", status_code=201, response_model=Changed)
async def add_staff(body: StaffIn, principal: CurrentPrincipal, session: Session) -> Changed:
    """Register a member of staff."""
    actor = _admin(principal)
    try:
        done = await register.add_staff(
            session, community_id=principal.community_id, actor=actor, **body.model_dump()
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


@api.patch("/staff/{staff_id}", response_model=Changed)
async def edit_staff(
    staff_id: Id, body: StaffEdit, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Change a staff member's name, phone, role, grid or language."""
    actor = _admin(principal)
    changes = body.model_dump(exclude_unset=True)
    if any(changes.get(k, "") is None for k in ("name", "phone", "role", "language")):
        raise Invalid("name, phone, role and language cannot be null")
    try:
        done = await register.edit_staff(
            session,
            community_id=principal.community_id,
            actor=actor,
            staff_id=staff_id,
            changes=changes,
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


@api.delete("/staff/{staff_id}", response_model=Changed)
async def remove_staff(staff_id: Id, principal: CurrentPrincipal, session: Session) -> Changed:
    """Take a member of staff off the register."""
    actor = _admin(principal)
    try:
        done = await register.remove_staff(
            session, community_id=principal.community_id, actor=actor, staff_id=staff_id
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


# -- alarm numbers ---------------------------------------------------------------------------


@api.get("/alarm-numbers", response_model=list[AlarmNumberOut])
async def list_numbers(principal: CurrentPrincipal, session: Session) -> list[AlarmNumberOut]:
    """The numbers people call or text for help."""
    _admin(principal)
    return [
        AlarmNumberOut(id=n.id, number=n.number, group_id=n.group_id, group=name)
        for n, name in await list_alarm_numbers(session, community_id=principal.community_id)
    ]


@api.post("/alarm-numbers", status_code=201, response_model=Changed)
async def add_number(body: AlarmNumberIn, principal: CurrentPrincipal, session: Session) -> Changed:
    """Register a number for a group's alarms (or, without a group, the community's)."""
    actor = _admin(principal)
    try:
        done = await register.add_alarm_number(
            session,
            community_id=principal.community_id,
            actor=actor,
            number=body.number,
            group_id=body.group_id,
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


@api.delete("/alarm-numbers/{number_id}", response_model=Changed)
async def remove_number(number_id: Id, principal: CurrentPrincipal, session: Session) -> Changed:
    """Stop a number raising alarms."""
    actor = _admin(principal)
    try:
        done = await register.remove_alarm_number(
            session, community_id=principal.community_id, actor=actor, number_id=number_id
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


# -- the duty roster -------------------------------------------------------------------------


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@api.get("/roster", response_model=RosterOut)
async def get_roster(principal: CurrentPrincipal, session: Session) -> RosterOut:
    """Every weekly shift and one-off override."""
    _admin(principal)
    shifts, overrides = await register.roster(session, community_id=principal.community_id)
    return RosterOut(
        shifts=[
            ShiftOut(
                id=s.id,
                staff_id=m.id,
                staff=m.name,
                day=duty.WEEKDAYS[s.weekday],
                starts=_hhmm(s.starts_minute),
                ends=_hhmm(s.ends_minute),
            )
            for s, m in shifts
        ],
        overrides=[
            OverrideOut(
                id=o.id,
                staff_id=m.id,
                staff=m.name,
                starts_at=o.starts_at,
                ends_at=o.ends_at,
                on_duty=o.on_duty,
            )
            for o, m in overrides
        ],
    )


@api.post("/roster/shifts", status_code=201, response_model=Changed)
async def add_shift(body: ShiftIn, principal: CurrentPrincipal, session: Session) -> Changed:
    """Put a staff member on a weekly shift."""
    actor = _admin(principal)
    try:
        done = await register.add_shift(
            session, community_id=principal.community_id, actor=actor, **body.model_dump()
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


@api.post("/roster/overrides", status_code=201, response_model=Changed)
async def add_override(body: OverrideIn, principal: CurrentPrincipal, session: Session) -> Changed:
    """Put a staff member on (or off) duty for a while."""
    actor = _admin(principal)
    try:
        done = await register.add_override(
            session, community_id=principal.community_id, actor=actor, **body.model_dump()
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


@api.delete("/roster/shifts/{shift_id}", response_model=Changed)
async def delete_shift(shift_id: Id, principal: CurrentPrincipal, session: Session) -> Changed:
    """Take a weekly shift off the roster."""
    actor = _admin(principal)
    try:
        done = await register.delete_shift(
            session, community_id=principal.community_id, actor=actor, shift_id=shift_id
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


@api.delete("/roster/overrides/{override_id}", response_model=Changed)
async def delete_override(
    override_id: Id, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Take an override off the roster."""
    actor = _admin(principal)
    try:
        done = await register.delete_override(
            session, community_id=principal.community_id, actor=actor, override_id=override_id
        )
    except (ValueError, LookupError) as exc:
        raise _refusing(exc) from exc
    await session.commit()
    return _changed(done)


# -- the escalation policy -------------------------------------------------------------------


@api.get("/policy", response_model=PolicyOut)
async def get_policy(principal: CurrentPrincipal, session: Session) -> PolicyOut:
    """The community's escalation policy."""
    _admin(principal)
    return PolicyOut(**(await policy.get(session, community_id=principal.community_id)).as_dict())


@api.put("/policy", response_model=PolicyOut)
async def update_policy(
    body: PolicyChange, principal: CurrentPrincipal, session: Session
) -> PolicyOut:
    """Change the escalation policy (recorded in the audit log)."""
    actor = _admin(principal)
    before = (await policy.get(session, community_id=principal.community_id)).as_dict()
    changes = body.model_dump(exclude_none=True)
    try:
        after = await policy.update(session, community_id=principal.community_id, **changes)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    audit.record(
        session,
        community_id=principal.community_id,
        actor=actor,
        action="edit_policy",
        subject="escalation policy",
        before={k: before[k] for k in changes},
        after={k: after.as_dict()[k] for k in changes},
    )
    await session.commit()
    return PolicyOut(**after.as_dict())


# -- import and export -----------------------------------------------------------------------


async def _community_name(session: Session, community_id: int) -> str:
    name = await session.scalar(select(Community.name).where(Community.id == community_id))
    if name is None:
        raise NotFound("your community is no longer registered")
    return name


@api.post(
    "/import",
    response_model=ImportOut,
    responses={422: {"model": ImportRefused}, 413: {"model": ImportRefused}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_register(
    request: Request, principal: CurrentPrincipal, session: Session
) -> ImportOut | JSONResponse:
    """Import a CSV register (UTF-8, the columns of docs/register.md) into your community: all
    rows are checked first, and nothing is written when any is bad."""
    actor = _admin(principal)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_UPLOAD:
            sentence = f"the file is larger than {MAX_UPLOAD // 1024 // 1024} MiB; split it"
            return JSONResponse({"detail": sentence, "errors": []}, status_code=413)
    name = await _community_name(session, principal.community_id)
    try:
        report = await importer.import_csv(session, source=bytes(data), community=name)
    except importer.Unreadable as exc:
        return JSONResponse({"detail": str(exc), "errors": []}, status_code=422)
    except importer.ImportFailed as exc:
        await session.rollback()
        errors = [{"row": e.row, "reason": e.reason} for e in exc.errors]
        return JSONResponse({"detail": str(exc), "errors": errors}, status_code=422)
    out = ImportOut(
        households=report.households,
        residents=report.residents,
        staff=report.staff,
        groups=report.groups,
        notes=list(report.small_groups),
    )
    audit.record(
        session,
        community_id=principal.community_id,
        actor=actor,
        action="import",
        subject="register",
        after=out.model_dump(),
        note="; ".join(report.small_groups) or None,
    )
    await session.commit()
    return out


@api.get(
    "/export.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_register(principal: CurrentPrincipal, session: Session) -> Response:
    """The register as CSV in the import's format (full phones: recorded in the audit log)."""
    actor = _admin(principal)
    text = await importer.export_csv(session, community_id=principal.community_id)
    audit.record(
        session,
        community_id=principal.community_id,
        actor=actor,
        action="export",
        subject="register",
        note="full phone numbers",
    )
    await session.commit()
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="register.csv"'},
    )


# -- the audit log ---------------------------------------------------------------------------


def _period(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    start = datetime.combine(since, time.min).astimezone() if since else None
    end = datetime.combine(until + timedelta(days=1), time.min).astimezone() if until else None
    return start, end


AuditSince = Annotated[date | None, Query(description="From this day (inclusive).")]
AuditUntil = Annotated[date | None, Query(description="To this day (inclusive).")]
AuditSubject = Annotated[str | None, Query(max_length=100, description="Part of the subject.")]


@api.get("/audit", response_model=AuditPage)
async def read_audit(
    principal: CurrentPrincipal,
    session: Session,
    since: AuditSince = None,
    until: AuditUntil = None,
    subject: AuditSubject = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AuditPage:
    """The audit log of the register, newest first."""
    _admin(principal)
    if since and until and until < since:
        raise Invalid("until is before since")
    start, end = _period(since, until)
    page = await audit.search(
        session,
        community_id=principal.community_id,
        since=start,
        until=end,
        subject=subject,
        limit=limit,
        offset=offset,
    )
    return AuditPage(
        entries=[
            AuditOut(
                id=e.id,
                at=e.at,
                actor=e.actor,
                actor_kind=e.actor_kind,
                actor_id=e.actor_id,
                action=e.action,
                subject=e.subject,
                before=e.before,
                after=e.after,
                note=e.note,
            )
            for e in page.entries
        ],
        total=page.total,
    )


@api.get(
    "/audit.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_audit(
    principal: CurrentPrincipal,
    session: Session,
    since: AuditSince = None,
    until: AuditUntil = None,
    subject: AuditSubject = None,
) -> Response:
    """The audit log as CSV (the same filters, every matching entry up to 100,000)."""
    _admin(principal)
    if since and until and until < since:
        raise Invalid("until is before since")
    start, end = _period(since, until)
    page = await audit.search(
        session,
        community_id=principal.community_id,
        since=start,
        until=end,
        subject=subject,
        limit=100_000,
    )
    return Response(
        "\ufeff" + audit.to_csv(page.entries),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


# -- consent and language, for every principal -----------------------------------------------


async def _person(session: Session, principal: Principal) -> tuple[Resident | Staff, str]:
    if principal.kind == "staff":
        staff = await session.get(Staff, principal.staff_id or 0)
        if staff is None:
            raise NotFound("you are no longer registered")
        return staff, staff.language
    resident = await session.get(Resident, principal.resident_id or 0)
    if resident is None:
        raise NotFound("you are no longer registered")
    await session.refresh(resident, ["household"])
    return resident, resident.household.language


@me.get("/consent", response_model=ConsentOut)
async def get_consent(principal: CurrentPrincipal, session: Session) -> ConsentOut:
    """What TenWatch keeps about you and who sees it, in your language; and whether you
    consented."""
    person, language = await _person(session, principal)
    n = consent.notice(person, language=language)
    return ConsentOut(**n.__dict__)


@me.post("/consent", response_model=ConsentOut)
async def give_consent(principal: CurrentPrincipal, session: Session, now: Now) -> ConsentOut:
    """Record that you read the notice and consent (recorded in the audit log)."""
    person, language = await _person(session, principal)
    consent.consent(
        session,
        person=person,
        community_id=principal.community_id,
        actor=actor_of(principal),
        language=language,
        at=now,
    )
    await session.commit()
    return ConsentOut(**consent.notice(person, language=language).__dict__)


@me.get("/language", response_model=LanguageOut)
async def get_language(principal: CurrentPrincipal, session: Session) -> LanguageOut:
    """The language the pages and your texts use (your household's, or yours as staff)."""
    _, language = await _person(session, principal)
    return LanguageOut(language="en" if language == "en" else "zh")


@me.put("/language", response_model=LanguageOut)
async def set_language(
    body: LanguageIn, principal: CurrentPrincipal, session: Session
) -> LanguageOut:
    """Choose your language (a resident's is the household's: texts to it use it)."""
    person, _ = await _person(session, principal)
    if isinstance(person, Staff):
        person.language = body.language
    else:
        person.household.language = body.language
    await session.commit()
    return LanguageOut(language=body.language)


# -- the page and its modules ----------------------------------------------------------------

_MODULE = re.compile(r"^[a-z][a-z0-9_-]{0,40}\.(js|css)$")
_TYPES = {"js": "text/javascript", "css": "text/css"}


@pages.get("/register")
async def register_page() -> FileResponse:
    """The register page (登记造册)."""
    return FileResponse(STATIC / "register.html", headers={"Cache-Control": "no-cache"})


@pages.get("/static/js/{name}")
async def module(name: str) -> FileResponse:
    """A page's ES module (or style sheet) from static/js/."""
    match = _MODULE.fullmatch(name)
    path = STATIC / "js" / name
    if match is None or not path.is_file():
        raise NotFound(f"no module {name[:50]}")
    media = _TYPES[match[1]]
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache"})


router = APIRouter()  # what app.py includes: the register's API, /api/me/…, and the page
router.include_router(api)
router.include_router(me)
router.include_router(pages)
