"""The register's staff and the community's alarm numbers."""

from fastapi import APIRouter

from groups import register
from groups.directory import list_alarm_numbers
from server.errors import Invalid
from server.web.deps import CurrentPrincipal, Session
from server.web.routes.register.access import admin, changed, refusing
from server.web.routes.register.schemas import (
    AlarmNumberIn,
    AlarmNumberOut,
    Changed,
    Id,
    StaffEdit,
    StaffIn,
    StaffOut,
)

router = APIRouter(prefix="/api/register", tags=["register"])


# -- staff -----------------------------------------------------------------------------------


@router.get("/staff", response_model=list[StaffOut])
async def list_staff(principal: CurrentPrincipal, session: Session) -> list[StaffOut]:
    """The community's staff."""
    admin(principal)
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


@router.post("/staff", status_code=201, response_model=Changed)
async def add_staff(body: StaffIn, principal: CurrentPrincipal, session: Session) -> Changed:
    """Register a member of staff."""
    actor = admin(principal)
    try:
        done = await register.add_staff(
            session, community_id=principal.community_id, actor=actor, **body.model_dump()
        )
    except (ValueError, LookupError) as exc:
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)


@router.patch("/staff/{staff_id}", response_model=Changed)
async def edit_staff(
    staff_id: Id, body: StaffEdit, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Change a staff member's name, phone, role, grid or language."""
    actor = admin(principal)
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
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)


@router.delete("/staff/{staff_id}", response_model=Changed)
async def remove_staff(staff_id: Id, principal: CurrentPrincipal, session: Session) -> Changed:
    """Take a member of staff off the register."""
    actor = admin(principal)
    try:
        done = await register.remove_staff(
            session, community_id=principal.community_id, actor=actor, staff_id=staff_id
        )
    except (ValueError, LookupError) as exc:
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)


# -- alarm numbers ---------------------------------------------------------------------------


@router.get("/alarm-numbers", response_model=list[AlarmNumberOut])
async def list_numbers(principal: CurrentPrincipal, session: Session) -> list[AlarmNumberOut]:
    """The numbers people call or text for help."""
    admin(principal)
    return [
        AlarmNumberOut(id=n.id, number=n.number, group_id=n.group_id, group=name)
        for n, name in await list_alarm_numbers(session, community_id=principal.community_id)
    ]


@router.post("/alarm-numbers", status_code=201, response_model=Changed)
async def add_number(body: AlarmNumberIn, principal: CurrentPrincipal, session: Session) -> Changed:
    """Register a number for a group's alarms (or, without a group, the community's)."""
    actor = admin(principal)
    try:
        done = await register.add_alarm_number(
            session,
            community_id=principal.community_id,
            actor=actor,
            number=body.number,
            group_id=body.group_id,
        )
    except (ValueError, LookupError) as exc:
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)


@router.delete("/alarm-numbers/{number_id}", response_model=Changed)
async def remove_number(number_id: Id, principal: CurrentPrincipal, session: Session) -> Changed:
    """Stop a number raising alarms."""
    actor = admin(principal)
    try:
        done = await register.remove_alarm_number(
            session, community_id=principal.community_id, actor=actor, number_id=number_id
        )
    except (ValueError, LookupError) as exc:
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)
