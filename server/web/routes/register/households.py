"""The register's households, their residents and the groups of ten (组) they make up."""

from typing import Annotated

from fastapi import APIRouter, Query

from groups import audit, register
from groups.directory import NewResident
from server.errors import Forbidden, Invalid, NotFound
from server.web.deps import CurrentPrincipal, Session
from server.web.routes.register.access import actor_of, admin, changed, reader, refusing
from server.web.routes.register.schemas import (
    Changed,
    GroupMove,
    GroupOut,
    HouseholdEdit,
    HouseholdOut,
    HouseholdPage,
    Id,
    LeaderChoice,
    MoveIn,
    ResidentEdit,
    ResidentIn,
    ResidentOut,
)

router = APIRouter(prefix="/api/register", tags=["register"])


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


@router.get("/households", response_model=HouseholdPage)
async def list_households(
    principal: CurrentPrincipal,
    session: Session,
    q: Annotated[str | None, Query(max_length=100, description="Address, name or phone.")] = None,
    group_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HouseholdPage:
    """Search the register's households (phones masked; open one to see them in full)."""
    scope = reader(principal)
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


@router.get("/households/{household_id}", response_model=HouseholdOut)
async def get_household(
    household_id: Id, principal: CurrentPrincipal, session: Session
) -> HouseholdOut:
    """One household: for the admin with full phones and responder context (the look is
    recorded in the audit log); for a group leader, one of their group, masked."""
    scope = reader(principal)
    try:
        found = await register.entry(
            session, community_id=principal.community_id, household_id=household_id
        )
    except LookupError as exc:
        raise refusing(exc) from exc
    if scope is not None:
        if found.household.group_id != scope:
            raise NotFound("no household {household_id} in your group", household_id=household_id)
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


@router.post("/households", status_code=201, response_model=Changed)
async def move_in(body: MoveIn, principal: CurrentPrincipal, session: Session) -> Changed:
    """A household moves in: register it with its residents and group it with its neighbours."""
    actor = admin(principal)
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
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)


@router.patch("/households/{household_id}", response_model=Changed)
async def edit_household(
    household_id: Id, body: HouseholdEdit, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Change a household's language, grid or responder context."""
    actor = admin(principal)
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
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)


@router.delete("/households/{household_id}", response_model=Changed)
async def move_out(household_id: Id, principal: CurrentPrincipal, session: Session) -> Changed:
    """A household moves out: remove it and its residents; its group says if it is now small."""
    actor = admin(principal)
    try:
        done = await register.move_out(
            session, community_id=principal.community_id, actor=actor, household_id=household_id
        )
    except (ValueError, LookupError) as exc:
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)


@router.post("/households/{household_id}/group", response_model=Changed)
async def move_to_group(
    household_id: Id, body: GroupMove, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Move a household into another group."""
    actor = admin(principal)
    try:
        done = await register.move_to_group(
            session,
            community_id=principal.community_id,
            actor=actor,
            household_id=household_id,
            group_id=body.group_id,
        )
    except (ValueError, LookupError) as exc:
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)


@router.post("/households/{household_id}/residents", status_code=201, response_model=Changed)
async def add_resident(
    household_id: Id, body: ResidentIn, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Register one more person in a household."""
    actor = admin(principal)
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
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)


@router.patch("/residents/{resident_id}", response_model=Changed)
async def edit_resident(
    resident_id: Id, body: ResidentEdit, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Change a resident's name, phone or roles."""
    actor = admin(principal)
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
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)


@router.delete("/residents/{resident_id}", response_model=Changed)
async def remove_resident(
    resident_id: Id, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Take a person off their household."""
    actor = admin(principal)
    try:
        done = await register.remove_resident(
            session, community_id=principal.community_id, actor=actor, resident_id=resident_id
        )
    except (ValueError, LookupError) as exc:
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)


# -- groups ----------------------------------------------------------------------------------


@router.get("/groups", response_model=list[GroupOut])
async def list_groups(principal: CurrentPrincipal, session: Session) -> list[GroupOut]:
    """The community's groups (a group leader: their own), with sizes and leaders."""
    scope = reader(principal)
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


@router.put("/groups/{group_id}/leader", response_model=Changed)
async def choose_leader(
    group_id: Id, body: LeaderChoice, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Choose the group's leader household (十户长)."""
    actor = admin(principal)
    try:
        done = await register.choose_leader(
            session,
            community_id=principal.community_id,
            actor=actor,
            group_id=group_id,
            household_id=body.household_id,
        )
    except (ValueError, LookupError) as exc:
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)
