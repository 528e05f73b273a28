"""What leaders and admins do: drills, household PINs, the escalation policy, the duty roster,
reports."""

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from groups import audit, duty, pins, register
from groups.models import Household, Staff
from server import accounts
from server.accounts import Principal
from server.alarms import policy, press, reports, store, views
from server.alarms.models import AlertType
from server.errors import Forbidden, Invalid, NotFound, TooMany
from server.web.deps import CurrentPrincipal, Now, Session
from server.web.routes.register.access import actor_of
from server.web.schemas import Step

router = APIRouter(prefix="/api", tags=["admin"])


def _staff(principal: Principal, *roles: str) -> None:
    if principal.kind != "staff" or (roles and principal.role not in roles):
        if not roles:
            raise Forbidden("this needs a staff credential")
        raise Forbidden("this needs a staff credential ({roles})", roles=", ".join(roles))


class DrillRequest(BaseModel):
    """A labelled drill for one household's group."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=100)
    type: AlertType = AlertType.HELP
    household: str | None = Field(
        None, max_length=40, description="Admins name the household; a group leader drills its own."
    )


@router.post("/drills", status_code=201, response_model=Step)
async def start_drill(
    body: DrillRequest,
    principal: CurrentPrincipal,
    session: Session,
    now: Now,
) -> Step:
    """Start a drill: every channel says DRILL, and it never reaches the police office."""
    target = None
    if principal.kind == "staff" and body.household is not None:
        household_id = await session.scalar(
            select(Household.id).where(
                Household.community_id == principal.community_id,
                Household.address == body.household,
            )
        )
        target = await accounts.for_household(session, household_id=household_id or 0)
        if target is None:
            raise NotFound(
                "no household {household} with a resident in your community",
                household=body.household,
            )
    change = await press.start_drill(
        session,
        principal=principal,
        label=body.label,
        alert_type=body.type,
        now=now,
        household=target,
    )
    await session.commit()
    return Step.of(change, await views.one(session, principal=principal, alert_id=change.alert.id))


class PinChange(BaseModel):
    """A household's cancel PIN and duress PIN (4 to 8 digits, different)."""

    model_config = ConfigDict(extra="forbid")

    pin: str = Field(pattern=r"^[0-9]{4,8}$")
    duress_pin: str = Field(pattern=r"^[0-9]{4,8}$")
    current: str | None = Field(None, description="The PIN now set, if there is one.")

    @model_validator(mode="after")
    def _differ(self) -> "PinChange":
        if self.pin == self.duress_pin:
            raise ValueError("the duress PIN must differ from the cancel PIN")
        return self


@router.put("/household/pin", status_code=204, responses={429: {"description": "Locked out"}})
async def set_pin(body: PinChange, principal: CurrentPrincipal, session: Session, now: Now) -> None:
    """Set your household's cancel PIN and duress PIN (give the current PIN to change them).
    After 5 wrong current PINs in a row changes are locked out for a minute, then twice as long
    after each 5 more (429, with when to try again); staff see it at /api/household/pin-lockouts."""
    if principal.kind != "resident" or principal.household_id is None:
        raise Forbidden("only a resident sets the household's PINs")
    # The try is counted and committed before any hashing, so no connection is held while
    # PBKDF2 runs (on SQLite the writer is every press's), and a lockout stops the hashing.
    try:
        household = await pins.try_change(session, household_id=principal.household_id, now=now)
    except pins.LockedOut as out:
        raise _locked_out(out.until, now=now) from None
    stored, failures = household.pin_hash, household.pin_failures
    until = pins.locked_until(household, now=now)
    await session.commit()
    if stored is not None and not (
        body.current is not None and await pins.check_to_change(body.current, stored)
    ):
        if until is not None:
            raise _locked_out(until, now=now)
        left = pins.TRIES - failures % pins.TRIES
        raise Forbidden(
            "give the current PIN to change it ({left} tries before a lockout)", left=left
        )
    pin_hash, duress_pin_hash = await pins.hash_pins(body.pin, body.duress_pin)
    await pins.changed(
        session,
        household_id=principal.household_id,
        pin_hash=pin_hash,
        duress_pin_hash=duress_pin_hash,
    )
    await session.commit()


def _locked_out(until: datetime, *, now: datetime) -> TooMany:
    seconds = max(1, math.ceil((until - now).total_seconds()))
    return TooMany(
        "too many wrong PINs: the PINs can't be changed for {seconds} s; try again after "
        "{until:%Y-%m-%d %H:%M:%S} UTC",
        retry_after=seconds,
        seconds=seconds,
        until=until.astimezone(UTC),
    )


class PinLockout(BaseModel):
    """A household whose PIN changes are locked out now, after wrong current PINs."""

    household: str = Field(description="The address, like B11-1-301.")
    failures: int = Field(description="Wrong current PINs in a row.")
    locked_until: datetime


