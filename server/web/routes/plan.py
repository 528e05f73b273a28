"""The plan page (/plan) and its API: the community as buildings → units → floors → rooms,
each household lit (alarm, coming, unreachable, away); who can't be reached; and the routine
button test of a household's channels (server/reach)."""

import dataclasses
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from groups import audit, hardware
from groups.models import Household
from server.accounts import Principal
from server.alarms.buttons import thresholds
from server.errors import Forbidden, NotFound
from server.reach import plan, routine
from server.reach.plan import Place
from server.reach.reachability import Reach
from server.reach.routine import TestView
from server.web.deps import CurrentPrincipal, Now, Reads, Session
from server.web.routes.pages import STATIC
from server.web.schemas import MAX_ID

page = APIRouter(include_in_schema=False)
router = APIRouter(prefix="/api", tags=["plan"])

HouseholdId = Annotated[int, Path(ge=1, le=MAX_ID, description="The household's id.")]


@page.get("/plan")
async def plan_page() -> FileResponse:
    """The plan of the community for staff (signed in: the session cookie)."""
    return FileResponse(STATIC / "plan.html", headers={"Cache-Control": "no-cache"})


class CheckOut(BaseModel):
    """One channel's check of a test."""

    channel: str = Field(description="app, push or sms.")
    target: str | None = Field(description="The device, or the phone (masked).")
    result: str = Field(description="pending, ok, failed or none (no such channel).")
    reason: str | None


class TestOut(BaseModel):
    """A routine button test and what each channel answered."""

    id: int
    household_id: int
    started_at: datetime
    started_by: str
    summary: dict[str, str] = Field(description="Per channel: ok, pending, failed or none.")
    checks: list[CheckOut]

    @classmethod
    def of(cls, view: TestView) -> "TestOut":
        """The API form of a test."""
        return cls(
            id=view.id,
            household_id=view.household_id,
            started_at=view.started_at,
            started_by=view.started_by,
            summary=view.summary,
            checks=[
                CheckOut(channel=c.channel, target=c.target, result=c.result, reason=c.reason)
                for c in view.checks
            ],
        )


class LastTextOut(BaseModel):
    """The newest text to the household."""

    at: datetime
    status: str
    error: str | None
    failed: bool


class ReachOut(BaseModel):
    """Which channels reach a household now."""

    household_id: int
    address: str
    group: str | None
    connected: bool = Field(description="An app socket of a resident is open now.")
    sockets: int
    push_devices: int = Field(description="Signed-in devices subscribed to push.")
    push_failing: int = Field(description="Of those, the ones whose pushes fail.")
    phones: int = Field(description="Residents with a phone.")
    last_text: LastTextOut | None
    last_test: dict[str, str] | None = Field(description="The latest test's summary.")
    last_test_at: datetime | None
    reachable: bool = Field(description="Some channel works.")
    why_not: list[str] = Field(description="The channels that don't work.")

    @classmethod
    def of(cls, place: Place, reach: Reach) -> "ReachOut":
        """The API form of a household's reach."""
        text = reach.last_text
        return cls(
            household_id=place.id,
            address=place.address,
            group=place.group,
            connected=reach.connected,
            sockets=reach.sockets,
            push_devices=reach.push_devices,
            push_failing=reach.push_failing,
            phones=reach.phones,
            last_text=LastTextOut(
                at=text.at, status=text.status, error=text.error, failed=text.failed
            )
            if text is not None
            else None,
            last_test=reach.last_test.summary if reach.last_test is not None else None,
            last_test_at=reach.last_test.started_at if reach.last_test is not None else None,
            reachable=reach.reachable,
            why_not=reach.why_not(),
        )


class PlaceOut(BaseModel):
    """A household on the plan."""

    id: int
    address: str = Field(description="Like B11-1-301.")
    building: str
    unit: int
    floor: int
    room: int
    group: str | None
    states: list[str] = Field(description="Of alarm, coming, unreachable, away.")
    alert_id: int | None = Field(description="The open alarm that lights it.")
    away_until: date | None

    @classmethod
    def of(cls, place: Place) -> "PlaceOut":
        """The API form of a place."""
        return cls(
            id=place.id,
            address=place.address,
            building=place.building,
            unit=place.unit,
            floor=place.floor,
            room=place.room,
            group=place.group,
            states=place.states,
            alert_id=place.alert_id,
            away_until=place.away_until,
        )


class ButtonOut(BaseModel):
    """A panic button that has gone quiet or runs low: a household that may not be able to
    call when it matters."""

    household_id: int | None
    address: str | None
    name: str
    label: str | None
    state: str = Field(description="quiet (not heard for long, or offline) or low (battery).")
    last_seen_at: datetime | None
    battery: int | None


class PlanOut(BaseModel):
    """The plan of your scope."""

    grid_id: int | None = Field(description="Your grid, when you see one only.")
    building: str | None = Field(description="Your building, when you see one only.")
    households: list[PlaceOut]
    counts: dict[str, int] = Field(description="Households per state, and in all.")
    unreachable: list[ReachOut] = Field(description="The households no channel reaches.")
    buttons: list[ButtonOut] = Field(description="Its panic buttons that are quiet or low.")


