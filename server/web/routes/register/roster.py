"""The register's duty roster: shifts and overrides (the policy is `/api/policy`, admin.py)."""

from fastapi import APIRouter

from groups import duty, register
from server.web.deps import CurrentPrincipal, Session
from server.web.routes.register.access import admin, changed, refusing
from server.web.routes.register.schemas import (
    Changed,
    Id,
    OverrideOut,
    RosterOut,
    RosterOverrideIn,
    RosterShiftIn,
    ShiftOut,
)

router = APIRouter(prefix="/api/register", tags=["register"])


# -- the duty roster -------------------------------------------------------------------------


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@router.get("/roster", response_model=RosterOut)
async def get_roster(principal: CurrentPrincipal, session: Session) -> RosterOut:
    """Every weekly shift and one-off override."""
    admin(principal)
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


@router.post("/roster/shifts", status_code=201, response_model=Changed)
async def add_shift(body: RosterShiftIn, principal: CurrentPrincipal, session: Session) -> Changed:
    """Put a staff member on a weekly shift."""
    actor = admin(principal)
    try:
        done = await register.add_shift(
            session, community_id=principal.community_id, actor=actor, **body.model_dump()
        )
    except (ValueError, LookupError) as exc:
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)


@router.post("/roster/overrides", status_code=201, response_model=Changed)
async def add_override(
    body: RosterOverrideIn, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Put a staff member on (or off) duty for a while."""
    actor = admin(principal)
    try:
        done = await register.add_override(
            session, community_id=principal.community_id, actor=actor, **body.model_dump()
        )
    except (ValueError, LookupError) as exc:
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)


@router.delete("/roster/shifts/{shift_id}", response_model=Changed)
async def delete_shift(shift_id: Id, principal: CurrentPrincipal, session: Session) -> Changed:
    """Take a weekly shift off the roster."""
    actor = admin(principal)
    try:
        done = await register.delete_shift(
            session, community_id=principal.community_id, actor=actor, shift_id=shift_id
        )
    except (ValueError, LookupError) as exc:
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)


@router.delete("/roster/overrides/{override_id}", response_model=Changed)
async def delete_override(
    override_id: Id, principal: CurrentPrincipal, session: Session
) -> Changed:
    """Take an override off the roster."""
    actor = admin(principal)
    try:
        done = await register.delete_override(
            session, community_id=principal.community_id, actor=actor, override_id=override_id
        )
    except (ValueError, LookupError) as exc:
        raise refusing(exc) from exc
    await session.commit()
    return changed(done)