@router.get("/household/pin-lockouts", response_model=list[PinLockout])
async def pin_lockouts(principal: CurrentPrincipal, session: Session, now: Now) -> list[PinLockout]:
    """The community's households locked out of changing their PINs now (staff): someone may be
    guessing a household's PIN."""
    _staff(principal)
    found = await session.execute(
        select(Household.address, Household.pin_failures, Household.pin_locked_until)
        .where(
            Household.community_id == principal.community_id,
            Household.pin_locked_until > now,
        )
        .order_by(Household.address)
    )
    return [PinLockout(household=a, failures=f, locked_until=u) for a, f, u in found]


class PolicyOut(BaseModel):
    """A community's escalation policy (seconds)."""

    quorum: int = Field(description="K: neighbours who must say 'coming' within quorum_seconds.")
    quorum_seconds: int = Field(description="T1: after it, the alarm widens to the building.")
    patrol_seconds: int = Field(description="T2: untaken by then, patrol and police are alerted.")
    repeat_seconds: int = Field(description="Then again every repeat_seconds until taken.")
    max_cycles: int = Field(description="At most this many patrol rounds.")
    cancel_seconds: int = Field(description="How long the raiser can cancel with the PIN.")
    confirm_seconds: int = Field(description="A second household within it confirms the alarm.")


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


@router.get("/policy", response_model=PolicyOut)
async def get_policy(principal: CurrentPrincipal, session: Session) -> PolicyOut:
    """The community's escalation policy."""
    _staff(principal)
    return PolicyOut(**(await policy.get(session, community_id=principal.community_id)).as_dict())


@router.put("/policy", response_model=PolicyOut)
async def update_policy(
    body: PolicyChange, principal: CurrentPrincipal, session: Session
) -> PolicyOut:
    """Change the community's escalation policy (admins; recorded in the audit log)."""
    _staff(principal, "admin")
    before = (await policy.get(session, community_id=principal.community_id)).as_dict()
    changes = body.model_dump(exclude_none=True)
    try:
        changed = await policy.update(session, community_id=principal.community_id, **changes)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    after = changed.as_dict()
    audit.record(
        session,
        community_id=principal.community_id,
        actor=actor_of(principal),
        action="edit_policy",
        subject="escalation policy",
        before={k: before[k] for k in changes},
        after={k: after[k] for k in changes},
    )
    await session.commit()
    return PolicyOut(**after)


class OnDuty(BaseModel):
    """A patrol member on duty now."""

    name: str
    role: str
    grid_id: int | None


@router.get("/duty", response_model=list[OnDuty])
async def on_duty(principal: CurrentPrincipal, session: Session, now: Now) -> list[OnDuty]:
    """The patrol members on duty now."""
    _staff(principal)
    community = await store.lock(session, principal.community_id)
    members = await duty.on_duty(
        session, community_id=principal.community_id, at=now, timezone=community.timezone
    )
    return [OnDuty(name=m.name, role=m.role, grid_id=m.grid_id) for m in members]


class ShiftIn(BaseModel):
    """A weekly shift of a patrol member, in the community's local time."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=20, description="The staff member's phone, E.164.")
    days: str = Field(max_length=40, description="mon, mon-fri, sat,sun or daily.")
    starts: str = Field(description="Local time, like 08:00.")
    ends: str = Field(description="Local time; at or before starts means it ends the next day.")


class OverrideIn(BaseModel):
    """A one-off change to the roster."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=20)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    on_duty: bool = True


async def _roster_staff(session: Session, principal: Principal, phone: str) -> Staff:
    _staff(principal, "admin", "patrol_leader")
    try:
        return await duty.find_staff(session, community_id=principal.community_id, phone=phone)
    except LookupError as exc:
        raise NotFound(str(exc)) from exc


@router.post("/duty/shifts", status_code=201)
async def add_shift(body: ShiftIn, principal: CurrentPrincipal, session: Session) -> dict[str, int]:
    """Put a patrol member on a weekly shift (admins and patrol leaders; audited)."""
    member = await _roster_staff(session, principal, body.phone)
    try:
        days = duty.parse_days(body.days)
        await register.add_shift(
            session,
            community_id=principal.community_id,
            actor=actor_of(principal),
            staff_id=member.id,
            days=body.days,
            starts=body.starts,
            ends=body.ends,
        )
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    await session.commit()
    return {"shifts": len(days)}


@router.post("/duty/overrides", status_code=201)
async def add_override(
    body: OverrideIn, principal: CurrentPrincipal, session: Session
) -> dict[str, int]:
    """Put a patrol member on (or off) duty for a while, whatever the weekly roster says
    (audited)."""
    member = await _roster_staff(session, principal, body.phone)
    try:
        done = await register.add_override(
            session,
            community_id=principal.community_id,
            actor=actor_of(principal),
            staff_id=member.id,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            on_duty=body.on_duty,
        )
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    await session.commit()
    assert done.id is not None
    return {"id": done.id}


@router.get("/reports")
async def report(
    principal: CurrentPrincipal,
    session: Session,
    now: Now,
    days: int = Query(30, ge=1, le=366, description="The period: this many days up to now."),
) -> dict[str, Any]:
    """How the community's alarms went: real alarms and drills counted apart."""
    _staff(principal)
    return await reports.summary(
        session,
        community_id=principal.community_id,
        since=now - timedelta(days=days),
        until=now + timedelta(seconds=1),
    )