@router.get("/community/plan", response_model=PlanOut)
async def community_plan(
    request: Request, principal: CurrentPrincipal, reads: Reads, now: Now
) -> PlanOut:
    """Every household of your scope (a grid manager: their grid; a building leader: their
    building), in address order, lit: alarm, coming, unreachable, away; and the list of those
    that can't be reached."""
    scope = plan.scope_of(principal)
    found = await plan.places(reads, scope=scope, now=now)
    counts = {state: sum(state in p.states for p in found) for state in plan.STATES}
    counts["households"] = len(found)
    quiet_after, low_below = thresholds(request.state.settings)
    shown = {p.id for p in found}
    troubled = [
        ButtonOut(**dataclasses.asdict(b))
        for b in await hardware.reachability(
            reads,
            community_id=principal.community_id,
            now=now,
            quiet_after=quiet_after,
            low_below=low_below,
        )
        if b.state != "ok" and b.household_id in shown
    ]
    counts["buttons"] = len(troubled)
    return PlanOut(
        grid_id=scope.grid_id,
        building=scope.building,
        households=[PlaceOut.of(p) for p in found],
        counts=counts,
        unreachable=[
            ReachOut.of(p, p.reach) for p in found if p.reach is not None and not p.reach.reachable
        ],
        buttons=troubled,
    )


@router.get("/community/reachability", response_model=list[ReachOut])
async def community_reachability(
    principal: CurrentPrincipal,
    reads: Reads,
    now: Now,
    unreachable: Annotated[
        bool, Query(description="Only the households that can't be reached (no channel works).")
    ] = False,
) -> list[ReachOut]:
    """Per household of your scope: app connected now, push subscribed, the last text's
    receipt, phones, the latest routine test."""
    found = await plan.places(reads, scope=plan.scope_of(principal), now=now)
    return [
        ReachOut.of(p, p.reach)
        for p in found
        if p.reach is not None and not (unreachable and p.reach.reachable)
    ]


class ResidentOut(BaseModel):
    """A resident on the card (the phone masked)."""

    name: str
    phone: str | None
    roles: list[str]


class CardOut(BaseModel):
    """One household's card on the plan."""

    household: PlaceOut
    grid: str | None
    residents: list[ResidentOut]
    floor: int
    away_until: date | None
    spare_key_holder: str | None = Field(
        description="Responder context: the admin's always, other staff's on an open alarm."
    )
    care_note: str | None = Field(description="A mobility or medical note (as above).")
    context_shown: bool
    context_withheld: bool = Field(
        description="It has a responder context you may not read now (no open alarm)."
    )
    reach: ReachOut | None
    tests: list[TestOut]


@router.get("/community/households/{household_id}", response_model=CardOut)
async def household_card(
    household_id: HouseholdId, principal: CurrentPrincipal, session: Session, now: Now
) -> CardOut:
    """A household's card: address, group, residents, responder context (each look is in the
    audit log), reachability and its latest tests."""
    found = await plan.card(session, principal=principal, household_id=household_id, now=now)
    await session.commit()  # the audit log's record of who looked
    place = found.place
    return CardOut(
        household=PlaceOut.of(place),
        grid=found.grid,
        residents=[ResidentOut(name=r.name, phone=r.phone, roles=r.roles) for r in found.residents],
        floor=place.floor,
        away_until=place.away_until,
        spare_key_holder=found.spare_key_holder,
        care_note=found.care_note,
        context_shown=found.context_shown,
        context_withheld=found.context_withheld,
        reach=ReachOut.of(place, place.reach) if place.reach is not None else None,
        tests=[TestOut.of(t) for t in found.tests],
    )


def _by(principal: Principal) -> str:
    if principal.kind == "staff":
        return f"staff:{principal.staff_id}"
    return f"resident:{principal.resident_id}"


@router.post("/me/test", status_code=201, response_model=TestOut)
async def test_mine(principal: CurrentPrincipal, session: Session, now: Now) -> TestOut:
    """Test every channel of your household (app, push, texts) without alarming anyone: no
    alarm, nothing to neighbours or boards. Read the results with GET …/tests."""
    if principal.household_id is None:
        raise Forbidden("only a resident tests their household")
    home = await routine.household(
        session, community_id=principal.community_id, household_id=principal.household_id
    )
    return await _start(session, home=home, principal=principal, now=now)


@router.post("/households/{household_id}/test", status_code=201, response_model=TestOut)
async def test_household(
    household_id: HouseholdId, principal: CurrentPrincipal, session: Session, now: Now
) -> TestOut:
    """Test every channel of a household of your community (the admin)."""
    home = await routine.household(
        session, community_id=principal.community_id, household_id=household_id
    )
    return await _start(session, home=home, principal=principal, now=now)


async def _start(
    session: Session, *, home: Household, principal: Principal, now: datetime
) -> TestOut:
    staff = (
        audit.Actor(name=principal.name, kind="staff", id=principal.staff_id)
        if principal.kind == "staff"
        else None
    )
    test = await routine.start(session, home=home, by=_by(principal), now=now, staff=staff)
    test_id = test.id
    await session.commit()  # sends the app check to every process, wakes the outbox
    views = await routine.of_household(session, household_id=home.id, now=now, limit=1)
    view = next(v for v in views if v.id == test_id)
    return TestOut.of(view)


@router.get("/households/{household_id}/tests", response_model=list[TestOut])
async def household_tests(
    household_id: HouseholdId, principal: CurrentPrincipal, reads: Reads, now: Now
) -> list[TestOut]:
    """A household's routine tests, newest first, each channel's result as it stands now: your
    own household's, or one of your scope's (staff, a building leader)."""
    home = await routine.household(
        reads, community_id=principal.community_id, household_id=household_id
    )
    if principal.household_id != home.id:
        try:
            scope = plan.scope_of(principal)
        except Forbidden:
            raise NotFound(
                "no household {household_id} in your scope", household_id=household_id
            ) from None
        if (scope.grid_id is not None and home.grid_id != scope.grid_id) or (
            scope.building is not None and home.building != scope.building
        ):
            raise NotFound("no household {household_id} in your scope", household_id=household_id)
    return [TestOut.of(v) for v in await routine.of_household(reads, household_id=home.id, now=now)]
